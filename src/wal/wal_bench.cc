// wal_bench: FileWal append throughput and acknowledgement latency on the real disk, beside the
// disk's own fdatasync latency and synced sequential write bandwidth measured in the same run.
//
//   WAL_BENCH_DIR=/tmp build-wal/src/wal/wal_bench     (default dir: /tmp)
//
// Counters: MB/s (payload bytes acknowledged per second), p50_us / p99_us (append -> callback),
// appends_per_commit. Each WAL benchmark runs on one WAL whose 64 MiB segments have all been
// created and recycled before measuring (steady state), with a trimmer thread keeping it from
// filling up.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "io/fs.h"
#include "wal/file_wal.h"

namespace shale::wal {
namespace {

using Clock = std::chrono::steady_clock;

std::string bench_dir() {
  const char* d = std::getenv("WAL_BENCH_DIR");
  return std::string(d ? d : "/tmp") + "/shale_wal_bench";
}

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * v.size()));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

// A file of `size` bytes filled with zeros and synced, like a WAL segment ready for reuse.
int prepared_file(const std::string& path, size_t size) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  std::vector<char> z(1 << 20);
  for (size_t o = 0; o < size; o += z.size()) {
    if (::pwrite(fd, z.data(), std::min(z.size(), size - o), o) < 0) std::abort();
  }
  ::fdatasync(fd);
  return fd;
}

// Raw fdatasync latency: write 4 KiB into a preallocated, zero-filled file, fdatasync. Arg 0:
// always overwrite offset 0; arg 1: advance through the file (as a WAL does).
void BM_RawFdatasync4K(benchmark::State& state) {
  std::filesystem::create_directories(bench_dir());
  const size_t kFile = 64 << 20;
  int fd = prepared_file(bench_dir() + "/raw_sync", kFile);
  std::vector<char> buf(4096, 'x');
  std::vector<double> lat;
  size_t off = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    if (::pwrite(fd, buf.data(), buf.size(), off) < 0 || ::fdatasync(fd) != 0) std::abort();
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    if (state.range(0) == 1) off = (off + buf.size()) % kFile;
  }
  state.counters["p50_us"] = pct(lat, 0.50);
  state.counters["p99_us"] = pct(lat, 0.99);
  ::close(fd);
}
BENCHMARK(BM_RawFdatasync4K)->ArgName("sequential")->Arg(0)->Arg(1)->Iterations(3000);

// Sequential write bandwidth with fdatasync: 1 MiB pwrites into a preallocated file, one
// fdatasync per N MiB (what a WAL under heavy load does; N = the argument).
void BM_RawSeqWrite(benchmark::State& state) {
  std::filesystem::create_directories(bench_dir());
  const size_t kFile = 256 << 20;
  int fd = prepared_file(bench_dir() + "/raw_seq", kFile);
  std::vector<char> buf(1 << 20, 'y');
  size_t off = 0;
  uint64_t bytes = 0;
  for (auto _ : state) {
    for (int i = 0; i < state.range(0); ++i) {
      if (::pwrite(fd, buf.data(), buf.size(), off) < 0) std::abort();
      off = (off + buf.size()) % kFile;
    }
    if (::fdatasync(fd) != 0) std::abort();
    bytes += state.range(0) * buf.size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  ::close(fd);
}
BENCHMARK(BM_RawSeqWrite)->Arg(2)->Arg(8)->Iterations(64)->UseRealTime();

// Where the writer thread's time goes, from the crash hook's timestamps (writer thread only).
struct PhaseTimes {
  Clock::time_point last;
  std::string_view last_point;
  std::map<std::string, double> us;  // "A->B" -> total microseconds
  void hit(std::string_view p) {
    auto now = Clock::now();
    if (!last_point.empty()) {
      us[std::string(last_point) + "->" + std::string(p)] +=
          std::chrono::duration<double, std::micro>(now - last).count();
    }
    last = now;
    last_point = p;
  }
};

struct WalEnv {
  std::unique_ptr<io::Filesystem> fs = io::make_posix_fs();
  PhaseTimes phases;
  std::unique_ptr<FileWal> wal;
  std::atomic<bool> stop_trimmer{false};
  std::thread trimmer;

  WalEnv() {
    std::filesystem::remove_all(bench_dir() + "/wal");
    FileWalOptions o;
    o.dir = bench_dir() + "/wal";
    o.segment_size = 64 << 20;
    o.max_total_size = 512 << 20;
    o.prealloc_ahead = 8;
    o.crash_hook = [this](std::string_view p) {
      if (p == "before_write" || p == "after_write_before_sync" || p == "after_sync_before_ack" ||
          p == "after_ack") {
        phases.hit(p);
      }
      return false;
    };
    wal = std::make_unique<FileWal>(*fs, o);
    if (!wal->recover(nullptr).ok() || !wal->start().ok()) std::abort();
    trimmer = std::thread([this] {
      while (!stop_trimmer.load()) {
        (void)wal->trim(wal->end());
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
    // Warm up: write through every slot once so all segments exist and get recycled.
    run(1 << 20, 1, 8, 700 << 20, nullptr);
  }
  ~WalEnv() {
    stop_trimmer = true;
    trimmer.join();
    wal->stop();
    std::filesystem::remove_all(bench_dir() + "/wal");
  }

  // `appenders` threads each keep `window` appends of `size` bytes in flight until `total`
  // bytes are acknowledged. Returns seconds; fills lat (microseconds) when given.
  double run(size_t size, int appenders, int window, uint64_t total, std::vector<double>* lat) {
    Buf payload = Buf::zeros(size);
    std::mutex mu;
    std::vector<double> all;
    const uint64_t per = total / size / appenders;
    auto t0 = Clock::now();
    std::vector<std::thread> ts;
    for (int a = 0; a < appenders; ++a) {
      ts.emplace_back([&] {
        std::mutex m;
        std::condition_variable cv;
        int inflight = 0;
        uint64_t done = 0;
        std::vector<double> mine;
        mine.reserve(per);
        for (uint64_t i = 0; i < per; ++i) {
          {
            std::unique_lock<std::mutex> l(m);
            cv.wait(l, [&] { return inflight < window; });
            ++inflight;
          }
          WalRecord r;
          r.stream = StreamId(1);
          r.payload = payload;
          auto start = Clock::now();
          wal->append(std::move(r), [&, start](Result<WalPos> res) {
            if (!res.ok()) std::abort();
            double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
            std::lock_guard<std::mutex> l(m);
            mine.push_back(us);
            --inflight;
            ++done;
            cv.notify_all();
          });
        }
        std::unique_lock<std::mutex> l(m);
        cv.wait(l, [&] { return done == per; });
        std::lock_guard<std::mutex> g(mu);
        all.insert(all.end(), mine.begin(), mine.end());
      });
    }
    for (auto& t : ts) t.join();
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    if (lat) *lat = std::move(all);
    return secs;
  }
};

WalEnv& env() {
  static WalEnv* e = new WalEnv();  // shared by all WAL benchmarks, torn down at exit
  return *e;
}

// Args: payload size, appenders, appends in flight per appender.
void BM_WalAppend(benchmark::State& state) {
  const size_t size = state.range(0);
  const int appenders = static_cast<int>(state.range(1));
  const int window = static_cast<int>(state.range(2));
  const uint64_t n = window == 1 ? 4000 : 40000;  // appends (closed-loop runs are sync-bound)
  const uint64_t total = std::min<uint64_t>(size * n, 512ull << 20);
  WalEnv& e = env();
  std::vector<double> lat;
  uint64_t commits0 = e.wal->stats().commits, appends0 = e.wal->stats().acked_appends;
  e.phases.us.clear();
  double secs = 0;
  for (auto _ : state) {
    secs = e.run(size, appenders, window, total, &lat);
    state.SetIterationTime(secs);
  }
  WalStats s = e.wal->stats();
  state.counters["MB/s"] =
      static_cast<double>(total / size / appenders * appenders * size) / secs / 1e6;
  state.counters["p50_us"] = pct(lat, 0.50);
  state.counters["p99_us"] = pct(lat, 0.99);
  const double commits = static_cast<double>(s.commits - commits0);
  state.counters["appends_per_commit"] = static_cast<double>(s.acked_appends - appends0) / commits;
  // Mean microseconds per commit: pwrite, fdatasync, callbacks, and the rest (idle + encode).
  state.counters["write_us"] = e.phases.us["before_write->after_write_before_sync"] / commits;
  state.counters["sync_us"] =
      e.phases.us["after_write_before_sync->after_sync_before_ack"] / commits;
  state.counters["ack_us"] = e.phases.us["after_sync_before_ack->after_ack"] / commits;
  state.counters["gap_us"] = e.phases.us["after_ack->before_write"] / commits;
}
BENCHMARK(BM_WalAppend)
    ->ArgNames({"size", "appenders", "inflight"})
    ->Args({65536, 1, 1})
    ->Args({65536, 8, 1})
    ->Args({65536, 1, 64})
    ->Args({65536, 8, 16})
    ->Args({65536, 1, 256})
    ->Args({65536, 16, 1})  // a broker with 16..64 producers, one request in flight each
    ->Args({65536, 64, 1})
    ->Args({65536, 16, 4})
    ->Args({512, 1, 1})
    ->Args({512, 8, 1})
    ->Args({512, 16, 1})
    ->Args({512, 64, 1})
    ->Args({512, 8, 64})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace shale::wal

BENCHMARK_MAIN();
