// wal_bench: FileWal append throughput and acknowledgement latency on the real disk, beside the
// disk's own fdatasync latency and synced sequential write bandwidth measured in the same run.
//
//   WAL_BENCH_DIR=/tmp build-wal/src/wal/wal_bench     (default dir: /tmp)
//
// Counters: MB/s (payload bytes acknowledged per second), p50_us / p99_us (append -> callback),
// appends_per_sync, cpu_s_per_gb (process CPU per GB of payload), write_us / sync_us / ack_us.
// Each WAL benchmark runs on one WAL whose 64 MiB segments have all been
// created and recycled before measuring (steady state), with a trimmer thread keeping it from
// filling up.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
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

// First use of a new 64 MiB segment file: how it is prepared, then 256 KiB commits (pwrite +
// fdatasync) through all of it, as the WAL writer does. Counters: cpu_s_per_gb (this thread's
// user + system CPU for preparing and writing, per GB written), sync p50/p99 (the commits'
// fdatasync), prep_ms (preparing the file). Mode (the argument):
//   0 recycled: the file was written and synced before (steady state; preparation not counted)
//   1 zero-fill: fallocate + buffered zeros + fdatasync (FileWal before issue #5)
//   2 fallocate: unwritten extents only
//   3 append: no preallocation, the file grows with every commit
//   4 zero-fill O_DIRECT: fallocate + zeros written with O_DIRECT (no page cache) + fdatasync
void BM_SegmentFirstUse(benchmark::State& state) {
  std::filesystem::create_directories(bench_dir());
  const size_t kFile = 64 << 20, kCommit = 256 << 10;
  const int mode = static_cast<int>(state.range(0));
  const std::string path = bench_dir() + "/first_use";
  std::vector<double> sync_us;
  double cpu = 0, prep_ms = 0;
  uint64_t bytes = 0;
  auto thread_cpu = [] {
    rusage ru{};
    getrusage(RUSAGE_THREAD, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  };
  std::vector<char> buf(kCommit, 'w');
  for (auto _ : state) {
    ::unlink(path.c_str());
    int fd = -1;
    if (mode == 0) {
      ::close(prepared_file(path, kFile));
      std::vector<char> once(kFile, 'o');  // written with data once, like a recycled slot
      fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
      if (::pwrite(fd, once.data(), once.size(), 0) < 0 || ::fdatasync(fd) != 0) std::abort();
      (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    }
    const double c0 = thread_cpu();
    const auto t0 = Clock::now();
    if (mode == 1) {
      fd = prepared_file(path, kFile);
    } else if (mode == 2 || mode == 3) {
      fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      if (mode == 2 && ::fallocate(fd, 0, 0, kFile) != 0) std::abort();
      ::fdatasync(fd);
    } else if (mode == 4) {
      int dfd = ::open(path.c_str(), O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0644);
      if (dfd < 0 || ::fallocate(dfd, 0, 0, kFile) != 0) std::abort();
      void* z = nullptr;
      if (posix_memalign(&z, 4096, 1 << 20) != 0) std::abort();
      std::memset(z, 0, 1 << 20);
      for (size_t o = 0; o < kFile; o += 1 << 20) {
        if (::pwrite(dfd, z, 1 << 20, static_cast<off_t>(o)) != 1 << 20) std::abort();
      }
      std::free(z);
      ::fdatasync(dfd);
      ::close(dfd);
      fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    }
    prep_ms += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    for (size_t o = 0; o < kFile; o += kCommit) {
      if (::pwrite(fd, buf.data(), kCommit, static_cast<off_t>(o)) < 0) std::abort();
      auto s0 = Clock::now();
      if (::fdatasync(fd) != 0) std::abort();
      sync_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - s0).count());
    }
    cpu += thread_cpu() - c0;
    bytes += kFile;
    ::close(fd);
  }
  ::unlink(path.c_str());
  state.counters["cpu_s_per_gb"] = cpu / (static_cast<double>(bytes) / 1e9);
  state.counters["sync_p50_us"] = pct(sync_us, 0.50);
  state.counters["sync_p99_us"] = pct(sync_us, 0.99);
  state.counters["prep_ms"] = prep_ms / static_cast<double>(state.iterations());
}
BENCHMARK(BM_SegmentFirstUse)->ArgName("mode")->DenseRange(0, 4)->Iterations(4)->UseRealTime();

// Where the WAL threads' time goes, from the crash hook's timestamps (per thread).
struct PhaseTimes {
  std::mutex mu;
  std::map<std::string, double> us;  // "A->B" -> total microseconds, A and B on one thread
  uint64_t writes = 0;               // before_write hits
  void hit(std::string_view p) {
    thread_local Clock::time_point last;  // each WAL thread's own previous point
    thread_local std::string_view last_point;
    auto now = Clock::now();
    std::lock_guard<std::mutex> l(mu);
    if (p == "before_write") ++writes;
    if (!last_point.empty()) {
      us[std::string(last_point) + "->" + std::string(p)] +=
          std::chrono::duration<double, std::micro>(now - last).count();
    }
    last = now;
    last_point = p;
  }
  void clear() {
    std::lock_guard<std::mutex> l(mu);
    us.clear();
  }
};

struct WalEnv {
  std::unique_ptr<io::Filesystem> fs = io::make_posix_fs();
  PhaseTimes phases;       // writer thread: before_write, after_write_before_sync
  PhaseTimes sync_phases;  // syncer thread: before_sync, after_sync_before_ack, after_ack
  std::atomic<uint64_t> syncs{0};
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
    // WAL_BENCH_SYNCS=N: fdatasyncs in flight at once (FileWalOptions::max_syncs_in_flight).
    if (const char* n = std::getenv("WAL_BENCH_SYNCS")) o.max_syncs_in_flight = std::stoul(n);
    // WAL_BENCH_GATHER_MIN=N: payloads >= N bytes are written by pwritev from their own buffer
    // (A/B of the copy; a huge N copies everything, as before issue #5).
    if (const char* g = std::getenv("WAL_BENCH_GATHER_MIN")) o.gather_min_payload = std::stoull(g);
    o.crash_hook = [this](std::string_view p) {
      if (p == "before_write" || p == "after_write_before_sync") phases.hit(p);
      if (p == "before_sync" || p == "after_sync_before_ack" || p == "after_ack") {
        sync_phases.hit(p);
        if (p == "before_sync") syncs.fetch_add(1);
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

double process_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Args: payload size, appenders, appends in flight per appender. cpu_s_per_gb is the whole
// process (appenders, WAL threads, trimmer) per GB of payload.

void BM_WalAppend(benchmark::State& state) {
  const size_t size = state.range(0);
  const int appenders = static_cast<int>(state.range(1));
  const int window = static_cast<int>(state.range(2));
  const uint64_t n = window == 1 ? 4000 : 40000;  // appends (closed-loop runs are sync-bound)
  const uint64_t total = std::min<uint64_t>(size * n, 512ull << 20);
  WalEnv& e = env();
  std::vector<double> lat;
  const uint64_t appends0 = e.wal->stats().acked_appends, syncs0 = e.syncs.load();
  const uint64_t writes0 = e.phases.writes;
  e.phases.clear();
  e.sync_phases.clear();
  const double cpu0 = process_cpu_s();
  double secs = 0;
  for (auto _ : state) {
    secs = e.run(size, appenders, window, total, &lat);
    state.SetIterationTime(secs);
  }
  WalStats s = e.wal->stats();
  const double cpu = process_cpu_s() - cpu0;
  const double bytes = static_cast<double>(total / size / appenders * appenders * size);
  state.counters["MB/s"] = bytes / secs / 1e6;
  state.counters["cpu_s_per_gb"] = cpu / (bytes / 1e9);
  state.counters["p50_us"] = pct(lat, 0.50);
  state.counters["p99_us"] = pct(lat, 0.99);
  const double syncs = static_cast<double>(e.syncs.load() - syncs0);
  state.counters["appends_per_sync"] = static_cast<double>(s.acked_appends - appends0) / syncs;
  // Mean microseconds: pwrite per written commit; fdatasync and callbacks per fdatasync.
  state.counters["write_us"] = e.phases.us["before_write->after_write_before_sync"] /
                               static_cast<double>(e.phases.writes - writes0);
  state.counters["sync_us"] = e.sync_phases.us["before_sync->after_sync_before_ack"] / syncs;
  state.counters["ack_us"] = e.sync_phases.us["after_sync_before_ack->after_ack"] / syncs;
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
