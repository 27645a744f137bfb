// objstore_bench: LocalObjectStore on the real disk (PosixFs, real fsync): put latency and
// throughput for object sizes an uploader produces, full and ranged get.
// Usage: objstore_bench [dir] (default: a fresh dir under /tmp).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "io/test_util.h"
#include "objstore/local_object_store.h"

using namespace shale;
using Clock_ = std::chrono::steady_clock;

static double us_since(Clock_::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock_::now() - t0).count();
}

constexpr int kPer = 16;

int main(int argc, char** argv) {
  io::TempDir tmp;
  const std::string root = (argc > 1 ? std::string(argv[1]) : tmp.path()) + "/objects";
  auto fs = io::make_posix_fs();
  auto store = objstore::LocalObjectStore::open(*fs, root).value();
  for (size_t size : {size_t{64} << 10, size_t{1} << 20, size_t{8} << 20}) {
    Buf data = Buf::zeros(size);
    const int n = size >= (8u << 20) ? 20 : 100;
    std::vector<double> lat;
    auto t0 = Clock_::now();
    for (int i = 0; i < n; ++i) {
      auto t = Clock_::now();
      if (!store->put(fmt::format("bench/{}/{:06d}", size, i), data).ok()) return 1;
      lat.push_back(us_since(t));
    }
    double secs = us_since(t0) / 1e6;
    std::sort(lat.begin(), lat.end());
    std::printf("put %7zu B: p50 %7.0f us  p99 %7.0f us  %7.1f MB/s\n", size, lat[n / 2],
                lat[n * 99 / 100], n * size / secs / 1e6);
    t0 = Clock_::now();
    for (int i = 0; i < n; ++i) {
      if (!store->get(fmt::format("bench/{}/{:06d}", size, i)).ok()) return 1;
    }
    std::printf("get %7zu B: %7.0f us/op  %7.1f MB/s (page cache)\n", size, us_since(t0) / n,
                n * size / (us_since(t0) / 1e6) / 1e6);
  }
  {
    // Uploaders run in parallel: 8 threads putting 1 MiB objects.
    Buf data = Buf::zeros(1 << 20);
    constexpr int kThreads = 8;
    auto t0 = Clock_::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; ++t) {
      ts.emplace_back([&, t] {
        for (int i = 0; i < kPer; ++i) {
          if (!store->put(fmt::format("par/{}/{}", t, i), data).ok()) std::abort();
        }
      });
    }
    for (auto& t : ts) t.join();
    double secs = us_since(t0) / 1e6;
    std::printf("put 1 MiB x %d threads: %.1f MB/s, %.0f objects/s\n", kThreads,
                kThreads * kPer * (1 << 20) / secs / 1e6, kThreads * kPer / secs);
  }
  auto t0 = Clock_::now();
  for (int i = 0; i < 1000; ++i) {
    if (!store
             ->get(fmt::format("bench/{}/{:06d}", 1 << 20, i % 100),
                   objstore::ByteRange::at((i * 4096) % (1 << 20), 4096))
             .ok()) {
      return 1;
    }
  }
  std::printf("ranged get 4 KiB: %.1f us/op\n", us_since(t0) / 1000);
  t0 = Clock_::now();
  auto page = store->list("bench/");
  std::printf("list %zu objects: %.1f ms\n", page->objects.size(), us_since(t0) / 1e3);
  // head() is a stat, whatever the object's size; list(prefix) reads only the prefix's
  // directory, however many objects live elsewhere.
  t0 = Clock_::now();
  for (int i = 0; i < 1000; ++i) {
    if (!store->head(fmt::format("bench/{}/{:06d}", 8 << 20, i % 20)).ok()) return 1;
  }
  std::printf("head of an 8 MiB object: %.1f us/op\n", us_since(t0) / 1000);
  t0 = Clock_::now();
  for (int i = 0; i < 100; ++i) {
    page = store->list(fmt::format("par/{}/", i % 8));
    if (!page.ok() || page->objects.size() != kPer) return 1;
  }
  std::printf("list a prefix of %d objects (of %zu in the store): %.1f us/op\n", kPer,
              store->list("")->objects.size(), us_since(t0) / 100);
  return 0;
}
