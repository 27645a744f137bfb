#include "s3/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <ctime>

namespace shale::s3 {
namespace {

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string lower_trim(std::string_view s, bool lower) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  std::string out;
  out.reserve(e - b);
  bool prev_space = false;
  for (size_t i = b; i < e; ++i) {
    char c = s[i];
    if (!lower && (c == ' ' || c == '\t')) {  // values: sequential spaces collapse to one
      if (prev_space) continue;
      prev_space = true;
      out.push_back(' ');
      continue;
    }
    prev_space = false;
    out.push_back(lower ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : c);
  }
  return out;
}

}  // namespace

std::string hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string sha256_hex(const std::vector<std::string_view>& parts) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  for (auto p : parts) EVP_DigestUpdate(ctx, p.data(), p.size());
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, out, &len);
  EVP_MD_CTX_free(ctx);
  return hex(std::string_view(reinterpret_cast<char*>(out), len));
}

std::string sha256_hex(std::string_view data) {
  return sha256_hex(std::vector<std::string_view>{data});
}

std::string md5_base64(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_md5(), nullptr);
  unsigned char b64[64];
  int n = EVP_EncodeBlock(b64, md, static_cast<int>(len));
  return std::string(reinterpret_cast<char*>(b64), static_cast<size_t>(n));
}

std::string uri_encode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3 / 2);
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
        (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string uri_decode(std::string_view s) {
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int h = val(s[i + 1]), l = val(s[i + 2]);
      if (h >= 0 && l >= 0) {
        out.push_back(static_cast<char>(h * 16 + l));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> enc;
  enc.reserve(query.size());
  for (const auto& [k, v] : query) enc.emplace_back(uri_encode(k, false), uri_encode(v, false));
  std::sort(enc.begin(), enc.end());
  std::string out;
  for (const auto& [k, v] : enc) {
    if (!out.empty()) out.push_back('&');
    out += k;
    out.push_back('=');
    out += v;
  }
  return out;
}

std::string canonical_request(const SignRequest& req, std::string* signed_headers) {
  std::vector<std::pair<std::string, std::string>> hs;
  for (const auto& [k, v] : req.headers) hs.emplace_back(lower_trim(k, true), lower_trim(v, false));
  // By name only: repeated headers keep their order of appearance.
  std::stable_sort(hs.begin(), hs.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string canon_headers, names;
  for (size_t i = 0; i < hs.size(); ++i) {
    // Repeated names join their values with commas.
    if (i > 0 && hs[i].first == hs[i - 1].first) {
      canon_headers.pop_back();
      canon_headers += "," + hs[i].second + "\n";
      continue;
    }
    canon_headers += hs[i].first + ":" + hs[i].second + "\n";
    if (!names.empty()) names.push_back(';');
    names += hs[i].first;
  }
  if (signed_headers) *signed_headers = names;
  return req.method + "\n" + req.canonical_uri + "\n" + canonical_query(req.query) + "\n" +
         canon_headers + "\n" + names + "\n" + req.payload_hash;
}

std::string string_to_sign(const std::string& amz_date, const std::string& scope,
                           const std::string& creq) {
  return "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope + "\n" + sha256_hex(creq);
}

std::string authorization(const Credentials& creds, const std::string& region,
                          const std::string& service, const std::string& amz_date,
                          const SignRequest& req) {
  const std::string day = amz_date.substr(0, 8);
  const std::string scope = day + "/" + region + "/" + service + "/aws4_request";
  std::string names;
  const std::string creq = canonical_request(req, &names);
  const std::string sts = string_to_sign(amz_date, scope, creq);
  std::string k = hmac_sha256("AWS4" + creds.secret_key, day);
  k = hmac_sha256(k, region);
  k = hmac_sha256(k, service);
  k = hmac_sha256(k, "aws4_request");
  const std::string sig = hex(hmac_sha256(k, sts));
  return "AWS4-HMAC-SHA256 Credential=" + creds.access_key + "/" + scope +
         ",SignedHeaders=" + names + ",Signature=" + sig;
}

std::string amz_date_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

}  // namespace shale::s3
