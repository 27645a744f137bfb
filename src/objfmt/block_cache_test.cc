#include "objfmt/block_cache.h"

#include <gtest/gtest.h>

#include <thread>

namespace shale::objfmt {
namespace {

std::shared_ptr<const CachedBlock> block_of(size_t size) {
  auto b = std::make_shared<CachedBlock>();
  b->raw = Buf::zeros(size);
  b->entry.size = static_cast<uint32_t>(size);
  return b;
}

constexpr size_t kCharge = 1000 + BlockCache::kEntryOverhead;

TEST(BlockCache, HitMissAndCounters) {
  BlockCache cache(10 * kCharge);
  EXPECT_EQ(cache.get("a", 0), nullptr);
  cache.put("a", 0, block_of(1000));
  auto hit = cache.get("a", 0);
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->raw.size(), 1000u);
  EXPECT_EQ(cache.get("a", 1000), nullptr);  // same object, other position
  EXPECT_EQ(cache.get("b", 0), nullptr);     // other object, same position
  auto s = cache.stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 3u);
  EXPECT_EQ(s.insertions, 1u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.bytes, kCharge);
}

TEST(BlockCache, BoundedInBytes) {
  BlockCache cache(5 * kCharge);
  for (int i = 0; i < 50; i++) {
    cache.put("o", i * 1000, block_of(1000));
    EXPECT_LE(cache.stats().bytes, 5 * kCharge);
  }
  auto s = cache.stats();
  EXPECT_EQ(s.entries, 5u);
  EXPECT_EQ(s.evictions, 45u);
  // The five most recent survive.
  for (int i = 45; i < 50; i++) EXPECT_TRUE(cache.contains("o", i * 1000)) << i;
  EXPECT_FALSE(cache.contains("o", 44 * 1000));
}

TEST(BlockCache, EvictsLeastRecentlyUsed) {
  BlockCache cache(3 * kCharge);
  cache.put("o", 0, block_of(1000));
  cache.put("o", 1, block_of(1000));
  cache.put("o", 2, block_of(1000));
  ASSERT_NE(cache.get("o", 0), nullptr);  // 0 becomes most recent; 1 is now the oldest
  cache.put("o", 3, block_of(1000));
  EXPECT_TRUE(cache.contains("o", 0));
  EXPECT_FALSE(cache.contains("o", 1));
  EXPECT_TRUE(cache.contains("o", 2));
  EXPECT_TRUE(cache.contains("o", 3));
  // contains() does not refresh: 2 is the oldest now.
  EXPECT_TRUE(cache.contains("o", 2));
  cache.put("o", 4, block_of(1000));
  EXPECT_FALSE(cache.contains("o", 2));
  EXPECT_EQ(cache.stats().evictions, 2u);
}

TEST(BlockCache, LargeBlockEvictsSeveralAndOversizedIsNotCached) {
  BlockCache cache(4 * kCharge);
  for (int i = 0; i < 4; i++) cache.put("o", i, block_of(1000));
  cache.put("big", 0, block_of(2500));  // needs the room of three small ones
  EXPECT_TRUE(cache.contains("big", 0));
  EXPECT_EQ(cache.stats().entries, 2u);
  EXPECT_TRUE(cache.contains("o", 3));
  cache.put("huge", 0, block_of(5 * kCharge));
  EXPECT_FALSE(cache.contains("huge", 0));
  EXPECT_TRUE(cache.contains("big", 0));
}

TEST(BlockCache, ReplaceKeepsAccountingExact) {
  BlockCache cache(10 * kCharge);
  cache.put("o", 0, block_of(1000));
  cache.put("o", 0, block_of(500));
  auto s = cache.stats();
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.bytes, 500 + BlockCache::kEntryOverhead);
  EXPECT_EQ(cache.get("o", 0)->raw.size(), 500u);
}

TEST(BlockCache, EraseObject) {
  BlockCache cache(10 * kCharge);
  cache.put("a", 0, block_of(1000));
  cache.put("a", 1000, block_of(1000));
  cache.put("b", 0, block_of(1000));
  cache.erase_object("a");
  EXPECT_FALSE(cache.contains("a", 0));
  EXPECT_FALSE(cache.contains("a", 1000));
  EXPECT_TRUE(cache.contains("b", 0));
  EXPECT_EQ(cache.stats().bytes, kCharge);
}

TEST(BlockCache, EraseDropsOneBlock) {
  BlockCache cache(10 * kCharge);
  cache.put("a", 0, block_of(1000));
  cache.put("a", 1000, block_of(1000));
  auto held = cache.get("a", 0);
  EXPECT_TRUE(cache.erase("a", 0));
  EXPECT_FALSE(cache.erase("a", 0));  // already gone
  EXPECT_FALSE(cache.erase("b", 0));  // never there
  EXPECT_FALSE(cache.contains("a", 0));
  EXPECT_TRUE(cache.contains("a", 1000));
  EXPECT_EQ(cache.stats().bytes, kCharge);
  EXPECT_EQ(cache.stats().evictions, 0u);
  EXPECT_EQ(held->raw.size(), 1000u);  // a holder keeps its block
}

TEST(BlockCache, EvictedBlockStaysValidForHolder) {
  BlockCache cache(kCharge);
  cache.put("o", 0, block_of(1000));
  auto held = cache.get("o", 0);
  cache.put("o", 1, block_of(1000));
  EXPECT_FALSE(cache.contains("o", 0));
  EXPECT_EQ(held->raw.size(), 1000u);
}

TEST(BlockCache, ConcurrentUseStaysBounded) {
  BlockCache cache(20 * kCharge);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; t++) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 2000; i++) {
        const uint64_t pos = (i * 7 + t) % 64;
        if (!cache.get("o", pos)) cache.put("o", pos, block_of(1000));
      }
    });
  }
  for (auto& t : ts) t.join();
  auto s = cache.stats();
  EXPECT_LE(s.bytes, 20 * kCharge);
  EXPECT_EQ(s.hits + s.misses, 8000u);
  EXPECT_EQ(s.insertions - s.evictions, s.entries);
}

}  // namespace
}  // namespace shale::objfmt
