// meta_bench: latency and throughput of EmbeddedMetaStore on the real disk (PosixFs, real
// fdatasync), and recovery time. Usage: meta_bench [dir] (default: a fresh dir under /tmp).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "io/test_util.h"
#include "meta/embedded_meta_store.h"

using namespace shale;
using Clock_ = std::chrono::steady_clock;

static double us_since(Clock_::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock_::now() - t0).count();
}

int main(int argc, char** argv) {
  io::TempDir tmp;
  const std::string dir = (argc > 1 ? std::string(argv[1]) : tmp.path()) + "/meta";
  auto fs = io::make_posix_fs();
  auto s = meta::open_embedded_meta(*fs, dir, SystemClock::instance()).value();
  const std::string value(200, 'v');

  std::vector<double> lat;
  for (int i = 0; i < 2000; ++i) {
    auto t0 = Clock_::now();
    if (!s->put(fmt::format("streams/{}/state", i % 500), value).ok()) return 1;
    lat.push_back(us_since(t0));
  }
  std::sort(lat.begin(), lat.end());
  std::printf(
      "put 1 thread: p50 %.0f us  p99 %.0f us  (%.0f ops/s)\n", lat[lat.size() / 2],
      lat[lat.size() * 99 / 100], 1e6 * lat.size() / [&] {
        double t = 0;
        for (double v : lat) t += v;
        return t;
      }());

  for (int threads : {4, 16}) {
    auto t0 = Clock_::now();
    const int per = 500;
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        for (int i = 0; i < per; ++i) {
          meta::Txn txn;
          const std::string k = fmt::format("t{}/{}", t, i % 50);
          txn.compares = {meta::Compare{
              k, meta::Compare::Target::kVersion, meta::Compare::Op::kGreater, -1, {}}};
          txn.success = {meta::PutOp{k, value}};
          if (!s->txn(txn).ok()) std::abort();
        }
      });
    }
    for (auto& t : ts) t.join();
    double secs = us_since(t0) / 1e6;
    std::printf("txn %d threads: %.0f ops/s\n", threads, threads * per / secs);
  }

  auto t0 = Clock_::now();
  for (int i = 0; i < 100000; ++i) {
    if (!s->get(fmt::format("streams/{}/state", i % 500)).ok()) return 1;
  }
  std::printf("get: %.2f us/op\n", us_since(t0) / 100000);

  const int64_t rev = s->revision().value();
  s.reset();
  t0 = Clock_::now();
  s = meta::open_embedded_meta(*fs, dir, SystemClock::instance()).value();
  std::printf("recovery of revision %ld (%lu journal records): %.1f ms\n", rev,
              static_cast<unsigned long>(s->recovery_stats().records_replayed), us_since(t0) / 1e3);
  t0 = Clock_::now();
  if (!s->snapshot_now().ok()) return 1;
  std::printf("snapshot: %.1f ms\n", us_since(t0) / 1e3);
  s.reset();
  t0 = Clock_::now();
  s = meta::open_embedded_meta(*fs, dir, SystemClock::instance()).value();
  std::printf("recovery from snapshot: %.1f ms\n", us_since(t0) / 1e3);
  return 0;
}
