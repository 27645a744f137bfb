// Catch-up reads from a store with S3's per-GET latency, several consumers at once, next to raw
// ranged GETs through the same store in the same run (part of objfmt_bench). Two consumers may
// also read one stream from different offsets (consumer groups replaying it).
//
// The store is a MemObjectStore behind a FaultyObjectStore that sleeps kGetLatency before every
// GET: a model of a remote S3 where a 2 MiB ranged GET takes tens of milliseconds and the
// throughput comes from GETs in flight, not from the machine. Local RGW on this machine answers
// in a few milliseconds and is bound by its CPU, so it cannot show whether the reader keeps
// enough GETs in flight for several consumers; this can. Each consumer reads its own stream
// (kStreams streams of kStreamBytes, each in its own objects) sequentially with 1 MiB reads (a
// Kafka consumer's default max.partition.fetch.bytes), through one reader with the broker's
// default options and its default block cache (kDefaultBlockCacheBytes).
#include <benchmark/benchmark.h>

#include <atomic>
#include <random>
#include <thread>

#include "objfmt/bench_util.h"
#include "objfmt/catchup_reader.h"
#include "objstore/faulty_object_store.h"
#include "objstore/mem_object_store.h"

namespace shale::objfmt {
namespace {

constexpr int kStreams = 4;
constexpr size_t kStreamBytes = 256 << 20;
constexpr size_t kLongStreamBytes = size_t{1} << 30;  // one consumer, past its ramp-up
constexpr size_t kObjectBytes = 32 << 20;
constexpr size_t kBatchBytes = 16 << 10;
constexpr size_t kRangeBytes = 2 << 20;  // the reader's largest GET
constexpr auto kGetLatency = std::chrono::milliseconds(40);

struct LatencyFixture {
  objstore::MemObjectStore mem;
  objstore::FaultyObjectStore store{mem};
  std::vector<std::vector<ObjectSlice>> slices;  // per stream
  std::vector<std::pair<std::string, uint64_t>> objects;

  LatencyFixture(int streams, size_t stream_bytes) {
    std::mt19937_64 rng(7);
    for (int s = 0; s < streams; s++) {
      const StreamId stream(100 + s);
      Offset next(0);
      slices.emplace_back();
      for (size_t done = 0; done < stream_bytes; done += kObjectBytes) {
        ObjectSlice sl =
            put_random_object(mem, fmt::format("latency/s{}-{}", s, done / kObjectBytes), stream,
                              &next, rng, kObjectBytes, kBatchBytes);
        sl.bytes = sl.object_size;
        slices.back().push_back(sl);
        objects.emplace_back(sl.key, sl.object_size);
      }
    }
    store.set_latency(static_cast<objstore::StoreOpMask>(objstore::StoreOp::kGet), kGetLatency);
  }
};

LatencyFixture& latency_fixture() {
  static LatencyFixture f(kStreams, kStreamBytes);
  return f;
}

// What one consumer reads: a stream, from the first of these slices to the end of the last.
struct Part {
  StreamId stream;
  std::vector<ObjectSlice> slices;
};

// Every stream of f whole, one consumer each, for the first `consumers` streams.
std::vector<Part> whole_streams(const LatencyFixture& f, int consumers) {
  std::vector<Part> parts;
  for (int c = 0; c < consumers; c++) parts.push_back({StreamId(100 + c), f.slices[c]});
  return parts;
}

// One consumer per part, all catching up at once; each part holds part_bytes.
void catch_up(benchmark::State& state, LatencyFixture& f, const std::vector<Part>& parts,
              size_t part_bytes) {
  const auto consumers = static_cast<int>(parts.size());
  uint64_t bytes = 0;
  CatchUpStats st;
  double wall_s = 0;
  for (auto _ : state) {
    BlockCache cache(kDefaultBlockCacheBytes);
    CatchUpReader r(f.store, cache, {});
    std::atomic<uint64_t> got{0};
    std::vector<std::thread> ts;
    const auto t0 = std::chrono::steady_clock::now();
    for (int c = 0; c < consumers; c++) {
      ts.emplace_back([&, c] { got += read_stream(r, parts[c].stream, parts[c].slices); });
    }
    for (auto& t : ts) t.join();
    wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bytes += got.load();
    state.PauseTiming();
    r.stop();
    st = r.stats();
    state.ResumeTiming();
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  // Of the last iteration: GETs per MiB read (raw: 0.5), blocks the reads had to fetch
  // themselves, and read-ahead GETs in flight on average (the store's rate is 2 MiB per GET in
  // flight per kGetLatency).
  state.counters["gets_per_mib"] = static_cast<double>(st.gets) / (part_bytes >> 20) / consumers;
  state.counters["misses"] = static_cast<double>(st.block_misses);
  state.counters["ra_in_flight"] = static_cast<double>(st.prefetch_us) / 1e6 / wall_s;
}

// range(0) consumers of 256 MiB each.
void BM_CatchUpManyConsumersHighLatency(benchmark::State& state) {
  LatencyFixture& f = latency_fixture();
  catch_up(state, f, whole_streams(f, static_cast<int>(state.range(0))), kStreamBytes);
}
BENCHMARK(BM_CatchUpManyConsumersHighLatency)
    ->Arg(1)
    ->Arg(2)
    ->Arg(4)
    ->ArgNames({"consumers"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// One consumer of one 1 GiB stream: the first ~5 GET latencies, while its window grows, weigh a
// quarter as much as in a 256 MiB catch-up.
LatencyFixture& long_fixture() {
  static LatencyFixture f(1, kLongStreamBytes);
  return f;
}

void BM_CatchUpLongStreamHighLatency(benchmark::State& state) {
  LatencyFixture& f = long_fixture();
  catch_up(state, f, whole_streams(f, 1), kLongStreamBytes);
}
BENCHMARK(BM_CatchUpLongStreamHighLatency)->UseRealTime()->Unit(benchmark::kMillisecond);

// Two consumer groups replaying one stream at once, one from its start and one from its middle
// (512 MiB each): each has its own read-ahead GETs, as two consumers of two streams do.
void BM_CatchUpTwoConsumersOfOneStreamHighLatency(benchmark::State& state) {
  LatencyFixture& f = long_fixture();
  const auto& all = f.slices[0];
  const auto half = all.begin() + static_cast<std::ptrdiff_t>(all.size() / 2);
  catch_up(state, f, {{StreamId(100), {all.begin(), half}}, {StreamId(100), {half, all.end()}}},
           kLongStreamBytes / 2);
}
BENCHMARK(BM_CatchUpTwoConsumersOfOneStreamHighLatency)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The store's limit for the same data: range(0) readers GET every object in 2 MiB ranges.
void BM_RawRangedGetHighLatency(benchmark::State& state) {
  LatencyFixture& f = latency_fixture();
  const int readers = static_cast<int>(state.range(0));
  std::vector<std::pair<std::string, objstore::ByteRange>> ranges;
  for (const auto& [key, size] : f.objects) {
    for (uint64_t off = 0; off < size; off += kRangeBytes) {
      ranges.emplace_back(key, objstore::ByteRange::at(off, std::min(kRangeBytes, size - off)));
    }
  }
  uint64_t bytes = 0;
  for (auto _ : state) {
    std::atomic<size_t> next{0};
    std::atomic<uint64_t> got{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < readers; t++) {
      ts.emplace_back([&] {
        for (size_t i; (i = next.fetch_add(1)) < ranges.size();) {
          auto res = f.store.get(ranges[i].first, ranges[i].second);
          if (!res.ok()) std::abort();
          got += res->data.size();
        }
      });
    }
    for (auto& t : ts) t.join();
    bytes += got.load();
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_RawRangedGetHighLatency)
    ->Arg(8)
    ->Arg(16)
    ->Arg(32)
    ->ArgNames({"readers"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace shale::objfmt
