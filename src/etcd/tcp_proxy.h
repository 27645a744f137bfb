// TcpProxy (tests only): forwards 127.0.0.1:<port()> to 127.0.0.1:<target>, so a test can cut
// live connections (cut()) and refuse new ones (set_refusing()) to simulate network trouble.
// Threading: one accept thread plus one pump thread per connection; all methods thread-safe.
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
  int accepted() const { return accepted_.load(); }

 private:
  void accept_loop();
  void pump(int a, int b);

  int target_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> refusing_{false};
  std::atomic<int> accepted_{0};
  std::mutex mu_;
  std::vector<int> live_fds_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace shale::etcd
