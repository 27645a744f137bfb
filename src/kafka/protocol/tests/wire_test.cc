// Wire primitives: exact encodings and bounds checks.
#include "kafka/protocol/wire.h"

#include <gtest/gtest.h>

#include <limits>

namespace shale::kafka {
namespace {

Reader reader_of(std::vector<uint8_t> v) {
  return Reader(Buf::take(std::move(v)));
}

TEST(Wire, FixedWidthBigEndian) {
  Writer w;
  w.write_int16(0x0102);
  w.write_int32(-2);
  w.write_uint16(0xfffe);
  w.write_int64(0x0102030405060708);
  EXPECT_EQ(w.finish(), (std::vector<uint8_t>{1, 2, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xfe, 1, 2, 3, 4,
                                              5, 6, 7, 8}));
  Reader r = reader_of(w.finish());
  EXPECT_EQ(r.read_int16(), 0x0102);
  EXPECT_EQ(r.read_int32(), -2);
  EXPECT_EQ(r.read_uint16(), 0xfffe);
  EXPECT_EQ(r.read_int64(), 0x0102030405060708);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(Wire, VarintsMatchKafka) {
  // Known encodings: uvarint 300 = ac 02; zigzag varint -1 = 01, 1 = 02, -64 = 7f.
  Writer w;
  w.write_uvarint(300);
  w.write_varint(-1);
  w.write_varint(1);
  w.write_varint(-64);
  EXPECT_EQ(w.finish(), (std::vector<uint8_t>{0xac, 0x02, 0x01, 0x02, 0x7f}));
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1} << 40, std::numeric_limits<int64_t>::min(),
                    std::numeric_limits<int64_t>::max()}) {
    Writer lw;
    lw.write_varlong(v);
    Reader r = reader_of(lw.finish());
    EXPECT_EQ(r.read_varlong(), v);
    EXPECT_TRUE(r.ok());
  }
  for (int32_t v :
       {0, -1, 1, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()}) {
    Writer vw;
    vw.write_varint(v);
    Reader r = reader_of(vw.finish());
    EXPECT_EQ(r.read_varint(), v);
  }
}

TEST(Wire, OverlongVarintFails) {
  Reader r = reader_of({0xff, 0xff, 0xff, 0xff, 0xff, 0x01});
  r.read_uvarint();
  EXPECT_FALSE(r.ok());
  Reader r2 = reader_of({0x80, 0x80});
  r2.read_uvarint();
  EXPECT_FALSE(r2.ok());
}

TEST(Wire, StringsClassicAndCompact) {
  Writer w;
  w.write_string("ab", false);
  w.write_string("ab", true);
  w.write_nullable_string(std::nullopt, false);
  w.write_nullable_string(std::nullopt, true);
  EXPECT_EQ(w.finish(), (std::vector<uint8_t>{0, 2, 'a', 'b', 3, 'a', 'b', 0xff, 0xff, 0}));
  Reader r = reader_of(w.finish());
  EXPECT_EQ(r.read_string(false), "ab");
  EXPECT_EQ(r.read_string(true), "ab");
  EXPECT_EQ(r.read_nullable_string(false), std::nullopt);
  EXPECT_EQ(r.read_nullable_string(true), std::nullopt);
  EXPECT_TRUE(r.ok());
}

TEST(Wire, MalformedLengthsFail) {
  // Length past the end.
  Reader a = reader_of({0, 5, 'a'});
  a.read_string(false);
  EXPECT_FALSE(a.ok());
  // Negative length other than -1.
  Reader b = reader_of({0xff, 0xfe});
  b.read_nullable_string(false);
  EXPECT_FALSE(b.ok());
  // Null where not allowed.
  Reader c = reader_of({0xff, 0xff});
  c.read_string(false);
  EXPECT_FALSE(c.ok());
  // Huge array count with few bytes: rejected before any allocation.
  Reader d = reader_of({0x7f, 0xff, 0xff, 0xff, 0});
  d.read_array_len(false);
  EXPECT_FALSE(d.ok());
  Reader e = reader_of({0xff, 0xff, 0xff, 0xff, 0x0f});  // compact: 2^32-2 elements
  e.read_array_len(true);
  EXPECT_FALSE(e.ok());
  // After the first error every read returns zero values and the error stays.
  EXPECT_EQ(e.read_int32(), 0);
  EXPECT_FALSE(e.status().ok());
  EXPECT_EQ(e.status().code(), Errc::kCorruption);
}

TEST(Wire, BytesAreSlicesOfTheFrame) {
  std::vector<uint8_t> v{0, 0, 0, 3, 'x', 'y', 'z'};
  Buf frame = Buf::take(std::move(v));
  Reader r(frame);
  Buf b = r.read_bytes(false);
  EXPECT_EQ(b.view(), "xyz");
  EXPECT_EQ(b.data(), frame.data() + 4);  // no copy
}

TEST(Wire, LargePayloadsAreSharedNotCopied) {
  Buf big = Buf::zeros(Writer::kZeroCopyThreshold * 2);
  Writer w;
  w.write_int32(7);
  w.write_bytes(big, false);
  w.write_int8(1);
  EXPECT_EQ(w.size(), 4 + 4 + big.size() + 1);
  auto parts = w.finish_parts();
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[1].data(), big.data());
}

TEST(Wire, OverlongClassicStringFailsTheWriter) {
  Writer w;
  w.write_string(std::string(40000, 'x'), true);  // compact: fine
  EXPECT_TRUE(w.ok());
  w.write_string(std::string(40000, 'x'), false);  // int16 length cannot say 40000
  EXPECT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), Errc::kInvalidArgument);
}

TEST(Wire, TagSectionSortsByTag) {
  TagSection t;
  t.begin(5).write_int8(9);
  t.add_unknown({TaggedField{2, Buf::copy("ab")}});
  Writer w;
  t.write_to(w);
  EXPECT_EQ(w.finish(), (std::vector<uint8_t>{2, 2, 2, 'a', 'b', 5, 1, 9}));
}

}  // namespace
}  // namespace shale::kafka
