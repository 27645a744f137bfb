#include "s3/recv_pool.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "base/mapped_bytes.h"

namespace shale::s3 {
namespace {

RecvBuffer filled(RecvBufferPool& pool, size_t n, uint8_t byte) {
  RecvBuffer v = pool.take(n);
  const std::vector<uint8_t> bytes(n, byte);
  v.append(bytes.data(), n);
  return v;
}

TEST(RecvBuffer, GrowsFromHeapToMappedStorageKeepingItsBytes) {
  RecvBuffer b;
  std::vector<uint8_t> want;
  // Appends of odd sizes, from malloc'd storage through the 1 MiB mapping threshold to 5 MiB.
  for (size_t i = 0; want.size() < (5u << 20); i++) {
    std::vector<uint8_t> piece(7919 + i * 13, static_cast<uint8_t>(i));
    b.append(piece.data(), piece.size());
    want.insert(want.end(), piece.begin(), piece.end());
  }
  ASSERT_EQ(b.size(), want.size());
  EXPECT_GE(b.capacity(), b.size());
  EXPECT_EQ(std::memcmp(b.data(), want.data(), want.size()), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % kHugePageBytes, 0u);  // a mapping, aligned

  RecvBuffer moved = std::move(b);
  EXPECT_EQ(moved.size(), want.size());
  EXPECT_EQ(b.size(), 0u);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(b.capacity(), 0u);
  moved.clear();
  EXPECT_TRUE(moved.empty());
  EXPECT_GE(moved.capacity(), want.size());  // clear() keeps the storage for reuse
}

TEST(RecvBuffer, ReserveKeepsContentsAndSmallBuffersStayOnTheHeap) {
  RecvBuffer b;
  b.reserve(100);
  b.append("abc", 3);
  b.reserve(64 << 10);
  EXPECT_EQ(b.view(), "abc");
  EXPECT_EQ(b.capacity(), size_t{64} << 10);  // below the threshold: exactly what was asked
  b.reserve(3 << 20);
  EXPECT_EQ(b.view(), "abc");
  EXPECT_EQ(b.capacity(), mapped_length(3 << 20));
}

TEST(RecvBufferPool, BufferComesBackWhenTheLastSliceIsDropped) {
  auto pool = RecvBufferPool::create(8 << 20);
  Buf whole = pool->share(filled(*pool, 1 << 20, 7));
  const uint8_t* storage = whole.data();
  Buf tail = whole.slice(512 << 10);
  whole = Buf();
  EXPECT_EQ(pool->idle_bytes(), 0u);  // `tail` still refers to the storage
  EXPECT_EQ(tail[0], 7);
  tail = Buf();
  EXPECT_GE(pool->idle_bytes(), size_t{1} << 20);
  RecvBuffer again = pool->take(1 << 20);
  EXPECT_EQ(again.data(), storage);  // the same pages, not a fresh allocation
  EXPECT_TRUE(again.empty());
  EXPECT_EQ(pool->reused(), 1u);
  EXPECT_EQ(pool->idle_bytes(), 0u);
}

TEST(RecvBufferPool, TakesOnlyBuffersOfAFittingSize) {
  auto pool = RecvBufferPool::create(64 << 20);
  pool->give(filled(*pool, 4 << 20, 1));
  EXPECT_LT(pool->take(1 << 20).capacity(), size_t{4} << 20);  // 4 MiB is > 2x: fresh buffer
  EXPECT_EQ(pool->take(8 << 20).capacity(), size_t{8} << 20);  // too small: fresh buffer
  EXPECT_EQ(pool->reused(), 0u);
  EXPECT_GE(pool->take(3 << 20).capacity(), size_t{4} << 20);  // within [n, 2n]: reused
  EXPECT_EQ(pool->reused(), 1u);
}

TEST(RecvBufferPool, IdleBytesStayWithinTheBound) {
  auto pool = RecvBufferPool::create(3 << 20);
  std::vector<Buf> held;
  for (int i = 0; i < 5; i++) held.push_back(pool->share(filled(*pool, 1 << 20, 1)));
  held.clear();
  EXPECT_LE(pool->idle_bytes(), size_t{3} << 20);
  EXPECT_GE(pool->idle_bytes(), size_t{2} << 20);
  pool->give(filled(*pool, 1024, 1));  // tiny buffers are not kept
  EXPECT_LE(pool->idle_bytes(), size_t{3} << 20);
}

TEST(RecvBufferPool, PrefaultFillsThePoolUpToItsBoundWithBuffersTakeReuses) {
  auto pool = RecvBufferPool::create(16 << 20);
  EXPECT_EQ(pool->prefault(size_t{64} << 20, size_t{4} << 20), size_t{16} << 20);  // the bound
  EXPECT_EQ(pool->idle_bytes(), size_t{16} << 20);
  EXPECT_EQ(pool->prefault(size_t{64} << 20, size_t{4} << 20), 0u);  // already full
  // A GET of 2-4 MiB takes a pre-faulted buffer; one of 1 MiB does not (capacity > 2x).
  RecvBuffer a = pool->take(size_t{3} << 20);
  EXPECT_EQ(pool->reused(), 1u);
  EXPECT_GE(a.capacity(), size_t{3} << 20);
  RecvBuffer b = pool->take(size_t{1} << 20);
  EXPECT_EQ(pool->reused(), 1u);
  EXPECT_EQ(pool->idle_bytes(), size_t{12} << 20);
  // Less than the bound: stops at the bytes asked for, counting what is already idle.
  auto small = RecvBufferPool::create(64 << 20);
  EXPECT_EQ(small->prefault(size_t{10} << 20, size_t{4} << 20), size_t{8} << 20);
  EXPECT_EQ(small->prefault(0, size_t{4} << 20), 0u);
  EXPECT_EQ(small->prefault(size_t{64} << 20, 0), 0u);  // tiny buffers are not pooled
  EXPECT_EQ(small->idle_bytes(), size_t{8} << 20);
}

TEST(RecvBufferPool, BufsOutliveTheirPoolHandle) {
  auto pool = RecvBufferPool::create(8 << 20);
  Buf b = pool->share(filled(*pool, 100 << 10, 9));
  pool.reset();  // the store went away; the Buf keeps the pool alive until it is dropped
  EXPECT_EQ(b[100], 9);
  b = Buf();
}

}  // namespace
}  // namespace shale::s3
