#include "s3/recv_pool.h"

#include <gtest/gtest.h>

#include <cstring>

namespace shale::s3 {
namespace {

std::vector<uint8_t> filled(RecvBufferPool& pool, size_t n, uint8_t byte) {
  std::vector<uint8_t> v = pool.take(n);
  v.insert(v.end(), n, byte);
  return v;
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
  std::vector<uint8_t> again = pool->take(1 << 20);
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

TEST(RecvBufferPool, BufsOutliveTheirPoolHandle) {
  auto pool = RecvBufferPool::create(8 << 20);
  Buf b = pool->share(filled(*pool, 100 << 10, 9));
  pool.reset();  // the store went away; the Buf keeps the pool alive until it is dropped
  EXPECT_EQ(b[100], 9);
  b = Buf();
}

}  // namespace
}  // namespace shale::s3
