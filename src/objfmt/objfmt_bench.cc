// objfmt_bench: catch-up read throughput from a LocalObjectStore on the real disk, next to the raw
// read bandwidth of the very same object files in the same run, plus cached reads and the
// builder/decoder. Data lives in $SHALE_BENCH_DIR (default ./objfmt-bench-data), written once
// per run (128 MiB of one stream in 512 KiB blocks of 16 KiB batches, 4 objects).
//
// "cold" variants drop the object files from the page cache first (posix_fadvise DONTNEED on
// our own files only), so they measure the disk; the others read from the page cache.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <random>

#include "io/fs.h"
#include "objfmt/bench_util.h"
#include "objfmt/catchup_reader.h"
#include "objfmt/object.h"
#include "objstore/local_object_store.h"
#include "objstore/store_util.h"

namespace shale::objfmt {

uint64_t read_stream(CatchUpReader& r, StreamId stream, const std::vector<ObjectSlice>& slices) {
  uint64_t bytes = 0;
  Offset from = slices.front().start;
  while (from < slices.back().end) {
    std::promise<Result<CatchUpResult>> p;
    if (!r.read(stream, from, 1 << 20, slices, [&](auto res) {
            p.set_value(std::move(res));
          }).ok()) {
      std::abort();
    }
    auto res = p.get_future().get();
    if (!res.ok() || res->batches.empty()) std::abort();
    bytes += res->bytes;
    from = res->next;
  }
  return bytes;
}

ObjectSlice put_random_object(objstore::ObjectStore& store, const std::string& key, StreamId stream,
                              Offset* next, std::mt19937_64& rng, size_t object_bytes,
                              size_t batch_bytes) {
  ObjectBuilder b;
  ObjectSlice sl{key, 0, *next, *next};
  while (b.bytes() < object_bytes) {
    std::vector<uint8_t> v(batch_bytes);
    for (size_t i = 0; i + 8 <= v.size(); i += 8) {
      const uint64_t x = rng();
      std::memcpy(&v[i], &x, 8);
    }
    (void)b.add(stream, *next, 10, next->value(), Buf::take(std::move(v)));
    *next = *next + 10;
  }
  auto built = b.finish();
  sl.end = *next;
  sl.object_size = built.size;
  if (!store.put(sl.key, built.parts).ok()) std::abort();
  return sl;
}

namespace {

constexpr StreamId kStream(1);
constexpr size_t kBatch = 16 * 1024;
constexpr int kObjects = 4;
constexpr size_t kObjectBytes = 32 << 20;

struct Fixture {
  std::unique_ptr<io::Filesystem> fs = io::make_posix_fs();
  std::unique_ptr<objstore::LocalObjectStore> store;
  std::vector<ObjectSlice> slices;
  std::vector<std::string> files;
  uint64_t total = 0;  // batch payload bytes

  Fixture() {
    const char* env = std::getenv("SHALE_BENCH_DIR");
    std::string dir = std::filesystem::absolute(env ? env : "objfmt-bench-data").string();
    std::filesystem::remove_all(dir);
    auto st = objstore::LocalObjectStore::open(*fs, dir);
    if (!st.ok()) {
      fprintf(stderr, "open %s: %s\n", dir.c_str(), st.error().to_string().c_str());
      std::abort();
    }
    store = std::move(*st);
    std::mt19937_64 rng(1);
    Offset next(0);
    for (int o = 0; o < kObjects; o++) {
      ObjectSlice sl = put_random_object(*store, fmt::format("bench/obj-{}", o), kStream, &next,
                                         rng, kObjectBytes, kBatch);
      total += static_cast<uint64_t>(sl.end - sl.start) / 10 * kBatch;
      slices.push_back(sl);
      files.push_back(dir + "/objects/" + objstore::local_object_path(sl.key).value());
    }
    for (const auto& f : files) {
      if (access(f.c_str(), R_OK) != 0) {
        fprintf(stderr, "object file %s not found (key escaping changed?)\n", f.c_str());
        std::abort();
      }
    }
  }

  void drop_page_cache() {
    for (const auto& f : files) {
      int fd = ::open(f.c_str(), O_RDONLY);
      if (fd < 0) continue;
      (void)::fdatasync(fd);
      (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      ::close(fd);
    }
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

uint64_t read_all(CatchUpReader& r, Fixture& f) {
  return read_stream(r, kStream, f.slices);
}

void BM_RawFileRead(benchmark::State& state) {
  Fixture& f = fixture();
  const bool cold = state.range(0);
  std::vector<uint8_t> buf(1 << 20);
  uint64_t bytes = 0;
  for (auto _ : state) {
    if (cold) {
      state.PauseTiming();
      f.drop_page_cache();
      state.ResumeTiming();
    }
    for (const auto& file : f.files) {
      int fd = ::open(file.c_str(), O_RDONLY);
      off_t off = 0;
      ssize_t n;
      while ((n = ::pread(fd, buf.data(), buf.size(), off)) > 0) off += n;
      ::close(fd);
      bytes += off;
    }
  }
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_RawFileRead)
    ->Arg(0)
    ->Arg(1)
    ->ArgNames({"cold"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_CatchUpRead(benchmark::State& state) {
  Fixture& f = fixture();
  const bool cold = state.range(0);
  CatchUpReaderOptions opts;
  opts.max_readahead_bytes = state.range(1) << 20;
  uint64_t bytes = 0;
  for (auto _ : state) {
    state.PauseTiming();
    if (cold) f.drop_page_cache();
    BlockCache cache(64 << 20);  // fresh: every block comes from the store
    CatchUpReader r(*f.store, cache, opts);
    state.ResumeTiming();
    bytes += read_all(r, f);
    state.PauseTiming();
    r.stop();
    state.ResumeTiming();
  }
  state.SetBytesProcessed(bytes);
}
// readahead_mib 0: the window never exceeds one block.
BENCHMARK(BM_CatchUpRead)
    ->Args({0, 8})
    ->Args({1, 8})
    ->Args({1, 0})
    ->ArgNames({"cold", "readahead_mib"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_CatchUpCachedRead(benchmark::State& state) {
  Fixture& f = fixture();
  BlockCache cache(256 << 20);  // holds everything
  CatchUpReader r(*f.store, cache, {});
  read_all(r, f);
  r.wait_idle();
  uint64_t bytes = 0;
  for (auto _ : state) bytes += read_all(r, f);
  state.SetBytesProcessed(bytes);
  state.counters["store_gets"] = static_cast<double>(r.stats().gets);
}
BENCHMARK(BM_CatchUpCachedRead)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_BuildAndDecode(benchmark::State& state) {
  std::vector<Buf> batches;
  for (int i = 0; i < 512; i++) batches.push_back(Buf::zeros(kBatch));
  uint64_t bytes = 0;
  for (auto _ : state) {
    ObjectBuilder b;
    Offset next(0);
    for (const Buf& batch : batches) {
      (void)b.add(kStream, next, 10, 0, batch);
      next = next + 10;
    }
    auto built = b.finish();
    // Decode every block from one contiguous copy, as a range GET would deliver it.
    std::vector<uint8_t> flat;
    flat.reserve(built.size);
    for (const Buf& p : built.parts) flat.insert(flat.end(), p.data(), p.data() + p.size());
    Buf obj = Buf::take(std::move(flat));
    for (const auto& e : built.index) {
      auto dec = decode_block(obj.slice(e.position, e.size), e);
      if (!dec.ok()) std::abort();
      benchmark::DoNotOptimize(dec->size());
    }
    bytes += built.size;
  }
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_BuildAndDecode)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace shale::objfmt

BENCHMARK_MAIN();
