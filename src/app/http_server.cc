#include "app/http_server.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/streambuf.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <thread>

#include "base/log.h"

namespace shale::app {

namespace {
constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr auto kReadTimeout = std::chrono::seconds(5);

std::string response(int code, const char* reason, const std::string& content_type,
                     const std::string& body) {
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
      code, reason, content_type, body.size(), body);
}
}  // namespace

Result<HttpRequestLine> parse_request_line(const std::string& head) {
  auto eol = head.find("\r\n");
  std::string line = head.substr(0, eol);
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos || sp1 == 0 || sp2 == sp1 + 1) {
    return Error{Errc::kInvalidArgument, "malformed request line"};
  }
  HttpRequestLine r{line.substr(0, sp1), line.substr(sp1 + 1, sp2 - sp1 - 1), line.substr(sp2 + 1)};
  if (r.version.rfind("HTTP/1.", 0) != 0 || r.target.empty() || r.target[0] != '/') {
    return Error{Errc::kInvalidArgument, "unsupported request line"};
  }
  return r;
}

struct AdminHttpServer::Impl {
  Impl(std::string h, uint16_t p, kafka::MetricsRegistry& m, std::atomic<bool>& r)
      : host(std::move(h)), port(p), metrics(m), ready(r) {}

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(asio::ip::tcp::socket sock);
  std::string route(const HttpRequestLine& req);

  std::string host;
  uint16_t port;
  kafka::MetricsRegistry& metrics;
  std::atomic<bool>& ready;
  asio::io_context ctx{1};
  std::optional<asio::ip::tcp::acceptor> acceptor;
  std::thread thread;
};

AdminHttpServer::AdminHttpServer(std::string host, uint16_t port, kafka::MetricsRegistry& metrics)
    : impl_(std::make_unique<Impl>(std::move(host), port, metrics, ready_)) {}

AdminHttpServer::~AdminHttpServer() {
  stop();
}

uint16_t AdminHttpServer::port() const {
  return impl_->port;
}

Status AdminHttpServer::start() {
  Impl& s = *impl_;
  asio::error_code ec;
  auto addr = asio::ip::make_address(s.host, ec);
  if (ec) return Status(Errc::kInvalidArgument, fmt::format("http host '{}' is not an IP", s.host));
  asio::ip::tcp::endpoint ep(addr, s.port);
  s.acceptor.emplace(s.ctx);
  s.acceptor->open(ep.protocol(), ec);
  if (!ec) s.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor->bind(ep, ec);
  if (!ec) s.acceptor->listen(64, ec);
  if (ec) {
    s.acceptor.reset();
    return Status(Errc::kIoError,
                  fmt::format("http listen {}:{}: {}", s.host, s.port, ec.message()));
  }
  s.port = s.acceptor->local_endpoint().port();
  asio::co_spawn(s.ctx, s.accept_loop(), asio::detached);
  s.thread = std::thread([&s] { s.ctx.run(); });
  SHALE_LOG_INFO("http", "admin HTTP on {}:{}", s.host, s.port);
  return Status();
}

void AdminHttpServer::stop() {
  Impl& s = *impl_;
  if (!s.thread.joinable()) return;
  s.ctx.stop();
  s.thread.join();
}

asio::awaitable<void> AdminHttpServer::Impl::accept_loop() {
  for (;;) {
    auto [ec, sock] = co_await acceptor->async_accept(kAsTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      continue;
    }
    asio::co_spawn(ctx, serve(std::move(sock)), asio::detached);
  }
}

asio::awaitable<void> AdminHttpServer::Impl::serve(asio::ip::tcp::socket sock) {
  using namespace asio::experimental::awaitable_operators;
  asio::streambuf buf(kMaxRequestBytes);
  asio::steady_timer timer(ctx, kReadTimeout);
  auto result = co_await (asio::async_read_until(sock, buf, "\r\n\r\n", kAsTuple) ||
                          timer.async_wait(kAsTuple));
  std::string out;
  if (result.index() == 1) {
    out = response(408, "Request Timeout", "text/plain", "timeout\n");
  } else {
    auto [ec, n] = std::get<0>(result);
    if (ec == asio::error::not_found) {  // the streambuf limit was reached
      out = response(431, "Request Header Fields Too Large", "text/plain", "too large\n");
    } else if (ec) {
      co_return;
    } else {
      std::string head(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + n);
      auto req = parse_request_line(head);
      if (!req.ok()) {
        out = response(400, "Bad Request", "text/plain", req.error().message + "\n");
      } else {
        out = route(*req);
      }
    }
  }
  co_await asio::async_write(sock, asio::buffer(out), kAsTuple);
  asio::error_code ignored;
  sock.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
}

std::string AdminHttpServer::Impl::route(const HttpRequestLine& req) {
  if (req.method != "GET" && req.method != "HEAD") {
    return response(405, "Method Not Allowed", "text/plain", "only GET\n");
  }
  std::string path = req.target.substr(0, req.target.find('?'));
  if (path == "/healthz") return response(200, "OK", "text/plain", "ok\n");
  if (path == "/readyz") {
    return ready.load() ? response(200, "OK", "text/plain", "ready\n")
                        : response(503, "Service Unavailable", "text/plain", "starting\n");
  }
  if (path == "/metrics") {
    return response(200, "OK", "text/plain; version=0.0.4", metrics.render());
  }
  return response(404, "Not Found", "text/plain", "not found\n");
}

}  // namespace shale::app
