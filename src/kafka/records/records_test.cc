#include "kafka/records/records.h"

#include <gtest/gtest.h>

#include "base/crc32c.h"
#include "base/endian.h"
#include "kafka/records/record_batch.h"

namespace shale::kafka::records {
namespace {

Buf three_records(BatchBuilder::Options opt = {}) {
  opt.base_timestamp = 1000;
  BatchBuilder b(opt);
  b.add("k1", "v1", 1000);
  b.add(std::nullopt, "v2", 1005, {{"h", "x"}, {"n", std::nullopt}});
  b.add("k3", std::nullopt, 1002);
  return b.build();
}

// Copies a Buf into fresh storage so a test may patch it.
Buf clone(const Buf& b) {
  return Buf::copy(b.data(), b.size());
}

TEST(RecordBatch, HandBuiltHeaderDecodes) {
  Buf b = three_records();
  auto h = read_header(b.span());
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->base_offset, 0);
  EXPECT_EQ(h->size_bytes(), b.size());
  EXPECT_EQ(h->magic, 2);
  EXPECT_EQ(h->last_offset_delta, 2);
  EXPECT_EQ(h->record_count, 3);
  EXPECT_EQ(h->base_timestamp, 1000);
  EXPECT_EQ(h->max_timestamp, 1005);
  EXPECT_EQ(h->compression(), Compression::kNone);
  EXPECT_EQ(h->timestamp_type(), TimestampType::kCreateTime);
  EXPECT_EQ(h->crc, crc32c(b.data() + 21, b.size() - 21));
  BatchHeader out;
  EXPECT_TRUE(validate_batch(b.span(), {}, &out).ok());
  EXPECT_EQ(out.record_count, 3);
}

// A batch written byte by byte, independently of BatchBuilder: one record, key "a", value "b",
// producer id 7, epoch 1, sequence 0. Pins the layout and the CRC range to the spec.
TEST(RecordBatch, SpecBytesFixture) {
  std::vector<uint8_t> rec = {
      0x10,       // length 8 (zig-zag)
      0x00,       // attributes
      0x00,       // timestampDelta 0
      0x00,       // offsetDelta 0
      0x02, 'a',  // key length 1
      0x02, 'b',  // value length 1
      0x00,       // no headers
  };
  std::vector<uint8_t> b(61 + rec.size());
  store_be<int64_t>(&b[0], 0);
  store_be<int32_t>(&b[8], static_cast<int32_t>(b.size() - 12));
  store_be<int32_t>(&b[12], -1);
  b[16] = 2;
  store_be<int16_t>(&b[21], 0);
  store_be<int32_t>(&b[23], 0);
  store_be<int64_t>(&b[27], 1700000000000);
  store_be<int64_t>(&b[35], 1700000000000);
  store_be<int64_t>(&b[43], 7);
  store_be<int16_t>(&b[51], 1);
  store_be<int32_t>(&b[53], 0);
  store_be<int32_t>(&b[57], 1);
  std::copy(rec.begin(), rec.end(), b.begin() + 61);
  store_be<uint32_t>(&b[17], crc32c(&b[21], b.size() - 21));
  Buf batch = Buf::take(std::move(b));

  BatchHeader h;
  ASSERT_TRUE(validate_batch(batch.span(), {}, &h).ok());
  EXPECT_EQ(h.producer_id, 7);
  EXPECT_EQ(h.producer_epoch, 1);
  auto it = RecordIterator::create(batch);
  ASSERT_TRUE(it.ok());
  auto r = it->next();
  ASSERT_TRUE(r && r->ok());
  EXPECT_EQ((*r)->key, "a");
  EXPECT_EQ((*r)->value, "b");
  EXPECT_EQ((*r)->timestamp, 1700000000000);
  EXPECT_FALSE(it->next().has_value());

  // The same batch from BatchBuilder is byte-identical.
  BatchBuilder::Options o;
  o.base_timestamp = 1700000000000;
  o.producer_id = 7;
  o.producer_epoch = 1;
  o.base_sequence = 0;
  BatchBuilder bb(o);
  bb.add("a", "b", 1700000000000);
  EXPECT_EQ(bb.build(), batch);
}

TEST(RecordBatch, BadCrcIsCorrupt) {
  Buf b = clone(three_records());
  b.mutable_data()[b.size() - 1] ^= 0x01;
  auto e = validate_batch(b.span(), {});
  EXPECT_EQ(e.code, BatchErrc::kCorrupt);
  EXPECT_NE(e.message.find("crc"), std::string::npos);
}

TEST(RecordBatch, CrcDoesNotCoverBaseOffsetOrLeaderEpoch) {
  Buf b = clone(three_records());
  set_base_offset(b.mutable_data(), 12345);
  set_partition_leader_epoch(b.mutable_data(), 9);
  BatchHeader h;
  ASSERT_TRUE(validate_batch(b.span(), {.from_client = false}, &h).ok());
  EXPECT_EQ(h.base_offset, 12345);
  EXPECT_EQ(h.partition_leader_epoch, 9);
  // ...but a client may not pick its own base offset.
  EXPECT_EQ(validate_batch(b.span(), {}).code, BatchErrc::kInvalidRecord);
}

TEST(RecordBatch, LegacyMagicIsInvalidRecord) {
  for (uint8_t magic : {0, 1}) {
    // A v1 message: offset, size, crc(4), magic, attributes, timestamp, key -1, value -1.
    std::vector<uint8_t> m(8 + 4 + 4 + 1 + 1 + 8 + 4 + 4);
    store_be<int32_t>(&m[8], static_cast<int32_t>(m.size() - 12));
    m[16] = magic;
    auto e = validate_batch(m, {});
    EXPECT_EQ(e.code, BatchErrc::kInvalidRecord) << int(magic);
    EXPECT_NE(e.message.find("magic version 2"), std::string::npos);
  }
  Buf b = clone(three_records());
  b.mutable_data()[16] = 3;
  EXPECT_EQ(validate_batch(b.span(), {}).code, BatchErrc::kCorrupt);
}

TEST(RecordBatch, LengthMismatchIsCorrupt) {
  Buf b = three_records();
  EXPECT_EQ(validate_batch(b.span().subspan(0, b.size() - 1), {}).code, BatchErrc::kCorrupt);
  EXPECT_EQ(validate_batch(b.span().subspan(0, 40), {}).code, BatchErrc::kCorrupt);
  Buf c = clone(b);
  store_be<int32_t>(c.mutable_data() + 8, -5);
  EXPECT_EQ(validate_batch(c.span(), {}).code, BatchErrc::kCorrupt);
}

// Rewrites a header field and fixes the CRC, so only the field's own check can fail.
Buf with_field(const Buf& src, size_t off, auto value) {
  Buf b = clone(src);
  store_be(b.mutable_data() + off, value);
  store_be<uint32_t>(b.mutable_data() + kCrcOffset, compute_crc(b.span()));
  return b;
}

TEST(RecordBatch, CountMismatchIsInvalidRecord) {
  Buf b = three_records();
  EXPECT_EQ(validate_batch(with_field(b, kRecordCountOffset, int32_t{2}).span(), {}).code,
            BatchErrc::kInvalidRecord);
  EXPECT_EQ(validate_batch(with_field(b, kLastOffsetDeltaOffset, int32_t{-1}).span(), {}).code,
            BatchErrc::kInvalidRecord);
  // A count the bytes cannot possibly hold.
  Buf big = with_field(with_field(b, kRecordCountOffset, int32_t{1000}), kLastOffsetDeltaOffset,
                       int32_t{999});
  EXPECT_EQ(validate_batch(big.span(), {}).code, BatchErrc::kInvalidRecord);
}

TEST(RecordBatch, ControlAndSequenceRules) {
  BatchBuilder::Options ctl;
  ctl.control = true;
  Buf c = three_records(ctl);
  EXPECT_EQ(validate_batch(c.span(), {}).code, BatchErrc::kInvalidRecord);
  EXPECT_TRUE(validate_batch(c.span(), {.from_client = false}).ok());

  BatchBuilder::Options idem;
  idem.producer_id = 5;
  idem.base_sequence = -1;
  EXPECT_EQ(validate_batch(three_records(idem).span(), {}).code, BatchErrc::kInvalidRecord);
  idem.base_sequence = 0;
  EXPECT_TRUE(validate_batch(three_records(idem).span(), {}).ok());
}

TEST(RecordBatch, MaxMessageBytes) {
  Buf b = three_records();
  EXPECT_EQ(validate_batch(b.span(), {.max_batch_bytes = int64_t(b.size()) - 1}).code,
            BatchErrc::kTooLarge);
  EXPECT_TRUE(validate_batch(b.span(), {.max_batch_bytes = int64_t(b.size())}).ok());
}

TEST(RecordBatch, AllCompressionCodecsValidateWithoutDecompressing) {
  std::vector<uint8_t> opaque = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x02};
  for (auto c : {Compression::kGzip, Compression::kSnappy, Compression::kLz4, Compression::kZstd}) {
    Buf b = BatchBuilder().build_opaque(c, opaque, 100, 42);
    BatchHeader h;
    auto e = validate_batch(b.span(), {}, &h);
    ASSERT_TRUE(e.ok()) << compression_name(c) << ": " << e.message;
    EXPECT_EQ(h.compression(), c);
    EXPECT_EQ(h.record_count, 100);
    EXPECT_EQ(RecordIterator::create(b).code(), Errc::kInvalidArgument);
  }
  for (int16_t bad : {5, 6, 7}) {
    Buf b = BatchBuilder().build_opaque(static_cast<Compression>(bad), opaque, 1, 42);
    EXPECT_EQ(validate_batch(b.span(), {}).code, BatchErrc::kCorrupt) << bad;
  }
}

TEST(RecordBatch, SplitIsZeroCopyAndStrict) {
  Buf a = three_records();
  BatchBuilder bb;
  bb.add("x", "y", 5);
  Buf b = bb.build();
  std::vector<uint8_t> cat(a.data(), a.data() + a.size());
  cat.insert(cat.end(), b.data(), b.data() + b.size());
  Buf all = Buf::take(std::move(cat));
  auto s = split_batches(all);
  ASSERT_TRUE(s.error.ok());
  ASSERT_EQ(s.batches.size(), 2u);
  EXPECT_EQ(s.batches[0].data(), all.data());
  EXPECT_EQ(s.batches[1].data(), all.data() + a.size());
  EXPECT_EQ(s.batches[1], b);

  Buf cut = all.slice(0, all.size() - 3);
  EXPECT_EQ(split_batches(cut).error.code, BatchErrc::kCorrupt);
  EXPECT_EQ(split_complete_batches(cut).size(), 1u);
  EXPECT_EQ(split_batches(all.slice(0, 5)).error.code, BatchErrc::kCorrupt);
  EXPECT_TRUE(split_batches(Buf()).batches.empty());
}

TEST(RecordBatch, LogAppendTimeRewrite) {
  Buf b = clone(three_records());
  std::span<uint8_t> s(b.mutable_data(), b.size());
  set_log_append_time(s, 99999);
  BatchHeader h;
  ASSERT_TRUE(validate_batch(b.span(), {}, &h).ok());  // CRC recomputed
  EXPECT_EQ(h.timestamp_type(), TimestampType::kLogAppendTime);
  EXPECT_EQ(h.max_timestamp, 99999);
  EXPECT_EQ(h.base_timestamp, 1000);  // untouched, as Kafka does
  auto it = RecordIterator::create(b);
  ASSERT_TRUE(it.ok());
  while (auto r = it->next()) {
    ASSERT_TRUE(r->ok());
    EXPECT_EQ((*r)->timestamp, 99999);
  }
}

TEST(Records, IteratorDecodesEverything) {
  BatchBuilder::Options o;
  o.base_offset = 100;
  Buf b = three_records(o);
  auto it = RecordIterator::create(b);
  ASSERT_TRUE(it.ok());
  std::vector<Record> got;
  while (auto r = it->next()) {
    ASSERT_TRUE(r->ok()) << r->error().message;
    got.push_back(**r);
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].offset, 100);
  EXPECT_EQ(got[0].key, "k1");
  EXPECT_EQ(got[0].value, "v1");
  EXPECT_EQ(got[1].offset, 101);
  EXPECT_FALSE(got[1].key.has_value());
  EXPECT_EQ(got[1].timestamp, 1005);
  ASSERT_EQ(got[1].headers.size(), 2u);
  EXPECT_EQ(got[1].headers[0].key, "h");
  EXPECT_EQ(got[1].headers[0].value, "x");
  EXPECT_FALSE(got[1].headers[1].value.has_value());
  EXPECT_EQ(got[2].offset, 102);
  EXPECT_FALSE(got[2].value.has_value());
}

TEST(Records, IteratorRejectsMalformedRecords) {
  Buf good = three_records();
  // Declared count larger than the records present (CRC fixed so only the count is wrong).
  Buf more = with_field(with_field(good, kRecordCountOffset, int32_t{4}), kLastOffsetDeltaOffset,
                        int32_t{3});
  auto it = RecordIterator::create(more);
  ASSERT_TRUE(it.ok());
  int ok = 0;
  bool failed = false;
  while (auto r = it->next()) {
    if (r->ok())
      ++ok;
    else
      failed = true;
  }
  EXPECT_EQ(ok, 3);
  EXPECT_TRUE(failed);
  // A record length running past the batch.
  Buf bad = clone(good);
  bad.mutable_data()[kHeaderSize] = 0x7e;  // length 63
  auto it2 = RecordIterator::create(bad);
  ASSERT_TRUE(it2.ok());
  auto r = it2->next();
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->ok());
  EXPECT_FALSE(it2->next().has_value());
}

TEST(Records, VarintRoundTrip) {
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1}, int64_t{63}, int64_t{-64}, int64_t{64},
                    int64_t{300}, int64_t{INT32_MAX}, int64_t{INT32_MIN}, INT64_MAX, INT64_MIN}) {
    std::vector<uint8_t> out;
    put_varlong(out, v);
    size_t pos = 0;
    EXPECT_EQ(get_varlong(out, &pos), v);
    EXPECT_EQ(pos, out.size());
    if (v >= INT32_MIN && v <= INT32_MAX) {
      out.clear();
      put_varint(out, static_cast<int32_t>(v));
      pos = 0;
      EXPECT_EQ(get_varint(out, &pos), v);
    }
  }
  std::vector<uint8_t> zz;
  put_varint(zz, -1);
  EXPECT_EQ(zz, std::vector<uint8_t>{0x01});
  std::vector<uint8_t> trunc = {0x80, 0x80};
  size_t pos = 0;
  EXPECT_FALSE(get_varint(trunc, &pos).has_value());
}

}  // namespace
}  // namespace shale::kafka::records
