// A tiny blocking Kafka-framing client over a POSIX socket, for server tests. Not for production.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/endian.h"

namespace shale::kafka::testing {

class RawClient {
 public:
  explicit RawClient(uint16_t port, int timeout_ms = 5000) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }

  bool send_raw(const std::vector<uint8_t>& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  // Frames and sends a request with header v1 (or v2 when flexible_header).
  bool send_request(int16_t key, int16_t version, int32_t corr, const std::vector<uint8_t>& body,
                    bool flexible_header = false, const std::string& client_id = "test") {
    std::vector<uint8_t> f(4);
    put16(f, key);
    put16(f, version);
    put32(f, corr);
    put16(f, static_cast<int16_t>(client_id.size()));
    f.insert(f.end(), client_id.begin(), client_id.end());
    if (flexible_header) f.push_back(0);
    f.insert(f.end(), body.begin(), body.end());
    store_be<int32_t>(f.data(), static_cast<int32_t>(f.size() - 4));
    return send_raw(f);
  }

  // Reads one response frame (without the size prefix); nullopt on EOF/timeout/error.
  std::optional<std::vector<uint8_t>> read_frame() {
    uint8_t sz[4];
    if (!read_exact(sz, 4)) return std::nullopt;
    int32_t n = load_be<int32_t>(sz);
    if (n < 0) return std::nullopt;
    std::vector<uint8_t> out(static_cast<size_t>(n));
    if (!read_exact(out.data(), out.size())) return std::nullopt;
    return out;
  }

  // True if the peer closed the connection (EOF or reset) within the receive timeout.
  bool closed_by_peer() {
    uint8_t b;
    ssize_t n = ::recv(fd_, &b, 1, 0);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }

  static void put16(std::vector<uint8_t>& v, int16_t x) {
    uint8_t b[2];
    store_be(b, x);
    v.insert(v.end(), b, b + 2);
  }
  static void put32(std::vector<uint8_t>& v, int32_t x) {
    uint8_t b[4];
    store_be(b, x);
    v.insert(v.end(), b, b + 4);
  }

 private:
  bool read_exact(uint8_t* p, size_t n) {
    size_t off = 0;
    while (off < n) {
      ssize_t r = ::recv(fd_, p + off, n - off, 0);
      if (r <= 0) return false;
      off += static_cast<size_t>(r);
    }
    return true;
  }
  int fd_ = -1;
  bool connected_ = false;
};

}  // namespace shale::kafka::testing
