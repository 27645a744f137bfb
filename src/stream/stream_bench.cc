// Micro-benchmarks of the whole stream store on the real disk (FileWal with fdatasync,
// LocalObjectStore, embedded metadata under $TMPDIR): append throughput/latency, cached tail
// reads and catch-up reads from objects; and open() on a new owner vs the size of the object index
// (in memory: it measures the index read, not the disk).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>

#include "io/mem_fs.h"
#include "meta/embedded_meta_store.h"
#include "objstore/local_object_store.h"
#include "stream/stream_store_impl.h"
#include "wal/file_wal.h"

namespace shale::stream {
namespace {

struct Env {
  std::string dir;
  std::unique_ptr<io::Filesystem> fs = io::make_posix_fs();
  std::unique_ptr<objstore::LocalObjectStore> objects;
  std::unique_ptr<meta::EmbeddedMetaStore> meta;
  std::unique_ptr<wal::FileWal> wal;
  std::unique_ptr<StreamStoreImpl> store;

  Env() {
    dir = std::filesystem::temp_directory_path() /
          ("shale_stream_bench_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    (void)fs->mkdirs(dir);
    objects = objstore::LocalObjectStore::open(*fs, dir + "/objects").value();
    meta = meta::open_embedded_meta(*fs, dir + "/meta", SystemClock::instance()).value();
    wal::FileWalOptions wo;
    wo.dir = dir + "/wal";
    wo.segment_size = 64 << 20;
    wo.max_total_size = 1 << 30;
    wal = std::make_unique<wal::FileWal>(*fs, wo);
    StoreOptions so;
    so.log_cache_bytes = 16 << 20;
    so.upload_threshold_bytes = 4 << 20;
    store = open_stream_store(so, *wal, *objects, *meta, SystemClock::instance());
    if (!store->start().ok()) std::abort();
  }
  ~Env() {
    store->stop();
    store.reset();
    wal.reset();
    std::filesystem::remove_all(dir);
  }
  static Env& get() {
    static Env e;
    return e;
  }
};

Buf batch(size_t n) {
  Buf b = Buf::zeros(n);
  b.mutable_data()[16] = 2;
  return b;
}

// Appends with `window` appends in flight (1 = one synchronous append at a time: latency).
void BM_Append(benchmark::State& state) {
  Env& e = Env::get();
  const size_t size = static_cast<size_t>(state.range(0));
  const int window = static_cast<int>(state.range(1));
  StreamId id = *e.store->create();
  Epoch ep(1);
  (void)e.store->open(id, ep);
  std::mutex mu;
  std::condition_variable cv;
  int inflight = 0;
  for (auto _ : state) {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return inflight < window; });
    inflight++;
    lk.unlock();
    e.store->append(id, ep, batch(size), 1, [&](Result<AppendResult> r) {
      if (!r.ok()) std::abort();
      std::lock_guard g(mu);
      inflight--;
      cv.notify_all();
    });
  }
  std::unique_lock lk(mu);
  cv.wait(lk, [&] { return inflight == 0; });
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(size));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Append)->Args({1024, 1})->Args({1024, 64})->Args({16384, 64})->UseRealTime();

void BM_CachedRead(benchmark::State& state) {
  Env& e = Env::get();
  StreamId id = *e.store->create();
  (void)e.store->open(id, Epoch(1));
  for (int i = 0; i < 1000; ++i) (void)e.store->append_sync(id, Epoch(1), batch(1024), 1);
  int64_t at = 0;
  for (auto _ : state) {
    auto r = e.store->try_read_cached(id, Offset(at), 64 << 10);
    if (!r || !r->ok()) std::abort();
    benchmark::DoNotOptimize(r);
    at = (at + 64) % 1000;
  }
  state.SetBytesProcessed(state.iterations() * 64 * 1024);
}
BENCHMARK(BM_CachedRead)->UseRealTime();

// Sequential catch-up reads (1 MiB per read) of the first 96 MiB of a 128 MiB stream: only in
// objects (the 16 MiB log cache holds the tail).
void BM_CatchUpRead(benchmark::State& state) {
  Env& e = Env::get();
  StreamId id = *e.store->create();
  (void)e.store->open(id, Epoch(1));
  const int n = 128 * 1024 / 16;  // 16 KiB batches
  for (int i = 0; i < n; ++i) (void)e.store->append_sync(id, Epoch(1), batch(16384), 1);
  (void)e.store->close(id);
  int64_t at = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    state.PauseTiming();
    if (at >= n * 3 / 4) at = 0;
    state.ResumeTiming();
    Offset from(at);
    auto r = e.store->read_sync(id, from, 1 << 20);
    if (!r.ok() || r->batches.empty()) std::abort();
    for (auto& b : r->batches) bytes += static_cast<int64_t>(b.size());
    at += static_cast<int64_t>(r->batches.size());
  }
  state.SetBytesProcessed(bytes);
  state.counters["cold_reads"] = static_cast<double>(e.store->stats().cold_reads);
}
BENCHMARK(BM_CatchUpRead)->UseRealTime();

// open() of a stream on node B after node A uploaded one more object of it, with `n` other object
// records in the metadata store (other streams' history; records only: open never reads object
// bytes). B read the index at its start. range(1) = 1: B's index is older than
// delete_grace_ms / 2 at every open, so open re-reads every record (what every open did before
// the incremental read); 0: open reads only the new records and the pending deletes.
void BM_OpenOnNewOwner(benchmark::State& state) {
  const int64_t n = state.range(0);
  const bool stale = state.range(1) != 0;
  io::MemFs fs(1);
  ManualClock clock;
  auto meta = meta::make_mem_meta(clock);
  auto objects = objstore::LocalObjectStore::open(fs, "/objects").value();
  StoreOptions so;
  so.background = false;
  so.delete_grace_ms = 60'000;
  auto make_wal = [&](const std::string& dir) {
    wal::FileWalOptions wo;
    wo.dir = dir;
    wo.segment_size = 1 << 20;
    wo.max_total_size = 8 << 20;
    return std::make_unique<wal::FileWal>(fs, wo);
  };
  auto wal_a = make_wal("/wa"), wal_b = make_wal("/wb");
  so.node = NodeId(1);
  auto a = open_stream_store(so, *wal_a, *objects, *meta, clock);
  so.node = NodeId(2);
  auto b = open_stream_store(so, *wal_b, *objects, *meta, clock);
  if (!a->start().ok()) std::abort();
  StreamId id = *a->create();
  for (int64_t i = 0; i < n; i += 500) {  // the history: n object records of another stream
    meta::Txn t;
    for (int64_t j = i; j < std::min(n, i + 500); ++j) {
      ObjectRecord r;
      r.id = ObjectId(1 + j);  // ids come from the counter, set below
      r.key = "history/" + std::to_string(j);
      r.size = 1 << 20;
      r.ranges.push_back(
          ObjectRange{StreamId(999'999), Offset(j * 100), Offset(j * 100 + 100), 1 << 20, 0});
      t.success.push_back(meta::PutOp{object_key(r.id), encode(r), LeaseId(0)});
    }
    if (!meta->txn(t).ok()) std::abort();
  }
  if (!meta->put(std::string(kObjectIdCounter), std::to_string(n + 1)).ok()) std::abort();
  if (!b->start().ok()) std::abort();
  int64_t epoch = 0;
  for (auto _ : state) {
    state.PauseTiming();
    if (!a->open(id, Epoch(++epoch)).ok()) std::abort();
    if (!a->append_sync(id, Epoch(epoch), batch(1024), 1).ok()) std::abort();
    if (!a->close(id).ok()) std::abort();
    if (stale) clock.advance(std::chrono::seconds(31));
    state.ResumeTiming();
    if (!b->open(id, Epoch(++epoch)).ok()) std::abort();
    state.PauseTiming();
    if (!b->close(id).ok()) std::abort();
    state.ResumeTiming();
  }
  state.counters["full_reads"] = static_cast<double>(b->stats().index_full_reads);
  b->stop();
  a->stop();
}
BENCHMARK(BM_OpenOnNewOwner)
    ->ArgsProduct({{1000, 10000, 100000}, {0, 1}})
    ->Iterations(20)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace
}  // namespace shale::stream

BENCHMARK_MAIN();
