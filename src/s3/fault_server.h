// Test-only: a tiny HTTP/1.1 server on 127.0.0.1 (ephemeral port) whose every answer comes from
// a handler, so tests can script 503 SlowDown, connection resets and slow responses.
// One thread per connection; keep-alive supported. The destructor stops and joins everything.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace shale::s3::testing {

struct FaultRequest {
  std::string method, target;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};
struct FaultResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool reset = false;      // close the connection with RST instead of answering
  int delay_ms = 0;        // wait before answering
  bool head_body = false;  // the body is not sent (HEAD): only its Content-Length
};

class FaultServer {
 public:
  using Handler = std::function<FaultResponse(const FaultRequest&, int index)>;
  explicit FaultServer(Handler h) : handler_(std::move(h)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ::listen(fd_, 64);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~FaultServer() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : conns_) t.join();
    ::close(fd_);
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<FaultRequest> requests() {
    std::lock_guard lk(mu_);
    return reqs_;
  }

 private:
  bool wait_readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    while (!stop_) {
      int r = ::poll(&p, 1, 20);
      if (r > 0) return true;
      if (r < 0) return false;
    }
    return false;
  }
  void accept_loop() {
    while (wait_readable(fd_)) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c >= 0) conns_.emplace_back([this, c] { serve(c); });
    }
  }
  void serve(int c) {
    std::string buf;
    char tmp[65536];
    while (true) {
      size_t hdr_end;
      while ((hdr_end = buf.find("\r\n\r\n")) == std::string::npos) {
        if (!wait_readable(c)) return (void)::close(c);
        ssize_t n = ::recv(c, tmp, sizeof(tmp), 0);
        if (n <= 0) return (void)::close(c);
        buf.append(tmp, static_cast<size_t>(n));
      }
      FaultRequest req;
      std::string head = buf.substr(0, hdr_end);
      size_t line_end = head.find("\r\n");
      std::string first = head.substr(0, line_end);
      req.method = first.substr(0, first.find(' '));
      req.target = first.substr(req.method.size() + 1, first.rfind(' ') - req.method.size() - 1);
      size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
      while (pos < head.size()) {
        size_t e = head.find("\r\n", pos);
        if (e == std::string::npos) e = head.size();
        std::string l = head.substr(pos, e - pos);
        size_t colon = l.find(':');
        if (colon != std::string::npos) {
          std::string k = l.substr(0, colon);
          for (auto& ch : k) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          size_t v = l.find_first_not_of(' ', colon + 1);
          req.headers[k] = v == std::string::npos ? "" : l.substr(v);
        }
        pos = e + 2;
      }
      size_t clen =
          req.headers.count("content-length") ? std::stoul(req.headers["content-length"]) : 0;
      buf.erase(0, hdr_end + 4);
      while (buf.size() < clen) {
        if (!wait_readable(c)) return (void)::close(c);
        ssize_t n = ::recv(c, tmp, sizeof(tmp), 0);
        if (n <= 0) return (void)::close(c);
        buf.append(tmp, static_cast<size_t>(n));
      }
      req.body = buf.substr(0, clen);
      buf.erase(0, clen);
      int index;
      {
        std::lock_guard lk(mu_);
        index = static_cast<int>(reqs_.size());
        reqs_.push_back(req);
      }
      FaultResponse resp = handler_(req, index);
      for (int waited = 0; waited < resp.delay_ms && !stop_; waited += 10)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (resp.reset || stop_) {
        linger l{1, 0};
        ::setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        return (void)::close(c);
      }
      std::string out = "HTTP/1.1 " + std::to_string(resp.status) + " X\r\n";
      bool has_len = false;
      for (auto& [k, v] : resp.headers) {
        out += k + ": " + v + "\r\n";
        if (k == "Content-Length") has_len = true;
      }
      if (!has_len) out += "Content-Length: " + std::to_string(resp.body.size()) + "\r\n";
      out += "\r\n";
      if (!resp.head_body) out += resp.body;
      ::send(c, out.data(), out.size(), MSG_NOSIGNAL);
    }
  }

  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> conns_;  // only touched by the acceptor thread and the destructor
  std::mutex mu_;
  std::vector<FaultRequest> reqs_;
};

}  // namespace shale::s3::testing
