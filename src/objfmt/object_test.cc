#include "objfmt/object.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "base/crc32c.h"
#include "base/endian.h"
#include "objfmt/test_util.h"

namespace shale::objfmt {
namespace {

using testing::CountingStore;
using testing::make_batch;
using testing::TestStore;

struct Expected {
  StreamId stream;
  Offset base;
  int32_t count;
  int64_t max_ts;
  Buf batch;
};

// Builds an object of `streams` streams with random batches; returns what was added.
std::vector<Expected> build_object(TestStore& store, const std::string& key, int streams,
                                   int batches_per_stream, size_t target, uint32_t seed,
                                   ObjectBuilder::Built* built_out = nullptr) {
  std::mt19937 rng(seed);
  ObjectBuilder b(target);
  std::vector<Expected> added;
  for (int s = 0; s < streams; s++) {
    StreamId id(1000 + s * 7);
    Offset next(rng() % 100000);
    for (int i = 0; i < batches_per_stream; i++) {
      int32_t count = 1 + rng() % 20;
      size_t size = 1 + rng() % 9000;
      int64_t ts = 1'700'000'000'000 + next.value();
      Buf batch = make_batch(id, next, size);
      EXPECT_TRUE(b.add(id, next, count, ts, batch).ok());
      added.push_back({id, next, count, ts, batch});
      next = next + count;
    }
  }
  auto built = b.finish();
  EXPECT_TRUE(store.put(key, built.parts).ok());
  if (built_out) *built_out = built;
  return added;
}

TEST(ObjectFormat, RoundTripManyStreams) {
  TestStore store;
  ObjectBuilder::Built built;
  auto added = build_object(store, "o1", 40, 30, 32 * 1024, 7, &built);
  auto layout = read_layout(store, "o1");
  ASSERT_TRUE(layout.ok()) << layout.error().to_string();
  EXPECT_EQ(layout->object_size, built.size);
  EXPECT_EQ(layout->index, built.index);
  EXPECT_GT(layout->index.size(), 40u);  // several blocks per stream

  size_t i = 0;
  for (const BlockIndexEntry& e : layout->index) {
    EXPECT_LE(e.size, 32u * 1024 + 9000 + kRecordHeaderSize);
    auto got = store.get("o1", objstore::ByteRange::at(e.position, e.size));
    ASSERT_TRUE(got.ok());
    auto batches = decode_block(got->data, e);
    ASSERT_TRUE(batches.ok()) << batches.error().to_string();
    for (const DecodedBatch& d : *batches) {
      ASSERT_LT(i, added.size());
      EXPECT_EQ(e.stream, added[i].stream);  // never mixes streams
      EXPECT_EQ(d.base, added[i].base);
      EXPECT_EQ(d.count, added[i].count);
      EXPECT_EQ(d.max_timestamp, added[i].max_ts);
      EXPECT_TRUE(d.batch == added[i].batch);
      i++;
    }
  }
  EXPECT_EQ(i, added.size());
}

TEST(ObjectFormat, BlocksRespectTargetAndNeverMixStreams) {
  ObjectBuilder b(1000);
  ASSERT_TRUE(b.add(StreamId(1), Offset(0), 1, 5, Buf::zeros(400)).ok());
  ASSERT_TRUE(b.add(StreamId(1), Offset(1), 1, 9, Buf::zeros(400)).ok());
  ASSERT_TRUE(b.add(StreamId(1), Offset(2), 1, 7, Buf::zeros(400)).ok());  // exceeds 1000: new
  ASSERT_TRUE(b.add(StreamId(2), Offset(50), 3, 1, Buf::zeros(10)).ok());
  ASSERT_TRUE(b.add(StreamId(2), Offset(60), 1, 1, Buf::zeros(10)).ok());   // gap: new block
  ASSERT_TRUE(b.add(StreamId(3), Offset(0), 1, 1, Buf::zeros(5000)).ok());  // oversized: alone
  auto built = b.finish();
  ASSERT_EQ(built.index.size(), 5u);
  EXPECT_EQ(built.index[0].batch_count, 2u);
  EXPECT_EQ(built.index[0].end, Offset(2));
  EXPECT_EQ(built.index[0].max_timestamp, 9);
  EXPECT_EQ(built.index[0].size, 2 * (400 + kRecordHeaderSize));
  EXPECT_EQ(built.index[1].start, Offset(2));
  EXPECT_EQ(built.index[2].stream, StreamId(2));
  EXPECT_EQ(built.index[2].end, Offset(53));
  EXPECT_EQ(built.index[3].start, Offset(60));
  EXPECT_EQ(built.index[4].size, 5000 + kRecordHeaderSize);
  uint64_t total = 0;
  for (const Buf& p : built.parts) total += p.size();
  EXPECT_EQ(total, built.size);
}

TEST(ObjectFormat, BuilderRejectsBadInput) {
  ObjectBuilder b;
  EXPECT_EQ(b.add(StreamId(1), Offset(0), 0, 0, Buf::zeros(4)).code(), Errc::kInvalidArgument);
  EXPECT_EQ(b.add(StreamId(1), Offset(0), 1, 0, Buf()).code(), Errc::kInvalidArgument);
  EXPECT_EQ(b.add(StreamId(1), Offset(-1), 1, 0, Buf::zeros(4)).code(), Errc::kInvalidArgument);
  ASSERT_TRUE(b.add(StreamId(1), Offset(10), 5, 0, Buf::zeros(4)).ok());
  EXPECT_EQ(b.add(StreamId(1), Offset(14), 1, 0, Buf::zeros(4)).code(), Errc::kInvalidArgument);
  ASSERT_TRUE(b.add(StreamId(2), Offset(0), 1, 0, Buf::zeros(4)).ok());
  // Stream 1 was left; it may not come back.
  EXPECT_EQ(b.add(StreamId(1), Offset(15), 1, 0, Buf::zeros(4)).code(), Errc::kInvalidArgument);
  auto built = b.finish();
  EXPECT_EQ(built.index.size(), 2u);
  EXPECT_TRUE(b.empty());
}

TEST(ObjectFormat, EmptyObjectHasValidLayout) {
  TestStore store;
  ObjectBuilder b;
  auto built = b.finish();
  EXPECT_EQ(built.size, kFooterSize);
  ASSERT_TRUE(store.put("e", built.parts).ok());
  auto layout = read_layout(store, "e");
  ASSERT_TRUE(layout.ok()) << layout.error().to_string();
  EXPECT_TRUE(layout->index.empty());
}

TEST(ObjectFormat, LayoutNeedsOneTailGet) {
  TestStore inner;
  CountingStore store(inner);
  ObjectBuilder::Built built;
  build_object(inner, "o", 30, 40, 16 * 1024, 3, &built);
  ASSERT_GT(built.size, kTailReadSize);  // the object is bigger than the tail read
  auto layout = read_layout(store, "o");
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(store.gets.load(), 1u);
  EXPECT_EQ(store.get_bytes.load(), kTailReadSize);
  auto hinted = read_layout(store, "o", built.size);
  ASSERT_TRUE(hinted.ok());
  EXPECT_EQ(store.gets.load(), 2u);
  EXPECT_EQ(hinted->index, layout->index);
}

TEST(ObjectFormat, SmallObjectTailReadIsWholeObject) {
  TestStore inner;
  CountingStore store(inner);
  ObjectBuilder::Built built;
  build_object(inner, "o", 2, 2, 1024, 5, &built);
  ASSERT_LT(built.size, kTailReadSize);
  auto layout = read_layout(store, "o", built.size);
  ASSERT_TRUE(layout.ok()) << layout.error().to_string();
  EXPECT_EQ(store.gets.load(), 1u);
  EXPECT_EQ(store.get_bytes.load(), built.size);
}

TEST(ObjectFormat, LargeIndexNeedsASecondGet) {
  TestStore inner;
  CountingStore store(inner);
  ObjectBuilder b(64);  // one batch per block
  const int n = 3000;   // 3000 * 48 bytes of index > 64 KiB
  for (int i = 0; i < n; i++) {
    ASSERT_TRUE(b.add(StreamId(1), Offset(i), 1, i, make_batch(StreamId(1), Offset(i), 40)).ok());
  }
  auto built = b.finish();
  ASSERT_EQ(built.index.size(), size_t(n));
  ASSERT_TRUE(inner.put("big", built.parts).ok());
  auto layout = read_layout(store, "big");
  ASSERT_TRUE(layout.ok()) << layout.error().to_string();
  EXPECT_EQ(store.gets.load(), 2u);
  EXPECT_EQ(layout->index, built.index);
}

// ---- Corrupt inputs: each is kCorruption with a message naming a byte position. ----

class CorruptObject : public ::testing::Test {
 protected:
  void SetUp() override {
    build_object(store_, "o", 5, 10, 8 * 1024, 11, &built_);
    bytes_ = store_.bytes("o");
    footer_ = bytes_.size() - kFooterSize;
  }
  // Rewrites the footer crc so that a test reaches the check after it.
  void fix_footer_crc() {
    store_le<uint32_t>(&bytes_[footer_ + kFtFooterCrcOff], crc32c(&bytes_[footer_], 28));
  }
  void fix_index_crc() {
    uint64_t pos = load_le<uint64_t>(&bytes_[footer_ + kFtIndexPosOff]);
    uint64_t len = load_le<uint64_t>(&bytes_[footer_ + kFtIndexLenOff]);
    store_le<uint32_t>(&bytes_[footer_ + kFtIndexCrcOff], crc32c(&bytes_[pos], len));
    fix_footer_crc();
  }
  Status layout_status(uint64_t hint = 0) {
    store_.set_bytes("o", bytes_);
    auto r = read_layout(store_, "o", hint);
    if (r.ok()) return Status();
    EXPECT_NE(r.error().message.find("byte"), std::string::npos) << r.error().message;
    return r.status();
  }

  TestStore store_;
  ObjectBuilder::Built built_;
  std::vector<uint8_t> bytes_;
  size_t footer_ = 0;
};

TEST_F(CorruptObject, IntactParses) {
  EXPECT_TRUE(layout_status().ok());
}

TEST_F(CorruptObject, BadFooterMagic) {
  bytes_.back() ^= 0x40;
  Status st = layout_status();
  EXPECT_EQ(st.code(), Errc::kCorruption);
  EXPECT_NE(st.message().find("magic"), std::string::npos);
  EXPECT_NE(st.message().find(fmt::format("byte {}", footer_ + kFtMagicOff)), std::string::npos);
}

TEST_F(CorruptObject, BadFooterCrc) {
  bytes_[footer_ + kFtBlockCountOff] ^= 1;
  Status st = layout_status();
  EXPECT_EQ(st.code(), Errc::kCorruption);
  EXPECT_NE(st.message().find("footer crc"), std::string::npos);
}

TEST_F(CorruptObject, WrongVersion) {
  store_le<uint16_t>(&bytes_[footer_ + kFtVersionOff], kFormatVersion + 1);
  fix_footer_crc();
  Status st = layout_status();
  EXPECT_EQ(st.code(), Errc::kCorruption);
  EXPECT_NE(st.message().find("version 2"), std::string::npos) << st.message();
}

TEST_F(CorruptObject, UnknownFlags) {
  store_le<uint16_t>(&bytes_[footer_ + kFtFlagsOff], 1);
  fix_footer_crc();
  EXPECT_EQ(layout_status().code(), Errc::kCorruption);
}

TEST_F(CorruptObject, BadIndexCrc) {
  uint64_t pos = load_le<uint64_t>(&bytes_[footer_ + kFtIndexPosOff]);
  bytes_[pos + kIdxSizeOff] ^= 0x10;
  Status st = layout_status();
  EXPECT_EQ(st.code(), Errc::kCorruption);
  EXPECT_NE(st.message().find("index crc"), std::string::npos);
}

TEST_F(CorruptObject, IndexLengthPastObject) {
  store_le<uint64_t>(&bytes_[footer_ + kFtIndexLenOff], uint64_t{1} << 40);
  fix_footer_crc();
  Status st = layout_status();
  EXPECT_EQ(st.code(), Errc::kCorruption);
  EXPECT_NE(st.message().find("index"), std::string::npos);
}

TEST_F(CorruptObject, IndexPositionPastObject) {
  store_le<uint64_t>(&bytes_[footer_ + kFtIndexPosOff], bytes_.size() + 100);
  fix_footer_crc();
  EXPECT_EQ(layout_status().code(), Errc::kCorruption);
}

TEST_F(CorruptObject, IndexLengthNotWholeEntries) {
  // Move the index start by one byte and shorten it: lengths agree with the footer but not with
  // the entry size.
  uint64_t pos = load_le<uint64_t>(&bytes_[footer_ + kFtIndexPosOff]);
  uint64_t len = load_le<uint64_t>(&bytes_[footer_ + kFtIndexLenOff]);
  store_le<uint64_t>(&bytes_[footer_ + kFtIndexPosOff], pos + 1);
  store_le<uint64_t>(&bytes_[footer_ + kFtIndexLenOff], len - 1);
  fix_footer_crc();
  EXPECT_EQ(layout_status().code(), Errc::kCorruption);
}

TEST_F(CorruptObject, IndexEntryBlockOutsideData) {
  uint64_t pos = load_le<uint64_t>(&bytes_[footer_ + kFtIndexPosOff]);
  store_le<uint32_t>(&bytes_[pos + kIdxSizeOff], 1u << 30);  // first entry's block size
  fix_index_crc();
  Status st = layout_status();
  EXPECT_EQ(st.code(), Errc::kCorruption);
  EXPECT_NE(st.message().find(fmt::format("byte {}", pos)), std::string::npos) << st.message();
}

TEST_F(CorruptObject, IndexEntryBadRange) {
  uint64_t pos = load_le<uint64_t>(&bytes_[footer_ + kFtIndexPosOff]);
  int64_t start = load_le<int64_t>(&bytes_[pos + kIdxStartOff]);
  store_le<int64_t>(&bytes_[pos + kIdxEndOff], start);  // empty range
  fix_index_crc();
  EXPECT_EQ(layout_status().code(), Errc::kCorruption);
}

TEST_F(CorruptObject, TruncatedObject) {
  bytes_.resize(bytes_.size() - 7);
  EXPECT_EQ(layout_status().code(), Errc::kCorruption);
  bytes_.resize(bytes_.size() / 2);
  EXPECT_EQ(layout_status().code(), Errc::kCorruption);
  bytes_.resize(kFooterSize - 1);
  EXPECT_EQ(layout_status().code(), Errc::kCorruption);
}

TEST_F(CorruptObject, ShorterThanExpectedSize) {
  uint64_t full = bytes_.size();
  bytes_.resize(full - 100);
  EXPECT_EQ(layout_status(full).code(), Errc::kCorruption);
}

TEST_F(CorruptObject, BadRecordCrcInBlock) {
  auto layout = read_layout(store_, "o");
  ASSERT_TRUE(layout.ok());
  const BlockIndexEntry& e = layout->index[3];
  const size_t flip = e.position + kRecordHeaderSize + 5;  // a payload byte of the first record
  bytes_[flip] ^= 0x01;
  store_.set_bytes("o", bytes_);
  auto got = store_.get("o", objstore::ByteRange::at(e.position, e.size));
  ASSERT_TRUE(got.ok());
  auto dec = decode_block(got->data, e);
  ASSERT_FALSE(dec.ok());
  EXPECT_EQ(dec.code(), Errc::kCorruption);
  EXPECT_NE(dec.error().message.find(fmt::format("record crc mismatch at byte {}", e.position)),
            std::string::npos)
      << dec.error().message;
  // Other blocks still decode.
  const BlockIndexEntry& e0 = layout->index[0];
  auto ok = decode_block(store_.get("o", objstore::ByteRange::at(e0.position, e0.size))->data, e0);
  EXPECT_TRUE(ok.ok());
}

TEST_F(CorruptObject, BlockSizeMismatch) {
  auto layout = read_layout(store_, "o");
  ASSERT_TRUE(layout.ok());
  const BlockIndexEntry& e = layout->index[0];
  auto got = store_.get("o", objstore::ByteRange::at(e.position, e.size - 1));
  ASSERT_TRUE(got.ok());
  auto dec = decode_block(got->data, e);
  EXPECT_EQ(dec.code(), Errc::kCorruption);
}

TEST_F(CorruptObject, BlockDisagreesWithIndexEntry) {
  auto layout = read_layout(store_, "o");
  ASSERT_TRUE(layout.ok());
  BlockIndexEntry e = layout->index[0];
  Buf block = store_.get("o", objstore::ByteRange::at(e.position, e.size))->data;
  BlockIndexEntry wrong = e;
  wrong.end = e.end + 1;
  EXPECT_EQ(decode_block(block, wrong).code(), Errc::kCorruption);
  wrong = e;
  wrong.start = e.start + 1;
  EXPECT_EQ(decode_block(block, wrong).code(), Errc::kCorruption);
  wrong = e;
  wrong.batch_count++;
  EXPECT_EQ(decode_block(block, wrong).code(), Errc::kCorruption);
}

TEST_F(CorruptObject, RecordLengthPastBlock) {
  auto layout = read_layout(store_, "o");
  ASSERT_TRUE(layout.ok());
  const BlockIndexEntry& e = layout->index[1];
  Buf block = store_.get("o", objstore::ByteRange::at(e.position, e.size))->data;
  std::vector<uint8_t> v(block.data(), block.data() + block.size());
  store_le<uint32_t>(&v[kRecLengthOff], e.size);  // longer than the block can hold
  auto dec = decode_block(Buf::take(std::move(v)), e);
  EXPECT_EQ(dec.code(), Errc::kCorruption);
  EXPECT_NE(dec.error().message.find("exceeds its block"), std::string::npos);
}

// Every byte of an object is covered by a crc (records, index, footer) or the magic, so flipping
// any single bit anywhere is detected by read_layout() or by decode_block() of some block.
TEST(ObjectFormat, EverySingleBitFlipIsDetected) {
  TestStore store;
  ObjectBuilder b(600);
  for (int s = 1; s <= 3; s++) {
    for (int i = 0; i < 4; i++) {
      ASSERT_TRUE(
          b.add(StreamId(s), Offset(i * 3), 3, i, make_batch(StreamId(s), Offset(i), 200)).ok());
    }
  }
  auto built = b.finish();
  ASSERT_TRUE(store.put("o", built.parts).ok());
  const std::vector<uint8_t> good = store.bytes("o");
  auto decode_all = [&]() -> Status {
    auto layout = read_layout(store, "o", good.size());
    if (!layout.ok()) return layout.status();
    for (const auto& e : layout->index) {
      auto blk = store.get("o", objstore::ByteRange::at(e.position, e.size));
      if (!blk.ok()) return blk.status();
      auto dec = decode_block(blk->data, e);
      if (!dec.ok()) return dec.status();
    }
    return Status();
  };
  ASSERT_TRUE(decode_all().ok());
  for (size_t pos = 0; pos < good.size(); pos++) {
    for (int bit : {0, 7}) {
      std::vector<uint8_t> bad = good;
      bad[pos] ^= static_cast<uint8_t>(1u << bit);
      store.set_bytes("o", bad);
      Status st = decode_all();
      ASSERT_EQ(st.code(), Errc::kCorruption) << "flip of bit " << bit << " at byte " << pos;
    }
  }
}

TEST(ObjectFormat, ManyStreamsPerObject) {
  ObjectBuilder b;
  for (uint64_t s = 0; s < 20000; s++) {
    ASSERT_TRUE(b.add(StreamId(s * 13 % 20000), Offset(0), 1, 0, Buf::zeros(8)).ok());
  }
  auto built = b.finish();
  EXPECT_EQ(built.index.size(), 20000u);
  TestStore store;
  ASSERT_TRUE(store.put("o", built.parts).ok());
  auto layout = read_layout(store, "o");
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->index, built.index);
}

TEST(ObjectFormat, MissingObjectIsNotFound) {
  TestStore store;
  EXPECT_EQ(read_layout(store, "nope").code(), Errc::kNotFound);
}

}  // namespace
}  // namespace shale::objfmt
