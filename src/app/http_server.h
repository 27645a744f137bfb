// AdminHttpServer: a small HTTP/1.1 server for the admin port. GET /healthz (200 "ok" while the
// process runs), GET /readyz (200 once the broker serves, else 503), GET /metrics (Prometheus
// text). One request per connection (Connection: close); requests larger than kMaxRequestBytes
// or slower than the read timeout are refused, so a bad client cannot hold memory or sockets.
//
// Ownership: borrows the MetricsRegistry; owns one io_context and its thread.
// Thread-safety: start()/stop() from the controlling thread; set_ready() from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/result.h"
#include "kafka/server/metrics.h"

namespace shale::app {

class AdminHttpServer {
 public:
  static constexpr size_t kMaxRequestBytes = 8192;

  AdminHttpServer(std::string host, uint16_t port, kafka::MetricsRegistry& metrics);
  ~AdminHttpServer();

  Status start();
  void stop();
  uint16_t port() const;
  void set_ready(bool ready) { ready_.store(ready); }

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> ready_{false};
};

// Parses "GET /path HTTP/1.1\r\n..." (the request line only). Exposed for tests.
struct HttpRequestLine {
  std::string method;
  std::string target;
  std::string version;
};
Result<HttpRequestLine> parse_request_line(const std::string& head);

}  // namespace shale::app
