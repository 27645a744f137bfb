#include "objfmt/compact.h"

#include <gtest/gtest.h>

#include <set>

#include "objfmt/test_util.h"
#include "objstore/faulty_object_store.h"

namespace shale::objfmt {
namespace {

using testing::make_batch;
using testing::TestStore;

struct Batch {
  StreamId stream;
  Offset base;
  int32_t count;
  int64_t ts;
  Buf data;
  Offset end() const { return base + count; }
};

class CompactTest : public ::testing::Test {
 protected:
  // Adds one source object: for each (stream, [from, to)) batches of 5 offsets and `size` bytes.
  void add_source(const std::vector<std::tuple<uint64_t, int64_t, int64_t>>& ranges,
                  size_t size = 700) {
    ObjectBuilder b(4096);
    for (auto [s, from, to] : ranges) {
      for (int64_t o = from; o < to; o += 5) {
        Batch bt{StreamId(s), Offset(o), 5, o * 10, make_batch(StreamId(s), Offset(o), size)};
        EXPECT_TRUE(b.add(bt.stream, bt.base, bt.count, bt.ts, bt.data).ok());
        written_.push_back(bt);
      }
    }
    auto built = b.finish();
    std::string key = fmt::format("src/{}", sources_.size());
    EXPECT_TRUE(store_.put(key, built.parts).ok());
    auto layout = read_layout(store_, key);
    EXPECT_TRUE(layout.ok());
    sources_.push_back({key, *layout});
  }

  // Everything the objects of `res` hold, per stream, read back through the store.
  std::map<StreamId, std::vector<DecodedBatch>> read_back(const CompactResult& res) {
    std::map<StreamId, std::vector<DecodedBatch>> out;
    for (size_t i = 0; i < res.objects.size(); i++) {
      const auto& obj = res.objects[i];
      std::string key = obj.key;  // compact_to_store() wrote it already
      if (key.empty()) {
        key = fmt::format("out/{}", i);
        EXPECT_TRUE(store_.put(key, obj.built.parts).ok());
      }
      auto layout = read_layout(store_, key, obj.built.size);
      EXPECT_TRUE(layout.ok());
      EXPECT_EQ(layout->index, obj.built.index);
      std::set<StreamId> streams;
      StreamId prev(0);
      for (const auto& e : layout->index) {
        if (obj.stream) {
          EXPECT_EQ(e.stream, *obj.stream);  // a stream object holds one stream
        }
        EXPECT_GE(e.stream, prev);  // streams sorted by id
        prev = e.stream;
        auto block = store_.get(key, objstore::ByteRange::at(e.position, e.size));
        auto dec = decode_block(block->data, e);
        EXPECT_TRUE(dec.ok());
        for (auto& d : *dec) out[e.stream].push_back(d);
      }
    }
    return out;
  }

  // The batches of `written_` that overlap the live ranges, in offset order, without repeats.
  std::map<StreamId, std::vector<Batch>> expected(const std::map<StreamId, LiveRange>& live) {
    std::map<StreamId, std::vector<Batch>> out;
    std::map<StreamId, std::set<int64_t>> seen;
    for (const Batch& b : written_) {
      auto it = live.find(b.stream);
      if (it == live.end() || b.end() <= it->second.start || b.base >= it->second.end) continue;
      if (!seen[b.stream].insert(b.base.value()).second) continue;
      out[b.stream].push_back(b);
    }
    for (auto& [s, v] : out) {
      std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.base < b.base; });
    }
    return out;
  }

  void expect_exact(const CompactResult& res, const std::map<StreamId, LiveRange>& live) {
    auto got = read_back(res);
    auto want = expected(live);
    ASSERT_EQ(got.size(), want.size());
    for (auto& [s, w] : want) {
      auto& g = got[s];
      ASSERT_EQ(g.size(), w.size()) << "stream " << s.value();
      for (size_t i = 0; i < w.size(); i++) {
        EXPECT_EQ(g[i].base, w[i].base);
        EXPECT_EQ(g[i].count, w[i].count);
        EXPECT_EQ(g[i].max_timestamp, w[i].ts);
        EXPECT_TRUE(g[i].batch == w[i].data) << "stream " << s.value() << " batch " << i;
      }
    }
  }

  TestStore store_;
  std::vector<Batch> written_;
  std::vector<SourceObject> sources_;
};

TEST_F(CompactTest, KeepsExactlyTheLiveRanges) {
  // Streams spread over three sources, in no particular stream order inside an object.
  add_source({{3, 0, 100}, {1, 0, 200}, {2, 0, 50}, {4, 0, 60}});
  add_source({{1, 200, 400}, {2, 50, 150}, {6, 0, 30}});
  add_source({{2, 150, 200}, {4, 60, 100}, {3, 100, 150}});
  std::map<StreamId, LiveRange> live = {
      {StreamId(1), {Offset(0), Offset(400)}},    // everything
      {StreamId(2), {Offset(37), Offset(200)}},   // trimmed mid-batch: batch [35,40) kept
      {StreamId(3), {Offset(120), Offset(131)}},  // a narrow middle piece
      {StreamId(6), {Offset(30), Offset(100)}},   // live range past its data: nothing kept
  };                                              // stream 4 deleted
  auto res = compact(store_, sources_, live, {.target_block_size = 4096});
  ASSERT_TRUE(res.ok()) << res.error().to_string();
  ASSERT_EQ(res->objects.size(), 1u);
  EXPECT_FALSE(res->objects[0].stream.has_value());
  expect_exact(*res, live);
  EXPECT_EQ(res->batches_kept, 80u + 33u + 3u);
  EXPECT_EQ(res->batches_kept + res->batches_dropped, written_.size());
}

TEST_F(CompactTest, SplitsOutBigStreams) {
  add_source({{1, 0, 500}, {2, 0, 50}, {3, 0, 400}}, 2000);
  add_source({{1, 500, 600}, {2, 50, 60}}, 2000);
  std::map<StreamId, LiveRange> live = {{StreamId(1), {Offset(0), Offset(600)}},
                                        {StreamId(2), {Offset(0), Offset(60)}},
                                        {StreamId(3), {Offset(200), Offset(400)}}};
  // Stream 1 keeps 120 * 2000 bytes, stream 3 keeps 40 * 2000, stream 2 keeps 12 * 2000.
  auto res = compact(store_, sources_, live, {.target_block_size = 8192, .split_threshold = 60000});
  ASSERT_TRUE(res.ok()) << res.error().to_string();
  ASSERT_EQ(res->objects.size(), 3u);
  EXPECT_EQ(res->objects[0].stream, StreamId(1));
  EXPECT_EQ(res->objects[1].stream, StreamId(3));
  EXPECT_FALSE(res->objects[2].stream.has_value());
  for (const auto& e : res->objects[2].built.index) EXPECT_EQ(e.stream, StreamId(2));
  expect_exact(*res, live);
}

TEST_F(CompactTest, OverlappingSourcesKeepEachOffsetOnce) {
  add_source({{1, 0, 100}});
  add_source({{1, 50, 150}});  // same offsets again (e.g. a retried upload)
  std::map<StreamId, LiveRange> live = {{StreamId(1), {Offset(0), Offset(150)}}};
  auto res = compact(store_, sources_, live);
  ASSERT_TRUE(res.ok()) << res.error().to_string();
  expect_exact(*res, live);
  EXPECT_EQ(res->batches_kept, 30u);
  EXPECT_EQ(res->batches_dropped, 10u);
}

TEST_F(CompactTest, AllDeadGivesNoObjectAndFetchesNothing) {
  add_source({{1, 0, 100}, {2, 0, 100}});
  testing::CountingStore counting(store_);
  std::map<StreamId, LiveRange> live = {{StreamId(1), {Offset(100), Offset(200)}}};
  auto res = compact(counting, sources_, live);
  ASSERT_TRUE(res.ok());
  EXPECT_TRUE(res->objects.empty());
  EXPECT_EQ(res->batches_dropped, 40u);
  EXPECT_EQ(counting.gets.load(), 0u);
}

TEST_F(CompactTest, AdjacentLiveBlocksShareOneGet) {
  add_source({{1, 0, 200}, {2, 0, 200}, {3, 0, 200}});  // several blocks per stream
  testing::CountingStore counting(store_);
  std::map<StreamId, LiveRange> live = {{StreamId(1), {Offset(0), Offset(200)}},
                                        {StreamId(3), {Offset(0), Offset(200)}}};
  auto res = compact(counting, sources_, live);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(counting.gets.load(), 2u);  // stream 1's blocks, then stream 3's
  expect_exact(*res, live);
}

TEST_F(CompactTest, CorruptSourceFails) {
  add_source({{1, 0, 100}});
  auto bytes = store_.bytes(sources_[0].key);
  bytes[100] ^= 0xff;
  store_.set_bytes(sources_[0].key, bytes);
  std::map<StreamId, LiveRange> live = {{StreamId(1), {Offset(0), Offset(100)}}};
  auto res = compact(store_, sources_, live);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.code(), Errc::kCorruption);
  EXPECT_NE(res.error().message.find("src/0"), std::string::npos);
}

// compact_to_store() writes the same objects as they are built, holding a bounded number of
// bytes however big the inputs and outputs are.
TEST_F(CompactTest, StreamsToTheStoreWithBoundedMemory) {
  for (int s = 0; s < 4; ++s) {  // stream 1: 4 x 1.6 MB; stream 2: small
    add_source({{1, s * 2000, (s + 1) * 2000}, {2, s * 50, (s + 1) * 50}}, 4000);
  }
  std::map<StreamId, LiveRange> live = {{StreamId(1), {Offset(100), Offset(8000)}},
                                        {StreamId(2), {Offset(0), Offset(200)}}};
  CompactOptions o{.target_block_size = 64 << 10,
                   .split_threshold = 1 << 20,
                   .fetch_bytes = 128 << 10,
                   .part_size = 512 << 10};
  testing::CountingStore counting(store_);
  size_t asked = 0;
  auto res = compact_to_store(counting, sources_, live, o, [&](size_t n) {
    asked = n;
    std::vector<std::string> keys;
    for (size_t i = 0; i < n; ++i) keys.push_back(fmt::format("merged/{}", i));
    return Result<std::vector<std::string>>(keys);
  });
  ASSERT_TRUE(res.ok()) << res.error().to_string();
  ASSERT_EQ(asked, 2u);
  ASSERT_EQ(res->objects.size(), 2u);
  EXPECT_EQ(res->objects[0].stream, StreamId(1));
  EXPECT_EQ(res->objects[0].key, "merged/0");
  EXPECT_TRUE(res->objects[0].built.parts.empty());
  EXPECT_FALSE(res->objects[1].stream.has_value());
  EXPECT_EQ(store_.head("merged/0")->size, res->objects[0].built.size);
  expect_exact(*res, live);
  // ~6.3 MB of stream 1 went out in 512 KiB parts; stream 2's small object in one PUT.
  EXPECT_GT(res->objects[0].built.size, 6u << 20);
  EXPECT_GE(counting.parts.load(), 12u);
  EXPECT_EQ(store_.pending_uploads(), 0u);
  // Memory: one fetched run per source plus a part being filled (+ one record), never the data.
  const uint64_t bound = 4 * (128 << 10) + (512 << 10) + 2 * (4000 + kRecordHeaderSize);
  EXPECT_GT(res->peak_buffered_bytes, 512u << 10);
  EXPECT_LE(res->peak_buffered_bytes, bound);
  EXPECT_GT(res->objects[0].built.size, 4 * bound);
}

TEST_F(CompactTest, StreamingFailureAbortsTheUpload) {
  add_source({{1, 0, 1000}}, 4000);
  objstore::FaultyObjectStore faulty(store_);
  faulty.add_fault({.ops = static_cast<uint32_t>(objstore::StoreOp::kUploadPart), .nth = 3});
  std::map<StreamId, LiveRange> live = {{StreamId(1), {Offset(0), Offset(1000)}}};
  auto res = compact_to_store(faulty, sources_, live, {.part_size = 256 << 10}, [](size_t n) {
    return Result<std::vector<std::string>>(std::vector<std::string>(n, "merged"));
  });
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.code(), Errc::kIoError);
  EXPECT_EQ(store_.head("merged").code(), Errc::kNotFound);
  EXPECT_EQ(store_.pending_uploads(), 0u);  // aborted
  // A key callback error stops it before anything is written.
  auto refused = compact_to_store(store_, sources_, live, {}, [](size_t) {
    return Result<std::vector<std::string>>(Status(Errc::kUnavailable, "no ids"));
  });
  EXPECT_EQ(refused.code(), Errc::kUnavailable);
}

}  // namespace
}  // namespace shale::objfmt
