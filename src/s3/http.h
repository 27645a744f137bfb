// A small blocking HTTP/1.1 client on libcurl, for the S3 store.
// Connection reuse: each thread keeps one curl easy handle (and so its connection cache) for the
// life of the thread; requests on one thread reuse its keep-alive connections.
// Thread-safe: perform() may be called from any number of threads at once.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/buf.h"
#include "s3/recv_pool.h"

namespace shale::s3 {

struct HttpRequest {
  std::string method;  // GET PUT POST DELETE HEAD
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<Buf> body;  // sent in order, never copied
  long connect_timeout_ms = 5000;
  long timeout_ms = 60000;  // whole request
  // Abort when fewer than low_speed_bytes/s flow for low_speed_secs (stalled peer).
  long low_speed_bytes = 1024;
  long low_speed_secs = 15;
  // If set, a response body with a Content-Length of at least 64 KiB is received into a buffer
  // from this pool (GETs; see recv_pool.h).
  RecvBufferPool* body_pool = nullptr;
};

struct HttpResponse {
  // 0 when no HTTP response arrived; then curl_error says why.
  long status = 0;
  std::string curl_error;
  bool timed_out = false;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  RecvBuffer body;
  std::string header(std::string_view name) const;  // "" when absent
};

HttpResponse http_perform(const HttpRequest& req);

}  // namespace shale::s3
