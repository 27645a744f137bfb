#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <future>
#include <latch>
#include <random>
#include <set>
#include <thread>

#include "objfmt/catchup_reader.h"
#include "objfmt/test_util.h"

namespace shale::objfmt {
namespace {

using testing::CountingStore;
using testing::GatedStore;
using testing::make_batch;
using testing::TestStore;

struct Batch {
  Offset base;
  int32_t count;
  int64_t ts;
  Buf data;
  Offset end() const { return base + count; }
};

// Objects holding streams kStream (the one read) and kOther, interleaved.
constexpr StreamId kStream(5);
constexpr StreamId kOther(6);

class CatchUpTest : public ::testing::Test {
 protected:
  // Writes `objects` objects; each holds `per_object` batches of kStream (count 4, `size`
  // bytes) preceded by a few batches of kOther.
  void write_objects(int objects, int per_object, size_t size, size_t target) {
    Offset next(100);
    Offset other(0);
    for (int o = 0; o < objects; o++) {
      ObjectBuilder b(target);
      for (int i = 0; i < 3; i++) {
        ASSERT_TRUE(b.add(kOther, other, 2, 0, make_batch(kOther, other, 500)).ok());
        other = other + 2;
      }
      ObjectSlice sl{fmt::format("obj/{}", o), 0, next, next};
      for (int i = 0; i < per_object; i++) {
        Batch bt{next, 4, 1000 + next.value(), make_batch(kStream, next, size)};
        ASSERT_TRUE(b.add(kStream, bt.base, bt.count, bt.ts, bt.data).ok());
        batches_.push_back(bt);
        next = next + 4;
      }
      auto built = b.finish();
      sl.end = next;
      sl.object_size = built.size;
      ASSERT_TRUE(inner_.put(sl.key, built.parts).ok());
      slices_.push_back(sl);
    }
  }

  Result<CatchUpResult> read(CatchUpReader& r, Offset from, size_t max_bytes,
                             std::vector<ObjectSlice> slices = {}) {
    std::promise<Result<CatchUpResult>> p;
    auto caller = std::this_thread::get_id();
    Status st = r.read(kStream, from, max_bytes, slices.empty() ? slices_ : slices,
                       [&](Result<CatchUpResult> res) {
                         EXPECT_NE(std::this_thread::get_id(), caller);
                         p.set_value(std::move(res));
                       });
    if (!st.ok()) return st.error();
    return p.get_future().get();
  }

  // The expected batches from the one containing `from`, within max_bytes (at least one).
  std::vector<Batch> expected(Offset from, size_t max_bytes) {
    std::vector<Batch> out;
    size_t bytes = 0;
    for (const Batch& b : batches_) {
      if (b.end() <= from) continue;
      if (!out.empty() && bytes + b.data.size() > max_bytes) break;
      bytes += b.data.size();
      out.push_back(b);
    }
    return out;
  }

  void expect_batches(const Result<CatchUpResult>& res, Offset from, size_t max_bytes) {
    ASSERT_TRUE(res.ok()) << res.error().to_string();
    auto want = expected(from, max_bytes);
    ASSERT_EQ(res->batches.size(), want.size()) << "from " << from.value();
    for (size_t i = 0; i < want.size(); i++) {
      EXPECT_EQ(res->batches[i].base, want[i].base);
      EXPECT_EQ(res->batches[i].count, want[i].count);
      EXPECT_TRUE(res->batches[i].batch == want[i].data);
    }
    if (!want.empty()) {
      EXPECT_EQ(res->next, want.back().end());
    }
  }

  TestStore inner_;
  CountingStore store_{inner_};
  std::vector<Batch> batches_;
  std::vector<ObjectSlice> slices_;
};

TEST_F(CatchUpTest, ExactBatchesAcrossBlockAndObjectBoundaries) {
  write_objects(3, 40, 3000, 10 * 1024);  // ~3 batches per block, ~14 blocks per object
  BlockCache cache(64 << 20);
  CatchUpReader r(store_, cache, {});
  const Offset first = slices_[0].start;
  const Offset obj1 = slices_[1].start;
  for (Offset from : {first, first + 1, first + 3, first + 4, first + 13, obj1 - 1, obj1, obj1 + 2,
                      slices_[2].end - 1}) {
    for (size_t max : {size_t{1}, size_t{3000}, size_t{6500}, size_t{40000}, size_t{1} << 30}) {
      expect_batches(read(r, from, max), from, max);
    }
  }
}

TEST_F(CatchUpTest, EndsAndOutOfRange) {
  write_objects(2, 10, 1000, 4096);
  BlockCache cache(1 << 20);
  CatchUpReader r(store_, cache, {});
  auto past = read(r, slices_[1].end, 1 << 20);
  ASSERT_TRUE(past.ok());
  EXPECT_TRUE(past->batches.empty());
  EXPECT_EQ(past->next, slices_[1].end);
  EXPECT_EQ(read(r, slices_[0].start - 1, 100).code(), Errc::kOutOfRange);
  // A gap between slices stops the read at the gap.
  std::vector<ObjectSlice> gappy = slices_;
  gappy[1].start = gappy[1].start + 4;
  auto res = read(r, slices_[0].start, 1 << 30, gappy);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->next, slices_[0].end);
  EXPECT_EQ(r.read(kStream, Offset(0), 1, {}, [](auto) {}).code(), Errc::kInvalidArgument);
}

TEST_F(CatchUpTest, SliceNarrowerThanObjectIsRespected) {
  write_objects(1, 20, 1000, 4096);
  BlockCache cache(1 << 20);
  CatchUpReader r(store_, cache, {});
  std::vector<ObjectSlice> narrow = slices_;
  narrow[0].end = narrow[0].start + 40;  // first 10 batches only
  auto res = read(r, narrow[0].start, 1 << 30, narrow);
  ASSERT_TRUE(res.ok());
  ASSERT_EQ(res->batches.size(), 10u);
  EXPECT_EQ(res->next, narrow[0].end);
}

TEST_F(CatchUpTest, ReadAheadGrowsOnSequentialReads) {
  // One object, 64 blocks of one 8000-byte batch each.
  write_objects(1, 64, 8000, 8000);
  BlockCache cache(64 << 20);
  CatchUpReaderOptions opts;
  opts.max_readahead_bytes = 16 * (8000 + kRecordHeaderSize);  // 16 blocks
  CatchUpReader r(store_, cache, opts);
  Offset from = slices_[0].start;
  std::vector<uint64_t> windows;
  for (int i = 0; i < 64; i++) {
    auto res = read(r, from, 1);  // one batch (= one block) per read
    expect_batches(res, from, 1);
    from = res->next;
    r.wait_idle();  // let the prefetch land, for deterministic counts
    windows.push_back(r.stats().last_window_blocks);
  }
  auto s = r.stats();
  EXPECT_EQ(s.reads, 64u);
  EXPECT_EQ(s.sequential_reads, 63u);
  EXPECT_EQ(s.block_misses, 1u);  // only the very first block
  EXPECT_EQ(s.block_hits, 63u);
  EXPECT_EQ(s.prefetch_blocks, 63u);
  // Windows 1 (random), 2 (the first sequential read), then the bound, 16: far fewer GETs
  // than blocks. (Until 2026-11-27 the window doubled all the way: 1, 2, 4, 8, 16.)
  EXPECT_EQ(windows[0], 1u);
  EXPECT_EQ(windows[1], 2u);
  EXPECT_EQ(windows[2], 16u);
  EXPECT_EQ(*std::max_element(windows.begin(), windows.end()), 16u);
  EXPECT_LE(s.prefetch_gets, 12u);  // windows are re-planned from the read position
  EXPECT_EQ(store_.gets.load(), 1 + 1 + s.prefetch_gets);  // layout + first miss + prefetches
  EXPECT_EQ(s.gets, 1 + s.prefetch_gets);
}

TEST_F(CatchUpTest, ReadAheadResetsOnRandomAccess) {
  write_objects(1, 200, 4000, 4000);  // one batch per block
  BlockCache cache(64 << 20);
  CatchUpReaderOptions opts;
  opts.max_readahead_bytes = 32 * (4000 + kRecordHeaderSize);
  CatchUpReader r(store_, cache, opts);
  Offset from = slices_[0].start;
  for (int i = 0; i < 10; i++) {
    auto res = read(r, from, 1);
    ASSERT_TRUE(res.ok());
    from = res->next;
    r.wait_idle();
  }
  EXPECT_GE(r.stats().last_window_blocks, 8u);
  // Jump far ahead, beyond anything prefetched: a miss, and the window starts over.
  const auto before = r.stats();
  Offset jump = slices_[0].start + 4 * 150;
  expect_batches(read(r, jump, 1), jump, 1);
  r.wait_idle();
  auto after = r.stats();
  EXPECT_EQ(after.block_misses, before.block_misses + 1);
  EXPECT_EQ(after.sequential_reads, before.sequential_reads);
  EXPECT_EQ(after.last_window_blocks, 1u);
  EXPECT_EQ(after.prefetch_blocks, before.prefetch_blocks + 1);
  // Continuing from the jump is sequential again and grows again: 2 blocks, then the bound.
  from = jump + 4;
  std::vector<uint64_t> windows;
  for (int i = 0; i < 2; i++) {
    auto res = read(r, from, 1);
    ASSERT_TRUE(res.ok());
    from = res->next;
    r.wait_idle();
    windows.push_back(r.stats().last_window_blocks);
  }
  EXPECT_EQ(windows, (std::vector<uint64_t>{2, 32}));
}

TEST_F(CatchUpTest, TwoConsumersKeepSeparateWindows) {
  write_objects(1, 100, 4000, 4000);
  BlockCache cache(64 << 20);
  CatchUpReader r(store_, cache, {});
  Offset a = slices_[0].start, b = slices_[0].start + 4 * 50;
  for (int i = 0; i < 6; i++) {
    auto ra = read(r, a, 1);
    ASSERT_TRUE(ra.ok());
    a = ra->next;
    auto rb = read(r, b, 1);
    ASSERT_TRUE(rb.ok());
    b = rb->next;
    r.wait_idle();
  }
  EXPECT_EQ(r.stats().sequential_reads, 10u);  // all but each consumer's first read
  EXPECT_EQ(r.stats().block_misses, 2u);
}

TEST_F(CatchUpTest, LayoutIsCachedAndReadsShareCache) {
  write_objects(2, 10, 1000, 4096);
  BlockCache cache(64 << 20);
  CatchUpReader r(store_, cache, {});
  expect_batches(read(r, slices_[0].start, 1 << 30), slices_[0].start, 1 << 30);
  r.wait_idle();
  const uint64_t gets = store_.gets.load();
  EXPECT_EQ(r.stats().layout_gets, 2u);
  expect_batches(read(r, slices_[0].start, 1 << 30), slices_[0].start, 1 << 30);
  r.wait_idle();
  EXPECT_EQ(store_.gets.load(), gets);  // everything from caches
  auto l = r.layout(slices_[1].key);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ((*l)->object_size, slices_[1].object_size);
}

TEST_F(CatchUpTest, ConcurrentRandomReadsAreExact) {
  write_objects(3, 60, 2000, 8192);
  BlockCache cache(200 * 1024);  // smaller than the data: evictions under load
  CatchUpReaderOptions opts;
  opts.threads = 3;
  CatchUpReader r(store_, cache, opts);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; t++) {
    ts.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 60; i++) {
        Offset from = slices_[0].start + static_cast<int64_t>(rng() % (4 * 180));
        size_t max = 1 + rng() % 30000;
        expect_batches(read(r, from, max), from, max);
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_GT(cache.stats().evictions, 0u);
}

TEST_F(CatchUpTest, CorruptBlockIsReported) {
  write_objects(1, 10, 1000, 2048);
  auto bytes = inner_.bytes(slices_[0].key);
  bytes[3 * 2048 + 100] ^= 1;  // somewhere in a middle block of kStream
  inner_.set_bytes(slices_[0].key, bytes);
  BlockCache cache(1 << 20);
  CatchUpReader r(store_, cache, {});
  auto res = read(r, slices_[0].start, 1 << 30);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.code(), Errc::kCorruption);
  EXPECT_NE(res.error().message.find(slices_[0].key), std::string::npos);
}

TEST_F(CatchUpTest, OffsetForTimestamp) {
  write_objects(2, 30, 1000, 4096);  // batch max ts = 1000 + base
  BlockCache cache(1 << 20);
  CatchUpReader r(store_, cache, {});
  auto lookup = [&](int64_t ts) {
    std::promise<Result<std::optional<Offset>>> p;
    EXPECT_TRUE(r.offset_for_timestamp(kStream, ts, slices_, [&](auto res) {
                   p.set_value(std::move(res));
                 }).ok());
    return p.get_future().get();
  };
  const int64_t b0 = slices_[0].start.value();
  auto first = lookup(0);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(**first, slices_[0].start);
  auto exact = lookup(1000 + b0 + 4 * 7);
  EXPECT_EQ(**exact, Offset(b0 + 4 * 7));
  auto between = lookup(1000 + b0 + 4 * 7 + 1);
  EXPECT_EQ(**between, Offset(b0 + 4 * 8));
  auto second_obj = lookup(1000 + slices_[1].start.value() + 9);
  EXPECT_EQ(**second_obj, slices_[1].start + 12);
  auto none = lookup(1000 + slices_[1].end.value());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_F(CatchUpTest, BoundedQueueAndStop) {
  write_objects(1, 4, 1000, 4096);
  BlockCache cache(1 << 20);
  CatchUpReaderOptions opts;
  opts.threads = 1;
  opts.queue_capacity = 3;
  auto r = std::make_unique<CatchUpReader>(store_, cache, opts);
  std::latch entered(1), release(1);
  ASSERT_TRUE(r->read(kStream, slices_[0].start, 1, slices_, [&](auto) {
                 entered.count_down();
                 release.wait();
               }).ok());
  entered.wait();  // the only pool thread is busy
  std::atomic<int> closed{0};
  for (int i = 0; i < 3; i++) {
    ASSERT_TRUE(r->read(kStream, slices_[0].start, 1, slices_, [&](Result<CatchUpResult> res) {
                   if (res.code() == Errc::kClosed) closed++;
                 }).ok());
  }
  EXPECT_EQ(r->read(kStream, slices_[0].start, 1, slices_, [](auto) {}).code(),
            Errc::kResourceExhausted);
  std::thread stopper([&] { r->stop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  release.count_down();
  stopper.join();
  EXPECT_EQ(closed.load(), 3);
  EXPECT_EQ(r->read(kStream, slices_[0].start, 1, slices_, [](auto) {}).code(), Errc::kClosed);
  r.reset();
}

// Fails every GET while `failing` is set.
class FlakyStore : public testing::CountingStore {
 public:
  using CountingStore::CountingStore;
  Result<objstore::GetResult> get(const std::string& key,
                                  const objstore::ByteRange& r = {}) override {
    if (failing.load()) return Error{Errc::kIoError, "injected"};
    return CountingStore::get(key, r);
  }
  std::atomic<bool> failing{false};
};

TEST_F(CatchUpTest, StoreErrorsPropagateAndDoNotPoison) {
  write_objects(2, 20, 1000, 4096);
  FlakyStore flaky(inner_);
  BlockCache cache(1 << 20);
  CatchUpReader r(flaky, cache, {});
  flaky.failing = true;
  std::promise<Result<CatchUpResult>> p;
  ASSERT_TRUE(r.read(kStream, slices_[0].start, 1 << 20, slices_, [&](auto res) {
                 p.set_value(std::move(res));
               }).ok());
  auto res = p.get_future().get();
  EXPECT_EQ(res.code(), Errc::kIoError);
  r.wait_idle();
  flaky.failing = false;
  std::promise<Result<CatchUpResult>> p2;
  ASSERT_TRUE(r.read(kStream, slices_[0].start, 1 << 30, slices_, [&](auto res) {
                 p2.set_value(std::move(res));
               }).ok());
  auto ok = p2.get_future().get();
  ASSERT_TRUE(ok.ok()) << ok.error().to_string();
  EXPECT_EQ(ok->batches.size(), 40u);
}

// Adds latency to every GET, so prefetches are still running when reads arrive.
class SlowStore : public testing::CountingStore {
 public:
  using CountingStore::CountingStore;
  Result<objstore::GetResult> get(const std::string& key,
                                  const objstore::ByteRange& r = {}) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    return CountingStore::get(key, r);
  }
};

TEST_F(CatchUpTest, SequentialReadsOverlapPrefetchInFlight) {
  write_objects(2, 64, 8000, 8000);  // one batch per block
  SlowStore slow(inner_);
  BlockCache cache(64 << 20);
  CatchUpReader r(slow, cache, {});
  Offset from = slices_[0].start;
  int reads = 0;
  while (from < slices_[1].end) {
    std::promise<Result<CatchUpResult>> p;
    ASSERT_TRUE(
        r.read(kStream, from, 1, slices_, [&](auto res) { p.set_value(std::move(res)); }).ok());
    auto res = p.get_future().get();
    expect_batches(res, from, 1);
    from = res->next;
    reads++;
  }
  EXPECT_EQ(reads, 128);
  r.wait_idle();  // a read-ahead GET still in flight is counted but not yet timed
  auto s = r.stats();
  // Most blocks came from read-ahead (cached, or waited for while in flight).
  EXPECT_GT(s.block_hits, 100u);
  EXPECT_LT(slow.gets.load(), 40u);
  // Where the time went: helpers ran the read-ahead GETs (3 ms each; a run whose blocks were
  // all claimed by other fetches runs none); the first read alone waited for two GETs (layout,
  // then block); time waiting for read-ahead is part of the serving time.
  EXPECT_EQ(s.reads, 128u);
  EXPECT_GT(s.windows, 0u);
  ASSERT_GT(s.prefetch_gets, 0u);
  EXPECT_GE(s.prefetch_us, 3000u * s.prefetch_gets);
  EXPECT_GE(s.read_served_us, 6000u);
  EXPECT_LE(s.read_inflight_wait_us, s.read_served_us);
}

TEST_F(CatchUpTest, SequentialReadAheadStaysTwoReadsAhead) {
  // Reads of 4 blocks with a 16-block bound. After every read (once its read-ahead has landed)
  // the blocks of the next two reads are cached. (Until 2026-11-27 a window was planned again
  // only once a read ended past where the last window had started, so every other read found
  // only its own blocks fetched and the one after it had to wait.)
  write_objects(1, 64, 8000, 8000);  // one batch (4 offsets) per block
  BlockCache cache(64 << 20);
  CatchUpReaderOptions opts;
  opts.max_readahead_bytes = 16 * (8000 + kRecordHeaderSize);
  CatchUpReader r(store_, cache, opts);
  auto layout = r.layout(slices_[0].key, slices_[0].object_size);
  ASSERT_TRUE(layout.ok());
  std::vector<uint64_t> mine;  // kStream's block positions, in offset order
  for (const BlockIndexEntry& e : (*layout)->index) {
    if (e.stream == kStream) mine.push_back(e.position);
  }
  ASSERT_EQ(mine.size(), 64u);
  const size_t read_bytes = 4 * (8000 + kRecordHeaderSize);
  Offset from = slices_[0].start;
  for (int i = 0; i < 12; i++) {
    auto res = read(r, from, read_bytes);
    expect_batches(res, from, read_bytes);
    from = res->next;
    r.wait_idle();
    if (i == 0) continue;  // the first read is not known to be sequential yet
    const size_t next_block = static_cast<size_t>((from - slices_[0].start) / 4);
    for (size_t b = next_block; b < next_block + 8; b++) {
      EXPECT_TRUE(cache.contains(slices_[0].key, mine[b]))
          << "after read " << i << ": block " << b << " (next read starts at " << next_block
          << ") is not fetched";
    }
  }
}

// Holds every ranged GET at or after byte `gate_from` until open() (read-ahead caught mid-GET).
TEST_F(CatchUpTest, ReadsDoNotQueueBehindReadAheadInFlight) {
  // One pool thread. The first read's read-ahead GET hangs in the store; a second read of a
  // cached block must still be served. (Until 2026-11-27 a window held a pool thread until its
  // last GET ended, so reads queued behind read-ahead.)
  write_objects(1, 16, 8000, 8000);  // one batch per block
  GatedStore gated(inner_);
  BlockCache cache(64 << 20);
  CatchUpReaderOptions opts;
  opts.threads = 1;
  CatchUpReader r(gated, cache, opts);
  auto layout = r.layout(slices_[0].key, slices_[0].object_size);
  ASSERT_TRUE(layout.ok());
  std::vector<uint64_t> mine;
  for (const BlockIndexEntry& e : (*layout)->index) {
    if (e.stream == kStream) mine.push_back(e.position);
  }
  ASSERT_GE(mine.size(), 2u);
  gated.gate_from = mine[1];  // the first block passes, read-ahead of the second hangs
  const Offset from = slices_[0].start;
  expect_batches(read(r, from, 1), from, 1);
  std::map<std::string, int> held;
  if (!gated.wait_held(1, std::chrono::seconds(10), &held)) {
    gated.open();  // let the reader stop
    FAIL() << "the read-ahead GET never reached the store";
  }

  std::promise<Result<CatchUpResult>> again;
  ASSERT_TRUE(
      r.read(kStream, from, 1, slices_, [&](auto res) { again.set_value(std::move(res)); }).ok());
  auto fut = again.get_future();
  const bool served = fut.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  gated.open();
  ASSERT_TRUE(served) << "a read waited for read-ahead it does not need";
  expect_batches(fut.get(), from, 1);
  r.wait_idle();
  EXPECT_EQ(r.stats().prefetch_blocks, 1u);  // the hung read-ahead finished once opened
}

// Counts GETs in flight at once (each GET takes 3 ms).
class ConcurrencyStore : public SlowStore {
 public:
  using SlowStore::SlowStore;
  Result<objstore::GetResult> get(const std::string& key,
                                  const objstore::ByteRange& r = {}) override {
    const int now = ++in_flight;
    int seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
    auto res = SlowStore::get(key, r);
    --in_flight;
    return res;
  }
  std::atomic<int> in_flight{0}, peak{0};
};

TEST_F(CatchUpTest, LargeColdReadFetchesInParallelAndNextReadIsPrefetched) {
  // 4 objects x 32 blocks of one 64 KiB batch: 8 MiB; reads of 4 MiB (64 blocks, >= 2 GETs of
  // about 2 MiB).
  write_objects(4, 32, 64 << 10, 64 << 10);
  ConcurrencyStore slow(inner_);
  BlockCache cache(64 << 20);
  CatchUpReaderOptions opts;
  opts.fetch_parallelism = 4;
  CatchUpReader r(slow, cache, opts);
  const size_t kRead = 4 << 20;
  Offset from = slices_[0].start;
  auto first = read(r, from, kRead);
  expect_batches(first, from, kRead);
  r.wait_idle();  // the read-ahead after it has run too
  auto s = r.stats();
  // The read's own 63-64 blocks: a few coalesced GETs (~2 MiB each), several in flight.
  EXPECT_GE(s.block_misses, 62u);
  EXPECT_LE(s.gets - s.prefetch_gets, 6u);
  EXPECT_GE(slow.peak.load(), 2);
  EXPECT_LE(slow.peak.load(), 4 + 4);  // the read's fetch plus one read-ahead window
  // The read-ahead after it covered a whole read of the same size: no miss on the next read.
  from = first->next;
  auto second = read(r, from, kRead);
  expect_batches(second, from, kRead);
  EXPECT_EQ(r.stats().block_misses, s.block_misses);
  EXPECT_GE(r.stats().prefetch_blocks, 62u);
}

// Counts, at once, the GETs that are the first of their object (its layout: footer and index).
class FirstGetConcurrencyStore : public SlowStore {
 public:
  using SlowStore::SlowStore;
  Result<objstore::GetResult> get(const std::string& key,
                                  const objstore::ByteRange& r = {}) override {
    bool first;
    {
      std::lock_guard lk(mu);
      first = seen.insert(key).second;
    }
    if (!first) return SlowStore::get(key, r);
    const int now = ++in_flight;
    int was = peak.load();
    while (now > was && !peak.compare_exchange_weak(was, now)) {
    }
    auto res = SlowStore::get(key, r);
    --in_flight;
    return res;
  }
  std::mutex mu;
  std::set<std::string> seen;
  std::atomic<int> in_flight{0}, peak{0};
};

TEST_F(CatchUpTest, LayoutsOfManySmallObjectsLoadInParallel) {
  // 12 objects holding one small batch of the stream each (WAL objects indexed in place look
  // like this): one read spans them all, and their layouts are fetched side by side.
  write_objects(12, 1, 1000, 1000);
  FirstGetConcurrencyStore slow(inner_);
  BlockCache cache(64 << 20);
  CatchUpReaderOptions opts;
  opts.fetch_parallelism = 4;
  CatchUpReader r(slow, cache, opts);
  const Offset from = slices_[0].start;
  expect_batches(read(r, from, 1 << 20), from, 1 << 20);
  r.wait_idle();
  EXPECT_GE(slow.peak.load(), 2);
  EXPECT_LE(slow.peak.load(), 4 + 4);     // the read's helpers plus one read-ahead window's
  EXPECT_EQ(r.stats().layout_gets, 12u);  // each layout loaded once
}

// Records which threads (Linux thread ids, not reused soon) issued GETs, and their names.
class ThreadRecordingStore : public SlowStore {
 public:
  using SlowStore::SlowStore;
  Result<objstore::GetResult> get(const std::string& key,
                                  const objstore::ByteRange& r = {}) override {
    char name[16] = {};
    pthread_getname_np(pthread_self(), name, sizeof(name));
    {
      std::lock_guard lk(mu);
      tids.insert(gettid());
      names.insert(name);
    }
    return SlowStore::get(key, r);
  }
  std::mutex mu;
  std::set<pid_t> tids;
  std::set<std::string> names;
};

TEST_F(CatchUpTest, FetchHelpersAreLongLivedThreads) {
  // 8 sequential cold reads of 2 MiB, each followed by a 4 MiB read-ahead window fetched with
  // parallel GETs (~2 MiB each): the GETs come from the pool and its fixed helpers (the S3
  // client keeps one connection cache per thread), never from threads started per window.
  write_objects(8, 32, 64 << 10, 64 << 10);  // 16 MiB
  ThreadRecordingStore rec(inner_);
  BlockCache cache(64 << 20);
  CatchUpReaderOptions opts;
  opts.threads = 2;
  opts.fetch_parallelism = 4;
  opts.max_readahead_bytes = 4 << 20;
  CatchUpReader r(rec, cache, opts);
  Offset from = slices_[0].start;
  int reads = 0;
  for (; from < slices_.back().end; reads++) {
    auto res = read(r, from, 2 << 20);
    expect_batches(res, from, 2 << 20);
    from = res->next;
    r.wait_idle();
  }
  EXPECT_GE(reads, 8);
  EXPECT_GE(r.stats().gets, 8u);
  std::lock_guard lk(rec.mu);
  EXPECT_GE(rec.tids.size(), 2u);              // fetched in parallel
  EXPECT_LE(rec.tids.size(), 2u + 2 * 4 + 3);  // 2 pool threads + 2 x 4 + 3 helpers
  EXPECT_EQ(rec.names, (std::set<std::string>{"cold-read", "cold-fetch"}));
}

// A sequential consumer reads to the end of obj/0 while read-ahead of obj/1 hangs in the store.
// With partial_read_bytes, its large read returns the cached rest of obj/0 at once; without,
// it waits for the GET (the whole 16 MiB catch-up fetch waited so, BENCHMARKS.md section 5o).
TEST_F(CatchUpTest, ReadReturnsWhatIsCachedRatherThanWaitForReadAhead) {
  write_objects(2, 16, 8000, 8000);  // one batch per block
  GatedStore gated(inner_);
  gated.gate_key = slices_[1].key;
  BlockCache cache(64 << 20);
  CatchUpReaderOptions opts;
  opts.partial_read_bytes = 3 * 8000;
  CatchUpReader r(gated, cache, opts);
  struct Opener {
    GatedStore& s;
    ~Opener() { s.open(); }  // before the reader joins its helpers
  } opener{gated};
  ASSERT_TRUE(r.layout(slices_[1].key, slices_[1].object_size).ok());
  gated.gate_from = 0;  // every data GET of obj/1 (its layout is cached)
  const size_t four = 4 * 8000;
  // In order, from `from`, and at least one (a read may stop short at read-ahead in flight).
  auto expect_prefix = [&](const Result<CatchUpResult>& res, Offset at, size_t max_bytes) {
    ASSERT_TRUE(res.ok()) << res.error().to_string();
    auto want = expected(at, max_bytes);
    ASSERT_GE(res->batches.size(), 1u);
    ASSERT_LE(res->batches.size(), want.size());
    for (size_t i = 0; i < res->batches.size(); i++) {
      EXPECT_EQ(res->batches[i].base, want[i].base);
      EXPECT_TRUE(res->batches[i].batch == want[i].data);
    }
    EXPECT_EQ(res->next, res->batches.back().end());
  };
  Offset from = slices_[0].start;
  for (int i = 0; i < 3; i++) {  // up to block 11 of obj/0; read-ahead reaches obj/1 by then
    auto res = read(r, from, four);
    expect_prefix(res, from, four);
    from = res->next;
  }
  std::map<std::string, int> held;
  ASSERT_TRUE(gated.wait_held(1, std::chrono::seconds(10), &held)) << "no read-ahead GET of obj/1";
  auto layout = r.layout(slices_[0].key, slices_[0].object_size);
  ASSERT_TRUE(layout.ok());
  uint64_t last = 0;  // obj/0's last block of kStream
  for (const BlockIndexEntry& e : (*layout)->index) {
    if (e.stream == kStream) last = e.position;
  }
  for (int i = 0; i < 1000 && !cache.contains(slices_[0].key, last); i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(cache.contains(slices_[0].key, last)) << "obj/0's read-ahead did not land";

  // Blocks 12-15 are cached, obj/1's are in flight: the read returns the four at once.
  std::promise<Result<CatchUpResult>> p;
  ASSERT_TRUE(
      r.read(kStream, from, 1 << 20, slices_, [&](auto res) { p.set_value(std::move(res)); }).ok());
  auto fut = p.get_future();
  ASSERT_EQ(fut.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "the read waited for read-ahead in flight";
  auto res = fut.get();
  size_t rest_of_obj0 = 0;
  for (const Batch& b : batches_) {
    if (b.base >= from && b.end() <= slices_[0].end) rest_of_obj0 += b.data.size();
  }
  ASSERT_GE(rest_of_obj0, opts.partial_read_bytes);
  expect_batches(res, from, rest_of_obj0);
  EXPECT_EQ(res->next, slices_[0].end);

  // Once the GET lands, the next read continues in obj/1.
  gated.open();
  expect_prefix(read(r, res->next, four), res->next, four);
}

TEST_F(CatchUpTest, ReadWaitsForReadAheadWhenPartialReadsAreOff) {
  write_objects(2, 16, 8000, 8000);
  GatedStore gated(inner_);
  gated.gate_key = slices_[1].key;
  BlockCache cache(64 << 20);
  CatchUpReaderOptions opts;
  opts.partial_read_bytes = 0;
  CatchUpReader r(gated, cache, opts);
  struct Opener {
    GatedStore& s;
    ~Opener() { s.open(); }
  } opener{gated};
  ASSERT_TRUE(r.layout(slices_[1].key, slices_[1].object_size).ok());
  gated.gate_from = 0;  // every data GET of obj/1 (its layout is cached)
  const size_t four = 4 * 8000;
  Offset from = slices_[0].start;
  for (int i = 0; i < 3; i++) {
    auto res = read(r, from, four);
    expect_batches(res, from, four);
    from = res->next;
  }
  std::map<std::string, int> held;
  ASSERT_TRUE(gated.wait_held(1, std::chrono::seconds(10), &held));
  std::promise<Result<CatchUpResult>> p;
  ASSERT_TRUE(
      r.read(kStream, from, 1 << 20, slices_, [&](auto res) { p.set_value(std::move(res)); }).ok());
  auto fut = p.get_future();
  EXPECT_EQ(fut.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout)
      << "the read returned before obj/1's blocks it asked for";
  gated.open();
  expect_batches(fut.get(), from, 1 << 20);  // obj/0's rest and all of obj/1
}

TEST_F(CatchUpTest, ReadAheadStaysWithinItsBoundAheadOfTheConsumer) {
  // Reads of 4 blocks with an 8-block bound: each read re-plans, and the blocks fetched never
  // run more than the bound (+ one read) ahead of what the consumer has read.
  write_objects(1, 200, 4000, 4000);
  BlockCache cache(64 << 20);
  CatchUpReaderOptions opts;
  opts.max_readahead_bytes = 8 * (4000 + kRecordHeaderSize);
  CatchUpReader r(store_, cache, opts);
  Offset from = slices_[0].start;
  for (int i = 0; i < 30; i++) {
    auto res = read(r, from, 4 * 4000);
    ASSERT_TRUE(res.ok());
    ASSERT_EQ(res->batches.size(), 4u);
    from = res->next;
    r.wait_idle();
    auto s = r.stats();
    const uint64_t read_blocks = 4 * static_cast<uint64_t>(i + 1);
    EXPECT_LE(s.prefetch_blocks + s.block_misses, read_blocks + 8 + 4) << "after read " << i;
  }
}

}  // namespace
TEST_F(CatchUpTest, WindowLoadsTheNextWindowsLayoutsWhileItsGetsRun) {
  // Objects of 4 blocks, an 8-block bound, reads of one object. After the first (random) read,
  // read-ahead plans one read's worth, object 1, and then loads the layouts of objects 2-3, the
  // next window's, so that window's GETs need not wait for them. Nothing beyond the bound.
  write_objects(12, 4, 4000, 4000);
  for (ObjectSlice& sl : slices_) sl.bytes = 4 * (4000 + kRecordHeaderSize);
  BlockCache cache(64 << 20);
  CatchUpReaderOptions opts;
  opts.max_readahead_bytes = 8 * (4000 + kRecordHeaderSize);
  CatchUpReader r(store_, cache, opts);
  Offset from = slices_[0].start;
  auto first = read(r, from, 4 * 4000);
  expect_batches(first, from, 4 * 4000);
  r.wait_idle();
  EXPECT_EQ(r.stats().layout_gets, 4u);  // 2 before this change
  const uint64_t misses = r.stats().block_misses;  // the first read's 4 blocks
  from = first->next;
  for (int i = 0; i < 6; i++) {
    auto res = read(r, from, 4 * 4000);
    expect_batches(res, from, 4 * 4000);
    from = res->next;
    r.wait_idle();
    // Loaded: every object whose blocks were fetched, and the two after it (an 8-block bound).
    const auto s = r.stats();
    const uint64_t objects_fetched = (s.block_misses + s.prefetch_blocks + 3) / 4;
    EXPECT_EQ(s.layout_gets, std::min<uint64_t>(12, objects_fetched + 2)) << "after read " << i;
  }
  EXPECT_EQ(r.stats().block_misses, misses) << "read-ahead kept ahead of every later read";
}

TEST_F(CatchUpTest, PoolThreadsAreNamedAndNiced) {
  write_objects(1, 4, 3000, 10 * 1024);
  BlockCache cache(64 << 20);
  CatchUpReaderOptions o;
  o.thread_nice = 3;
  CatchUpReader r(store_, cache, o);
  errno = 0;
  const int base_nice = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  ASSERT_EQ(errno, 0);
  std::promise<std::pair<std::string, int>> seen;
  ASSERT_TRUE(r.read(kStream, slices_[0].start, 1 << 20, slices_, [&](Result<CatchUpResult> res) {
                 EXPECT_TRUE(res.ok());
                 char name[16] = {};
                 pthread_getname_np(pthread_self(), name, sizeof(name));
                 seen.set_value({name, getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()))});
               }).ok());
  auto [name, nice] = seen.get_future().get();
  EXPECT_EQ(name, "cold-read");
  EXPECT_EQ(nice, std::min(base_nice + 3, 19));
}

}  // namespace shale::objfmt
