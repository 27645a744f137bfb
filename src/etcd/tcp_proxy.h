// TcpProxy (tests only): forwards 127.0.0.1:<port()> to 127.0.0.1:<target>, so a test can cut
// live connections (cut()), refuse new ones (set_refusing()) and lose answers
// (set_dropping_replies()) to simulate network trouble. Threading: one accept thread plus one pump
// thread per connection; all methods thread-safe.
#pragma once

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace shale::etcd {

class TcpProxy {
 public:
  explicit TcpProxy(int target_port);
  ~TcpProxy();
  int port() const { return port_; }
  // Closes every proxied connection now (both sides see a reset/EOF).
  void cut();
  // While refusing, new connections are accepted and closed immediately.
  void set_refusing(bool r) { refusing_ = r; }
  // While dropping replies, requests still reach the target but its answers are discarded: a
  // call lands and its caller never learns it (an answer lost with a dying member).
  void set_dropping_replies(bool d) { dropping_replies_ = d; }
  int accepted() const { return accepted_.load(); }

 private:
  void accept_loop();
  void pump(int a, int b);

  int target_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> refusing_{false};
  std::atomic<bool> dropping_replies_{false};
  std::atomic<int> accepted_{0};
  std::mutex mu_;
  std::vector<int> live_fds_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

// A listening loopback port that nobody accepts from: connections succeed, requests are sent,
// no answer ever comes (a hung member). Closed on destruction.
class BlackHole {
 public:
  BlackHole();
  ~BlackHole();
  BlackHole(const BlackHole&) = delete;
  BlackHole& operator=(const BlackHole&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace shale::etcd
