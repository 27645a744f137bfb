// stream_drain_bench: does a catch-up reader draining a backlog from objects hurt the tail?
// On the real disk (FileWal with fdatasync, LocalObjectStore, embedded metadata under $TMPDIR):
// a producer appends 1 KiB batches to a tail stream at a fixed rate (open loop) while a tail
// reader polls try_read_cached(); both record latencies. Phase "base" runs them alone; phase
// "drain" runs them while a cold reader replays a backlog stream (larger than the log and block
// caches, its object files evicted from the page cache) with 1 MiB reads as fast as it can,
// optionally under the cold-read bandwidth budget. Prints p50/p99 per phase and the ratios.
//
//   build/src/stream/stream_drain_bench [backlog_mib=192] [seconds=5] [cold_read_mb_s=0] [runs=3]
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "base/log.h"
#include "meta/embedded_meta_store.h"
#include "objstore/local_object_store.h"
#include "stream/stream_store_impl.h"
#include "wal/file_wal.h"

namespace shale::stream {
namespace {

using Clock = std::chrono::steady_clock;

double us_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}
double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}
Buf batch(size_t n) {
  Buf b = Buf::zeros(n);
  b.mutable_data()[16] = 2;  // magic 2 (a v2 batch)
  return b;
}

// Drops the object files from the page cache, so the drain reads the disk.
void evict_objects(const std::string& dir) {
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

struct PhaseResult {
  double append_p50 = 0, append_p99 = 0, tail_p50 = 0, tail_p99 = 0;
  double drained_mb_s = 0;
};

class Bench {
 public:
  Bench(uint64_t backlog_mib, uint64_t cold_read_bytes_per_sec) {
    dir_ = std::filesystem::temp_directory_path() /
           ("shale_drain_bench_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    (void)fs_->mkdirs(dir_);
    objects_ = objstore::LocalObjectStore::open(*fs_, dir_ + "/objects").value();
    meta_ = meta::open_embedded_meta(*fs_, dir_ + "/meta", SystemClock::instance()).value();
    wal::FileWalOptions wo;
    wo.dir = dir_ + "/wal";
    wo.segment_size = 64 << 20;
    wo.max_total_size = 1 << 30;
    wal_ = std::make_unique<wal::FileWal>(*fs_, wo);
    StoreOptions so;
    so.log_cache_bytes = 16 << 20;
    so.upload_threshold_bytes = 4 << 20;
    so.block_cache_bytes = 64 << 20;
    so.cold_read_bytes_per_sec = cold_read_bytes_per_sec;
    store_ = open_stream_store(so, *wal_, *objects_, *meta_, SystemClock::instance());
    if (!store_->start().ok()) std::abort();
    backlog_ = *store_->create();
    tail_ = *store_->create();
    (void)store_->open(backlog_, Epoch(1));
    (void)store_->open(tail_, Epoch(1));
    // The backlog: 16 KiB batches, 64 in flight, then everything uploaded.
    const int n = static_cast<int>(backlog_mib * 64);
    std::mutex mu;
    std::condition_variable cv;
    int inflight = 0;
    for (int i = 0; i < n; ++i) {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return inflight < 64; });
      ++inflight;
      lk.unlock();
      store_->append(backlog_, Epoch(1), batch(16 << 10), 1, [&](Result<AppendResult> r) {
        if (!r.ok()) std::abort();
        std::lock_guard g(mu);
        --inflight;
        cv.notify_all();
      });
    }
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return inflight == 0; });
    lk.unlock();
    if (!store_->flush_uploads().ok()) std::abort();
    backlog_end_ = store_->info(backlog_)->end.value();
  }
  ~Bench() {
    store_->stop();
    store_.reset();
    wal_.reset();
    std::filesystem::remove_all(dir_);
  }

  PhaseResult phase(double seconds, bool drain) {
    evict_objects(dir_ + "/objects");
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> drained{0};
    std::thread cold;
    if (drain) {
      cold = std::thread([&] {
        int64_t at = 0;
        while (!stop.load()) {
          auto r = store_->read_sync(backlog_, Offset(at), 1 << 20);
          if (!r.ok() || r->batches.empty()) std::abort();
          for (const Buf& b : r->batches) drained += b.size();
          at += static_cast<int64_t>(r->batches.size());
          if (at >= backlog_end_) at = 0;
        }
      });
    }
    // Tail reader: every 200 us, the newest ~4 KiB of the tail stream from the log cache.
    std::vector<double> tail_lat;
    std::thread tail([&] {
      while (!stop.load()) {
        const int64_t end = store_->info(tail_)->end.value();
        if (end > 4) {
          auto t0 = Clock::now();
          auto r = store_->try_read_cached(tail_, Offset(end - 4), 4096);
          tail_lat.push_back(us_since(t0));
          if (!r || !r->ok()) std::abort();
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
    // Producer: one 1 KiB append per millisecond (open loop), ack latency recorded.
    std::mutex mu;
    std::condition_variable cv;
    std::vector<double> append_lat;
    int inflight = 0;
    const auto t_end = Clock::now() + std::chrono::duration<double>(seconds);
    auto next = Clock::now();
    while (Clock::now() < t_end) {
      std::this_thread::sleep_until(next);
      next += std::chrono::milliseconds(1);
      {
        std::lock_guard g(mu);
        ++inflight;
      }
      const auto t0 = Clock::now();
      store_->append(tail_, Epoch(1), batch(1024), 1, [&, t0](Result<AppendResult> r) {
        if (!r.ok()) std::abort();
        std::lock_guard g(mu);
        append_lat.push_back(us_since(t0));
        --inflight;
        cv.notify_all();
      });
    }
    {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return inflight == 0; });
    }
    stop = true;
    tail.join();
    if (cold.joinable()) cold.join();
    PhaseResult res;
    res.append_p50 = pct(append_lat, 0.5);
    res.append_p99 = pct(append_lat, 0.99);
    res.tail_p50 = pct(tail_lat, 0.5);
    res.tail_p99 = pct(tail_lat, 0.99);
    res.drained_mb_s = static_cast<double>(drained.load()) / 1e6 / seconds;
    return res;
  }

 private:
  std::string dir_;
  std::unique_ptr<io::Filesystem> fs_ = io::make_posix_fs();
  std::unique_ptr<objstore::LocalObjectStore> objects_;
  std::unique_ptr<meta::EmbeddedMetaStore> meta_;
  std::unique_ptr<wal::FileWal> wal_;
  std::unique_ptr<StreamStoreImpl> store_;
  StreamId backlog_{0}, tail_{0};
  int64_t backlog_end_ = 0;
};

}  // namespace
}  // namespace shale::stream

int main(int argc, char** argv) {
  using namespace shale::stream;
  const uint64_t backlog_mib = argc > 1 ? std::stoull(argv[1]) : 192;
  const double seconds = argc > 2 ? std::stod(argv[2]) : 5;
  const uint64_t budget = argc > 3 ? std::stoull(argv[3]) * 1000000 : 0;
  const int runs = argc > 4 ? std::stoi(argv[4]) : 3;
  shale::init_logging("warn");
  Bench b(backlog_mib, budget);
  std::printf("backlog %lu MiB, %.0f s per phase, cold-read budget %s\n", backlog_mib, seconds,
              budget ? (std::to_string(budget / 1000000) + " MB/s").c_str() : "none");
  std::printf("%-4s %-6s %12s %12s %12s %12s %10s\n", "run", "phase", "append_p50us",
              "append_p99us", "tail_p50us", "tail_p99us", "drain_MB/s");
  for (int r = 1; r <= runs; ++r) {
    PhaseResult base = b.phase(seconds, false);
    PhaseResult drain = b.phase(seconds, true);
    for (auto [name, p] : {std::pair{"base", base}, std::pair{"drain", drain}}) {
      std::printf("%-4d %-6s %12.0f %12.0f %12.2f %12.2f %10.1f\n", r, name, p.append_p50,
                  p.append_p99, p.tail_p50, p.tail_p99, p.drained_mb_s);
    }
    std::printf("%-4d ratio  append_p99 %.2fx  tail_p99 %.2fx\n", r,
                drain.append_p99 / base.append_p99, drain.tail_p99 / base.tail_p99);
  }
  return 0;
}
