#include "etcd/etcd_http.h"

#include <curl/curl.h>

#include <thread>

#include "base/log.h"

namespace shale::etcd {
namespace {

using Clk = std::chrono::steady_clock;

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

size_t append_body(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

Errc grpc_to_errc(int64_t code) {
  switch (code) {
    case 3:
      return Errc::kInvalidArgument;
    case 5:
      return Errc::kNotFound;
    case 9:
      return Errc::kConflict;
    case 11:
      return Errc::kOutOfRange;
    case 4:
    case 14:
      return Errc::kUnavailable;
    default:
      return Errc::kIoError;
  }
}

}  // namespace

Result<std::vector<std::string>> parse_endpoints(const std::string& uri) {
  std::string rest = uri;
  if (rest.rfind("etcd://", 0) == 0) rest = rest.substr(7);
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= rest.size()) {
    size_t comma = rest.find(',', pos);
    if (comma == std::string::npos) comma = rest.size();
    std::string ep = rest.substr(pos, comma - pos);
    if (ep.rfind("http://", 0) == 0) ep = ep.substr(7);
    while (!ep.empty() && ep.back() == '/') ep.pop_back();
    if (ep.empty() || ep.find(':') == std::string::npos) {
      return Error{Errc::kInvalidArgument, fmt::format("etcd uri {}: bad endpoint '{}'", uri, ep)};
    }
    out.push_back("http://" + ep);
    pos = comma + 1;
  }
  if (out.empty()) return Error{Errc::kInvalidArgument, "etcd uri has no endpoint"};
  return out;
}

EtcdHttp::EtcdHttp(std::vector<std::string> endpoints, EtcdOptions opts)
    : bases_(std::move(endpoints)), opts_(opts) {
  static CurlGlobal global;
}

EtcdHttp::~EtcdHttp() {
  for (void* h : pool_) curl_easy_cleanup(static_cast<CURL*>(h));
}

std::string EtcdHttp::current_endpoint() const {
  return bases_[current_.load() % bases_.size()];
}

void EtcdHttp::endpoint_failed(const std::string& base) {
  size_t cur = current_.load();
  if (bases_[cur % bases_.size()] == base) {
    // Only the first caller to notice moves the pointer.
    current_.compare_exchange_strong(cur, cur + 1);
  }
}

void* EtcdHttp::take_handle() {
  {
    std::lock_guard<std::mutex> l(pool_mu_);
    if (!pool_.empty()) {
      void* h = pool_.back();
      pool_.pop_back();
      return h;
    }
  }
  return curl_easy_init();
}

void EtcdHttp::give_handle(void* h) {
  std::lock_guard<std::mutex> l(pool_mu_);
  pool_.push_back(h);
}

Result<Json> EtcdHttp::post(const std::string& path, const Json& body, bool idempotent,
                            bool* maybe_applied) {
  if (maybe_applied != nullptr) *maybe_applied = false;
  const std::string payload = body.dump();
  const Clk::time_point deadline = Clk::now() + opts_.call_timeout;
  CURL* h = static_cast<CURL*>(take_handle());
  if (h == nullptr) return Error{Errc::kInternal, "curl_easy_init failed"};
  struct Give {
    EtcdHttp* self;
    CURL* h;
    ~Give() { self->give_handle(h); }
  } give{this, h};

  Error last{Errc::kUnavailable, "etcd: no attempt made"};
  size_t attempts = 0;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clk::now());
    if (left.count() <= 0) {
      return Error{Errc::kUnavailable,
                   fmt::format("etcd {}: deadline exceeded after {} attempts: {}", path, attempts,
                               last.message)};
    }
    if (attempts > 0 && attempts % bases_.size() == 0) {
      // A whole round of endpoints failed: back off a little before the next round.
      std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(50)));
    }
    ++attempts;
    const std::string base = current_endpoint();
    const std::string url = base + path;
    std::string resp;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    // Each endpoint gets attempt_timeout (a member that lost its leader can hold a request for
    // etcd's own 5 s request timeout): a dead or stuck member costs one attempt, not the call.
    const auto attempt = std::min(left, opts_.attempt_timeout);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(std::max<int64_t>(1, attempt.count())));
    curl_easy_setopt(
        h, CURLOPT_CONNECTTIMEOUT_MS,
        static_cast<long>(std::max<int64_t>(1, std::min(left, opts_.connect_timeout).count())));
    struct curl_slist* hdrs = curl_slist_append(nullptr, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(hdrs);

    if (rc != CURLE_OK) {
      last = Error{Errc::kUnavailable, fmt::format("{}: {}", url, curl_easy_strerror(rc))};
      const bool not_sent = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                            (rc == CURLE_OPERATION_TIMEDOUT && resp.empty() && [&] {
                              // Were request bytes written? (Not "did we connect": a reused
                              // keep-alive connection has no connect time, and a request sent
                              // on it was taken for unsent and silently repeated.)
                              long sent = 0;
                              curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent);
                              return sent == 0;
                            }());
      endpoint_failed(base);
      if (not_sent) continue;
      if (maybe_applied != nullptr) *maybe_applied = true;
      if (idempotent) continue;
      return last;  // sent, outcome unknown
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    Json j = Json::parse(resp, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      last = Error{Errc::kIoError, fmt::format("{}: HTTP {} unparseable body '{}'", url, status,
                                               resp.substr(0, 200))};
      if (status >= 500) {  // proxy or server trouble in front of etcd
        endpoint_failed(base);
        if (maybe_applied != nullptr) *maybe_applied = true;
        if (idempotent) continue;
        last.code = Errc::kUnavailable;
      }
      return last;
    }
    if (status == 200 && !j.contains("error")) return j;
    const int64_t code = json_int(j, "code");
    std::string msg = j.value("message", j.value("error", std::string("?")));
    last = Error{grpc_to_errc(code), fmt::format("{}: {}", url, msg)};
    if (last.code == Errc::kUnavailable) {
      endpoint_failed(base);
      const bool unproposed = msg.find("no leader") != std::string::npos ||
                              msg.find("not capable") != std::string::npos ||
                              msg.find("server stopped") != std::string::npos;
      if (unproposed) continue;
      if (maybe_applied != nullptr) *maybe_applied = true;
      if (idempotent) continue;
    }
    return last;
  }
}

}  // namespace shale::etcd
