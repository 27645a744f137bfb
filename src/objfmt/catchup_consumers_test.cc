// CatchUpReader with several consumers at once, each reading its own stream: how they share the
// read-ahead GETs in flight and the block cache.
#include <gtest/gtest.h>

#include <future>
#include <map>
#include <thread>

#include "objfmt/catchup_reader.h"
#include "objfmt/test_util.h"

namespace shale::objfmt {
namespace {

using namespace std::chrono_literals;
using testing::CountingStore;
using testing::GatedStore;
using testing::make_batch;
using testing::TestStore;

class ConsumersTest : public ::testing::Test {
 protected:
  // Writes streams 1..n, each `blocks` blocks of one `batch`-byte batch, in `objects` objects
  // of blocks / objects blocks.
  void write_streams(int n, int blocks, size_t batch, int objects = 1) {
    for (int s = 1; s <= n; s++) {
      const StreamId stream(s);
      Offset next(0);
      for (int o = 0; o < objects; o++) {
        ObjectBuilder b(batch);
        const Offset start = next;
        for (int i = 0; i < blocks / objects; i++) {
          ASSERT_TRUE(b.add(stream, next, 1, 0, make_batch(stream, next, batch)).ok());
          next = next + 1;
        }
        auto built = b.finish();
        ObjectSlice sl{o == 0 ? fmt::format("s{}", s) : fmt::format("s{}-{}", s, o), built.size,
                       start, next, built.size};
        ASSERT_TRUE(inner_.put(sl.key, built.parts).ok());
        slices_[stream].push_back(sl);
      }
    }
  }

  // 2 pool threads x 2 GETs, windows of 8 blocks from the first read on.
  static CatchUpReaderOptions small_caps() {
    CatchUpReaderOptions opts;
    opts.threads = 2;
    opts.fetch_parallelism = 2;
    opts.readahead_start_blocks = 8;
    return opts;
  }

  // Loads every object's layout (those GETs pass), then holds every GET past an object's first
  // block (all objects' blocks are of one size).
  void gate_after_first_blocks(CatchUpReader& r, GatedStore& gated) {
    uint64_t first_block = 0;
    for (const auto& [stream, slices] : slices_) {
      for (const ObjectSlice& sl : slices) {
        auto layout = r.layout(sl.key, sl.object_size);
        ASSERT_TRUE(layout.ok());
        first_block = (*layout)->index[0].size;
      }
    }
    gated.gate_from = first_block;
  }

  Result<CatchUpResult> read(CatchUpReader& r, StreamId s, Offset from, size_t max_bytes) {
    std::promise<Result<CatchUpResult>> p;
    Status st = r.read(s, from, max_bytes, slices_[s], [&](auto res) { p.set_value(res); });
    if (!st.ok()) return st.error();
    return p.get_future().get();
  }

  TestStore inner_;
  std::map<StreamId, std::vector<ObjectSlice>> slices_;
};

TEST_F(ConsumersTest, ReadAheadOfSeveralStreamsRunsSideBySide) {
  // Blocks of ~1 MiB, so a window of 8 blocks is 4 GETs (runs end once they hold 2 MiB).
  // Two pool threads x 2 GETs: each stream's read-ahead may keep 2 GETs in flight, 4 in all.
  // (Until 2026-11-27 read-ahead of every stream shared 2 GETs in flight, first come first
  // served: the second consumer's read-ahead waited for the first's whole window.)
  write_streams(3, 12, 1 << 20);
  GatedStore gated(inner_);
  BlockCache cache(256 << 20);
  CatchUpReader r(gated, cache, small_caps());
  gate_after_first_blocks(r, gated);
  for (int s = 1; s <= 3; s++) {
    auto res = read(r, StreamId(s), Offset(0), 1);
    ASSERT_TRUE(res.ok()) << res.error().to_string();
    ASSERT_EQ(res->batches.size(), 1u);
  }
  std::map<std::string, int> held;
  const bool four = gated.wait_held(4, 10s, &held);
  std::this_thread::sleep_for(50ms);  // a fifth GET, if the caps let one start, shows up
  gated.wait_held(4, 0ms, &held);
  gated.open();
  r.wait_idle();
  ASSERT_TRUE(four) << "read-ahead GETs held: s1 " << held["s1"] << ", s2 " << held["s2"] << ", s3 "
                    << held["s3"];
  int total = 0;
  for (const auto& [key, n] : held) {
    EXPECT_LE(n, 2) << key << ": more than fetch_parallelism GETs of one stream";
    total += n;
  }
  EXPECT_EQ(total, 4) << "threads x fetch_parallelism read-ahead GETs in flight in all";
  // Every window was fetched once the store answered.
  for (int s = 1; s <= 3; s++) {
    auto res = read(r, StreamId(s), Offset(1), 8 << 20);
    ASSERT_TRUE(res.ok());
    EXPECT_EQ(res->batches.size(), 8u);  // blocks 1-8: the first window
  }
  EXPECT_EQ(r.stats().block_misses, 3u);  // each stream's first block only
}

TEST_F(ConsumersTest, TwoConsumersOfOneStreamEachGetTheirGets) {
  // Two consumer groups replaying one stream at different offsets: each consumer's read-ahead
  // may keep fetch_parallelism GETs in flight. (Until 2026-11-27 the cap was per stream, so
  // the second group's read-ahead waited behind the first's.) One stream in two objects of 12
  // ~1 MiB blocks; consumer a reads from the first, b from the second; each object's first
  // block passes the gate, the read-ahead behind it is held.
  write_streams(1, 24, 1 << 20, 2);
  GatedStore gated(inner_);
  BlockCache cache(256 << 20);
  CatchUpReader r(gated, cache, small_caps());
  gate_after_first_blocks(r, gated);
  const StreamId s(1);
  for (const Offset from : {Offset(0), Offset(12)}) {
    auto res = read(r, s, from, 1);
    ASSERT_TRUE(res.ok()) << res.error().to_string();
    ASSERT_EQ(res->batches.size(), 1u);
  }
  std::map<std::string, int> held;
  const bool four = gated.wait_held(4, 10s, &held);
  gated.open();
  r.wait_idle();
  EXPECT_TRUE(four) << "read-ahead GETs held: a " << held["s1"] << ", b " << held["s1-1"];
  EXPECT_EQ(held["s1"], 2);
  EXPECT_EQ(held["s1-1"], 2);
}

TEST_F(ConsumersTest, ConsumersShareTheCacheWithoutEvictingEachOthersReadAhead) {
  // 4 consumers read their streams one block at a time, in turn, through a 2 MiB cache. Alone,
  // each would read ahead up to max_readahead_bytes (32 MiB, the whole stream); together, their
  // windows would evict each other's blocks before they are read, and the blocks would be
  // fetched again (until 2026-11-27: 1.9 GETs per MiB instead of 0.5, BENCHMARKS.md section 5j).
  // Each consumer's window now stays within its share of half the cache, and every block is fetched
  // once.
  constexpr int kStreams = 4, kBlocks = 48;
  write_streams(kStreams, kBlocks, 64 << 10);
  CountingStore counting(inner_);
  BlockCache cache(2 << 20);
  CatchUpReader r(counting, cache, {});
  std::map<StreamId, Offset> next;
  for (int i = 0; i < kBlocks; i++) {
    for (int s = 1; s <= kStreams; s++) {
      const StreamId stream(s);
      auto res = read(r, stream, next[stream], 1);
      ASSERT_TRUE(res.ok()) << res.error().to_string();
      ASSERT_EQ(res->batches.size(), 1u);
      next[stream] = res->next;
      r.wait_idle();  // read-ahead lands before the next consumer's turn
    }
  }
  const CatchUpStats st = r.stats();
  EXPECT_EQ(st.block_misses + st.prefetch_blocks, uint64_t{kStreams} * kBlocks)
      << "blocks fetched more than once: " << st.block_misses << " missed by reads, "
      << st.prefetch_blocks << " read ahead";
  // The last window: within a quarter of the cache's half (one block past it at most).
  EXPECT_LE(st.last_window_blocks, (1u << 20) / kStreams / (64u << 10) + 1);
}

TEST_F(ConsumersTest, ASlowConsumerKeepsItsCacheShareBetweenWindows) {
  // A consumer counts toward the cache share for kConsumerActiveFor (1 s) after its last
  // sequential read. It used to count from its last window: a consumer slower than ~8 MiB/s
  // plans its 32 MiB window every quarter (8 MiB), more than a second apart, so between windows
  // it dropped out of the count, the others' windows grew into its share and their blocks
  // evicted its read-ahead before it was read.
  write_streams(2, 64, 64 << 10);
  BlockCache cache(2 << 20);  // half of it, 1 MiB, is 16 blocks: 8 each for two consumers
  CatchUpReader r(inner_, cache, {});
  const StreamId a(1), b(2);
  Offset next_a(0), next_b(0);
  auto step = [&](StreamId s, Offset* next) {
    auto res = read(r, s, *next, 1);
    ASSERT_TRUE(res.ok()) << res.error().to_string();
    *next = res->next;
    r.wait_idle();
  };
  for (int i = 0; i < 24; i++) step(a, &next_a);  // a alone: its window grows to 16 blocks
  const uint64_t windows = r.stats().windows;
  for (int i = 0; i < 16 && r.stats().windows == windows; i++) step(a, &next_a);
  ASSERT_EQ(r.stats().windows, windows + 1);
  ASSERT_GE(r.stats().last_window_blocks, 12u);
  // a goes on slowly: 4 reads 300 ms apart, no window (the next is half a window away).
  for (int i = 0; i < 4; i++) {
    std::this_thread::sleep_for(300ms);
    step(a, &next_a);
  }
  ASSERT_EQ(r.stats().windows, windows + 1);
  for (int i = 0; i < 12; i++) step(b, &next_b);  // b's window grows to its share
  EXPECT_LE(r.stats().last_window_blocks, 9u)     // 8 blocks, one past at most
      << "b read ahead into the share of a, which read 300 ms ago";
}

TEST_F(ConsumersTest, LargeWindowIsToppedUpEveryQuarterInWholeGets) {
  // One consumer, 1 MiB reads, blocks of ~512 KiB, the default 32 MiB bound. Once the window
  // has grown to the bound, it is planned again each time the consumer has read a quarter of
  // it (8 MiB), so ~24 MiB stay fetched or in flight ahead of it (at half the window, the
  // store sat idle while the read that reached the trigger waited for the GET just past it),
  // and each plan adds whole runs of 5 blocks (one GET of ~2.5 MiB each).
  write_streams(1, 160, (512 << 10) - 64);  // two batches (blocks) per 1 MiB read
  CountingStore counting(inner_);
  BlockCache cache(64 << 20);
  CatchUpReader r(counting, cache, {});
  const StreamId s(1);
  Offset next(0);
  CatchUpStats ramped;
  for (int i = 0; i < 48; i++) {  // 48 of 80 MiB: the window reaches the end just then
    auto res = read(r, s, next, 1 << 20);
    ASSERT_TRUE(res.ok()) << res.error().to_string();
    next = res->next;
    r.wait_idle();
    if (i == 15) ramped = r.stats();  // 16 MiB read: the window is at the bound
  }
  const CatchUpStats st = r.stats();
  EXPECT_EQ(st.block_misses, 2u);  // only the first read's two blocks
  // 32 MiB read after the ramp: a window every 8 MiB, not every 16.
  EXPECT_GE(st.windows - ramped.windows, 4u);
  // Whole GETs: a run ends once it holds kMaxGetBytes (5 of these blocks), and a window that
  // ends inside a run leaves it to the next window rather than sending a short GET (windows
  // that ended where their bound fell: 16 GETs for 64 blocks here, not 13).
  const uint64_t blocks = st.prefetch_blocks - ramped.prefetch_blocks;
  const uint64_t gets = st.prefetch_gets - ramped.prefetch_gets;
  constexpr uint64_t kRunBlocks = 5;  // 4 blocks of 512 KiB - 64 are just short of 2 MiB
  EXPECT_LE(gets, (blocks + kRunBlocks - 1) / kRunBlocks) << blocks << " blocks";
}

// Drop-behind (CatchUpReaderOptions::drop_behind): the blocks a sequential consumer has read
// leave the cache, so their buffers carry the next GETs instead of fresh memory.
TEST_F(ConsumersTest, DropBehindFreesTheBlocksASequentialConsumerHasRead) {
  write_streams(1, 64, 16 << 10, 4);  // 64 blocks of one 16 KiB batch, in 4 objects
  const StreamId s(1);
  for (bool drop : {true, false}) {
    BlockCache cache(64 << 20);
    CatchUpReaderOptions opts;
    opts.drop_behind = drop;
    CatchUpReader r(inner_, cache, opts);
    Offset from(0);
    while (from < Offset(64)) {
      auto res = read(r, s, from, 4 * (16 << 10));
      ASSERT_TRUE(res.ok()) << res.error().to_string();
      ASSERT_FALSE(res->batches.empty());
      EXPECT_EQ(res->batches.front().base, from);
      from = res->next;
    }
    r.wait_idle();
    SCOPED_TRACE(drop ? "drop_behind" : "no drop_behind");
    if (drop) {
      // All but the first read's blocks (a random read: not yet a sequential consumer).
      EXPECT_GE(r.stats().dropped_behind, 56u);
      EXPECT_LE(cache.stats().entries, 8u);
    } else {
      EXPECT_EQ(r.stats().dropped_behind, 0u);
      EXPECT_EQ(cache.stats().entries, 64u);
    }
  }
}

// A consumer that reads the stream behind another (a second consumer group) keeps the blocks
// it has yet to read: the leader does not drop them, and the follower GETs nothing again.
TEST_F(ConsumersTest, DropBehindKeepsTheBlocksAConsumerBehindHasYetToRead) {
  write_streams(1, 64, 16 << 10, 4);
  const StreamId s(1);
  BlockCache cache(64 << 20);
  CountingStore counting(inner_);
  CatchUpReader r(counting, cache, {});
  auto step = [&](Offset& at, size_t blocks) {
    auto res = read(r, s, at, blocks * (16 << 10));
    ASSERT_TRUE(res.ok()) << res.error().to_string();
    ASSERT_FALSE(res->batches.empty());
    EXPECT_EQ(res->batches.front().base, at);
    at = res->next;
  };
  Offset lead(0), follow(0);
  step(lead, 4);
  step(lead, 4);
  step(follow, 1);
  step(follow, 1);  // sequential from here: the follower counts
  for (int i = 0; lead < Offset(64); i++) {
    step(lead, 4);
    if (i % 4 == 3) step(follow, 1);  // stays active (read within the last second)
  }
  r.wait_idle();
  ASSERT_LT(follow, Offset(16));
  const uint64_t gets = counting.gets.load();
  while (follow < Offset(64)) step(follow, 4);
  r.wait_idle();
  EXPECT_EQ(counting.gets.load(), gets)
      << "the follower found every block it had yet to read cached";
  // Behind both, the blocks went once the follower had read them too.
  EXPECT_LE(cache.stats().entries, 12u);
}

// Two consumers reading one stream in lockstep (two consumer groups started together, same fetch
// size): their read-ahead states meet at the same positions, and a consumer's first read is not
// yet known to the other's drop-behind, but past the start each finds the blocks the other
// fetched. 256 blocks: two consumers fetched 1.00-1.08x the bytes of one with drop-behind,
// 1.00-1.04x without (10 runs each; the excess is at the start and does not grow with the
// stream).
TEST_F(ConsumersTest, DropBehindFetchesLittleTwiceForConsumersInLockstep) {
  write_streams(1, 256, 16 << 10, 8);
  const StreamId s(1);
  auto consume = [&](int consumers) {
    BlockCache cache(64 << 20);
    CountingStore counting(inner_);
    CatchUpReader r(counting, cache, {});
    std::vector<Offset> at(consumers, Offset(0));
    for (bool more = true; more;) {
      more = false;
      for (Offset& a : at) {
        if (a >= Offset(256)) continue;
        auto res = read(r, s, a, 4 * (16 << 10));
        EXPECT_TRUE(res.ok() && !res->batches.empty() && res->batches.front().base == a);
        if (!res.ok() || res->batches.empty()) return uint64_t{0};
        a = res->next;
        more = true;
      }
    }
    r.wait_idle();
    return counting.get_bytes.load();
  };
  const uint64_t one = consume(1);
  const uint64_t two = consume(2);
  EXPECT_GE(one, 256u * (16 << 10));
  EXPECT_LE(two, one + one / 4) << "one consumer: " << one << " bytes";
}

}  // namespace
}  // namespace shale::objfmt
