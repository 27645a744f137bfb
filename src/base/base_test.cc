#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "base/buf.h"
#include "base/crc32c.h"
#include "base/endian.h"
#include "base/ids.h"
#include "base/mapped_bytes.h"
#include "base/result.h"

namespace shale {
namespace {

TEST(Crc32c, KnownVector) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
}

TEST(Crc32c, ExtendEqualsWhole) {
  std::string s = "hello, shale streams";
  uint32_t whole = crc32c(s.data(), s.size());
  uint32_t part = crc32c_extend(crc32c(s.data(), 5), s.data() + 5, s.size() - 5);
  EXPECT_EQ(whole, part);
}

TEST(Endian, RoundTrip) {
  uint8_t b[8];
  store_be<int64_t>(b, 0x0102030405060708);
  EXPECT_EQ(b[0], 1);
  EXPECT_EQ(load_be<int64_t>(b), 0x0102030405060708);
  store_le<uint32_t>(b, 0xAABBCCDD);
  EXPECT_EQ(b[0], 0xDD);
  EXPECT_EQ(load_le<uint32_t>(b), 0xAABBCCDDu);
}

TEST(Buf, SliceSharesStorage) {
  Buf b = Buf::copy("abcdef");
  Buf s = b.slice(2, 3);
  EXPECT_EQ(s.view(), "cde");
  EXPECT_EQ(s.data(), b.data() + 2);
  EXPECT_EQ(s.storage_size(), 6u);
}

TEST(MappedBytes, LengthsRoundToPagesAndLargeTailsToAHugePage) {
  EXPECT_EQ(mapped_length(1), 4096u);
  EXPECT_EQ(mapped_length(4097), 8192u);
  EXPECT_EQ(mapped_length(1 << 20), kHugePageBytes);  // a 1 MiB tail gets the whole huge page
  EXPECT_EQ(mapped_length((1 << 20) - 4096), (1u << 20) - 4096);
  EXPECT_EQ(mapped_length(kHugePageBytes + 5000), kHugePageBytes + 8192);  // small tail: pages
  EXPECT_EQ(mapped_length(kHugePageBytes + (1 << 20) + 1), 2 * kHugePageBytes);
}

TEST(MappedBytes, MappingsAreAlignedWritableAndDistinct) {
  MappedBytes a = map_bytes(3 << 20), b = map_bytes(kMappedMinBytes);
  ASSERT_NE(a.data, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data) % kHugePageBytes, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data) % kHugePageBytes, 0u);
  EXPECT_EQ(a.length, mapped_length(3 << 20));
  std::memset(a.data, 0xab, a.length);
  std::memset(b.data, 0xcd, b.length);
  EXPECT_EQ(a.data[a.length - 1], 0xab);  // b's mapping does not overlap a's
  EXPECT_EQ(b.data[0], 0xcd);
  unmap_bytes(a);
  unmap_bytes(b);
}

TEST(Buf, UninitializedIsWritableAndSliceable) {
  Buf b = Buf::uninitialized(5);
  ASSERT_EQ(b.size(), 5u);
  EXPECT_EQ(b.storage_size(), 5u);
  std::memcpy(b.mutable_data(), "hello", 5);
  Buf s = b.slice(1, 3);
  EXPECT_EQ(s.view(), "ell");
  EXPECT_EQ(s.data(), b.data() + 1);
  EXPECT_EQ(s.storage_size(), 5u);
  EXPECT_TRUE(b == Buf::copy("hello"));
  EXPECT_EQ(Buf::uninitialized(0).size(), 0u);
}

Result<int> half(int x) {
  if (x % 2) return Error{Errc::kInvalidArgument, "odd"};
  return x / 2;
}
Result<int> quarter(int x) {
  SHALE_ASSIGN_OR_RETURN(int h, half(x));
  return half(h);
}

TEST(Result, PropagatesErrors) {
  EXPECT_EQ(*quarter(8), 2);
  EXPECT_EQ(quarter(6).code(), Errc::kInvalidArgument);
  Status s(Errc::kNotFound, "x");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.to_string(), "not_found: x");
}

TEST(Ids, DistinctTypesAndOrdering) {
  Offset a(5), b(7);
  EXPECT_LT(a, b);
  EXPECT_EQ(b - a, 2);
  EXPECT_EQ(a + 2, b);
  static_assert(!std::is_convertible_v<StreamId, Offset>);
  EXPECT_EQ(fmt::format("{}", StreamId(42)), "42");
}

}  // namespace
}  // namespace shale
