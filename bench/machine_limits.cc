#include "machine_limits.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "target.h"

namespace shale::bench {

namespace fs = std::filesystem;

namespace {

Error sys_error(const std::string& what) {
  return Error{Errc::kIoError, fmt::format("{}: {}", what, std::strerror(errno))};
}

// Closes and unlinks a scratch file on scope exit.
struct ScratchFile {
  int fd = -1;
  std::string path;
  ~ScratchFile() {
    if (fd >= 0) close(fd);
    if (!path.empty()) unlink(path.c_str());
  }
};

Status write_all(int fd, const char* p, size_t n, off_t off) {
  while (n > 0) {
    const ssize_t w = pwrite(fd, p, n, off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return sys_error("pwrite");
    }
    p += w;
    n -= static_cast<size_t>(w);
    off += w;
  }
  return {};
}

}  // namespace

Result<HdrHistogram> measure_fdatasync(const std::string& dir, double seconds) {
  constexpr size_t kBlock = 4096;
  constexpr size_t kFile = 16 << 20;
  ScratchFile f;
  f.path = (fs::path(dir) / "bench-fdatasync.tmp").string();
  f.fd = open(f.path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (f.fd < 0) return sys_error("open " + f.path);
  // Preallocate by writing real zeros so the timed writes are overwrites, not extensions.
  std::vector<char> zeros(1 << 20, 0);
  for (size_t off = 0; off < kFile; off += zeros.size())
    SHALE_RETURN_IF_ERROR(write_all(f.fd, zeros.data(), zeros.size(), static_cast<off_t>(off)));
  if (fsync(f.fd) != 0) return sys_error("fsync");
  std::vector<char> block(kBlock, 'x');
  HdrHistogram h;
  const int64_t end = mono_ns() + static_cast<int64_t>(seconds * 1e9);
  for (size_t i = 0; mono_ns() < end; ++i) {
    block[0] = static_cast<char>(i);
    const int64_t t0 = mono_ns();
    SHALE_RETURN_IF_ERROR(
        write_all(f.fd, block.data(), kBlock, static_cast<off_t>((i * kBlock) % kFile)));
    if (fdatasync(f.fd) != 0) return sys_error("fdatasync");
    h.record(mono_ns() - t0);
  }
  return h;
}

Result<double> measure_seq_write(const std::string& dir, double seconds, int64_t max_bytes,
                                 double* bytes_written) {
  constexpr size_t kChunk = 1 << 20;
  constexpr int64_t kSyncEvery = 64 << 20;
  ScratchFile f;
  f.path = (fs::path(dir) / "bench-seqwrite.tmp").string();
  f.fd = open(f.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (f.fd < 0) return sys_error("open " + f.path);
  std::vector<char> chunk(kChunk);
  for (size_t i = 0; i < kChunk; ++i) chunk[i] = static_cast<char>(i * 2654435761u >> 13);
  const int64_t t0 = mono_ns();
  const int64_t end = t0 + static_cast<int64_t>(seconds * 1e9);
  int64_t written = 0;
  while (written < max_bytes && mono_ns() < end) {
    SHALE_RETURN_IF_ERROR(write_all(f.fd, chunk.data(), kChunk, static_cast<off_t>(written)));
    written += kChunk;
    if (written % kSyncEvery == 0 && fdatasync(f.fd) != 0) return sys_error("fdatasync");
  }
  if (fdatasync(f.fd) != 0) return sys_error("fdatasync");
  const double secs = static_cast<double>(mono_ns() - t0) / 1e9;
  if (bytes_written) *bytes_written = static_cast<double>(written);
  return static_cast<double>(written) / 1e6 / secs;
}

Result<double> measure_loopback_tcp(double seconds) {
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  if (lfd < 0) return sys_error("socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(lfd, 1) != 0 ||
      getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(lfd);
    return sys_error("bind/listen");
  }
  int64_t received = 0, recv_done = 0;
  std::thread receiver([&] {
    int c = accept(lfd, nullptr, nullptr);
    if (c < 0) return;
    std::vector<char> buf(256 << 10);
    ssize_t n;
    while ((n = read(c, buf.data(), buf.size())) > 0) received += n;
    recv_done = mono_ns();
    close(c);
  });
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(s);
    shutdown(lfd, SHUT_RDWR);
    close(lfd);
    receiver.join();
    return sys_error("connect");
  }
  std::vector<char> buf(256 << 10, 'z');
  const int64_t t0 = mono_ns();
  const int64_t end = t0 + static_cast<int64_t>(seconds * 1e9);
  while (mono_ns() < end)
    if (write(s, buf.data(), buf.size()) < 0 && errno != EINTR) break;
  close(s);
  receiver.join();
  close(lfd);
  if (received == 0) return Error{Errc::kIoError, "loopback: nothing received"};
  return static_cast<double>(received) / 1e6 / (static_cast<double>(recv_done - t0) / 1e9);
}

std::string describe_filesystem(const std::string& dir) {
  std::error_code ec;
  const std::string target = fs::weakly_canonical(dir, ec).string();
  std::ifstream mounts("/proc/self/mounts");
  std::string line, best_dev, best_type;
  size_t best_len = 0;
  while (std::getline(mounts, line)) {
    std::istringstream in(line);
    std::string dev, mnt, type;
    in >> dev >> mnt >> type;
    const bool under = target.rfind(mnt, 0) == 0 &&
                       (mnt == "/" || target.size() == mnt.size() || target[mnt.size()] == '/');
    if (under && mnt.size() >= best_len) {
      best_len = mnt.size();
      best_dev = dev;
      best_type = type;
    }
  }
  return best_type.empty() ? "unknown" : fmt::format("{} on {}", best_type, best_dev);
}

Result<Limits> measure_limits(const std::string& dir, double scale) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  Limits l;
  l.filesystem = describe_filesystem(dir);
  SHALE_ASSIGN_OR_RETURN(l.fdatasync_ns, measure_fdatasync(dir, 3.0 * scale));
  SHALE_ASSIGN_OR_RETURN(l.seq_write_mb_s,
                         measure_seq_write(dir, 6.0 * scale, int64_t{2} << 30, &l.seq_write_bytes));
  SHALE_ASSIGN_OR_RETURN(l.loopback_mb_s, measure_loopback_tcp(3.0 * scale));
  return l;
}

}  // namespace shale::bench
