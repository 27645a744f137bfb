#include "s3/s3_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>

namespace shale::s3 {
namespace {

std::string trim(std::string s) {
  auto sp = [](unsigned char c) { return std::isspace(c); };
  s.erase(s.begin(), std::find_if_not(s.begin(), s.end(), sp));
  s.erase(std::find_if_not(s.rbegin(), s.rend(), sp).base(), s.end());
  return s;
}

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

template <typename T>
bool parse_num(const std::string& s, T* out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool parse_bool(const std::string& s, bool* out) {
  if (s == "true" || s == "1") return *out = true, true;
  if (s == "false" || s == "0") return *out = false, true;
  return false;
}

}  // namespace

uint32_t RetryPolicy::backoff_ms(int retries_done, std::mt19937_64& rng) const {
  uint64_t ceil = base_ms;
  for (int i = 1; i < retries_done && ceil < cap_ms; ++i) ceil *= 2;
  ceil = std::min<uint64_t>(ceil, cap_ms);
  return static_cast<uint32_t>(std::uniform_int_distribution<uint64_t>(0, ceil)(rng));
}

std::string S3Config::describe() const {
  return fmt::format(
      "s3://{}/{} endpoint={} region={} path_style={} access_key={} secret=<redacted>", bucket,
      prefix, endpoint, region, path_style, creds.access_key.empty() ? "<none>" : creds.access_key);
}

Result<Credentials> read_credentials_file(const std::string& path, const std::string& profile) {
  std::ifstream in(path);
  if (!in) return Error{Errc::kNotFound, "no credentials file " + path};
  Credentials c;
  std::string line, section;
  bool found = false;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = trim(line.substr(1, line.size() - 2));
      if (section.starts_with("profile ")) section = trim(section.substr(8));
      continue;
    }
    if (section != profile) continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string k = trim(line.substr(0, eq)), v = trim(line.substr(eq + 1));
    if (k == "aws_access_key_id") c.access_key = v, found = true;
    if (k == "aws_secret_access_key") c.secret_key = v, found = true;
    if (k == "aws_session_token") c.session_token = v;
  }
  if (!found || c.empty()) return Error{Errc::kNotFound, "no profile '" + profile + "' in " + path};
  return c;
}

Result<S3Config> parse_s3_uri(const std::string& uri, const CredentialSources& sources) {
  constexpr std::string_view kScheme = "s3://";
  if (!uri.starts_with(kScheme)) return Error{Errc::kInvalidArgument, "not an s3:// URI"};
  std::string rest = uri.substr(kScheme.size());
  std::string query;
  if (size_t q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest.resize(q);
  }
  S3Config cfg;
  size_t slash = rest.find('/');
  cfg.bucket = rest.substr(0, slash);
  if (slash != std::string::npos) cfg.prefix = rest.substr(slash + 1);
  if (cfg.bucket.empty()) return Error{Errc::kInvalidArgument, "s3 URI without a bucket"};
  while (!cfg.prefix.empty() && cfg.prefix.front() == '/') cfg.prefix.erase(0, 1);
  if (!cfg.prefix.empty() && cfg.prefix.back() != '/') cfg.prefix.push_back('/');

  bool path_style_set = false;
  std::string profile;
  size_t pos = 0;
  while (pos < query.size()) {
    size_t amp = query.find('&', pos);
    std::string kv = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    pos = amp == std::string::npos ? query.size() : amp + 1;
    if (kv.empty()) continue;
    size_t eq = kv.find('=');
    std::string k = kv.substr(0, eq);
    std::string v = eq == std::string::npos ? "" : uri_decode(kv.substr(eq + 1));
    bool ok = true;
    if (k == "endpoint")
      cfg.endpoint = v;
    else if (k == "region")
      cfg.region = v;
    else if (k == "path_style")
      ok = parse_bool(v, &cfg.path_style), path_style_set = true;
    else if (k == "access_key")
      cfg.creds.access_key = v;
    else if (k == "secret_key")
      cfg.creds.secret_key = v;
    else if (k == "profile")
      profile = v;
    else if (k == "unsigned_payload")
      ok = parse_bool(v, &cfg.unsigned_payload);
    else if (k == "probe")
      ok = parse_bool(v, &cfg.probe);
    else if (k == "max_inflight")
      ok = parse_num(v, &cfg.max_inflight) && cfg.max_inflight > 0;
    else if (k == "max_attempts")
      ok = parse_num(v, &cfg.retry.max_attempts) && cfg.retry.max_attempts > 0;
    else if (k == "timeout_ms")
      ok = parse_num(v, &cfg.request_timeout_ms) && cfg.request_timeout_ms > 0;
    else if (k == "multipart_threshold")
      ok = parse_num(v, &cfg.multipart_threshold);
    else if (k == "part_size")
      ok = parse_num(v, &cfg.part_size) && cfg.part_size >= (5u << 20);
    else
      return Error{Errc::kInvalidArgument, "unknown s3 URI parameter '" + k + "'"};
    if (!ok) return Error{Errc::kInvalidArgument, "bad value for s3 URI parameter '" + k + "'"};
  }
  if (cfg.endpoint.empty()) {
    cfg.endpoint = "https://s3." + cfg.region + ".amazonaws.com";
    if (!path_style_set) cfg.path_style = false;
  }
  if (!cfg.endpoint.starts_with("http://") && !cfg.endpoint.starts_with("https://"))
    return Error{Errc::kInvalidArgument, "s3 endpoint must start with http:// or https://"};
  while (cfg.endpoint.back() == '/') cfg.endpoint.pop_back();

  if (cfg.creds.empty() && !sources.configured.empty()) cfg.creds = sources.configured;
  if (cfg.creds.empty()) {
    if (env("AWS_ACCESS_KEY_ID") && env("AWS_SECRET_ACCESS_KEY")) {
      cfg.creds.access_key = env("AWS_ACCESS_KEY_ID");
      cfg.creds.secret_key = env("AWS_SECRET_ACCESS_KEY");
      if (env("AWS_SESSION_TOKEN")) cfg.creds.session_token = env("AWS_SESSION_TOKEN");
    } else {
      if (profile.empty()) profile = env("AWS_PROFILE") ? env("AWS_PROFILE") : "default";
      std::string file = sources.credentials_file;
      if (file.empty() && env("AWS_SHARED_CREDENTIALS_FILE"))
        file = env("AWS_SHARED_CREDENTIALS_FILE");
      else if (file.empty() && env("HOME"))
        file = std::string(env("HOME")) + "/.aws/credentials";
      auto c = read_credentials_file(file, profile);
      if (!c.ok())
        return Error{Errc::kInvalidArgument,
                     "no S3 credentials (URI, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, " +
                         c.error().message + ")"};
      cfg.creds = std::move(*c);
    }
  }
  return cfg;
}

}  // namespace shale::s3
