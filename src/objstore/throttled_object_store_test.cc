// TokenBucket and ThrottledObjectStore on a ManualClock: the byte rate is respected.
#include "objstore/throttled_object_store.h"

#include <gtest/gtest.h>

#include "objstore/mem_object_store.h"

namespace shale::objstore {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

constexpr uint64_t kRate = 4 << 20;  // 4 MiB/s
constexpr uint64_t kBurst = 256 << 10;

// A sleeping caller on a manual clock: sleeping advances time (rounded up to whole ms).
void sleep_on(ManualClock& clock, nanoseconds d) {
  clock.advance(std::chrono::ceil<milliseconds>(d));
}
double elapsed_s(const ManualClock& clock, std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(clock.now() - t0).count();
}

TEST(TokenBucket, SustainedRateIsTheConfiguredRate) {
  ManualClock clock;
  TokenBucket bucket(clock, kRate, kBurst);
  const auto t0 = clock.now();
  uint64_t total = 0;
  for (int i = 0; i < 640; ++i) {  // 40 MiB in 64 KiB requests
    const uint64_t n = 64 << 10;
    sleep_on(clock, bucket.take(n));
    total += n;
    // Never ahead of the budget: burst + rate * elapsed (+ the ms rounding of the sleeps).
    EXPECT_LE(static_cast<double>(total),
              kBurst + kRate * elapsed_s(clock, t0) + static_cast<double>(n))
        << "after " << total << " bytes";
  }
  const double expect_s = static_cast<double>(total - kBurst) / kRate;  // 9.94 s
  EXPECT_NEAR(elapsed_s(clock, t0), expect_s, 0.7);                     // ms rounding of 640 sleeps
  EXPECT_EQ(bucket.taken(), total);
}

TEST(TokenBucket, IdleTimeAccruesOnlyUpToTheBurst) {
  ManualClock clock;
  TokenBucket bucket(clock, kRate, kBurst);
  EXPECT_EQ(bucket.take(kBurst).count(), 0);  // a full bucket at start
  clock.advance(milliseconds(100'000));       // idle: refills to the burst, not beyond
  EXPECT_EQ(bucket.take(kBurst).count(), 0);
  // Empty now: one more burst's worth waits burst / rate (62.5 ms).
  const nanoseconds w = bucket.take(kBurst);
  EXPECT_NEAR(std::chrono::duration<double>(w).count(), static_cast<double>(kBurst) / kRate, 1e-6);
  // A request far bigger than the burst is admitted but puts the bucket in debt.
  const nanoseconds w2 = bucket.take(8 << 20);
  EXPECT_NEAR(std::chrono::duration<double>(w2).count(),
              static_cast<double>(kBurst + (8 << 20)) / kRate, 1e-6);
}

TEST(TokenBucket, ZeroRateIsUnlimited) {
  ManualClock clock;
  TokenBucket bucket(clock, 0, 0);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(bucket.take(1 << 30).count(), 0);
  EXPECT_EQ(bucket.taken(), 100ull << 30);
}

TEST(ThrottledObjectStore, GetsAndPutsRespectTheRate) {
  ManualClock clock;
  MemObjectStore mem;
  TokenBucket bucket(clock, kRate, kBurst);
  ThrottledObjectStore store(mem, bucket, [&](nanoseconds d) { sleep_on(clock, d); });
  const std::string data(1 << 20, 'x');
  auto t0 = clock.now();
  for (int i = 0; i < 8; ++i) {  // 8 MiB of puts
    ASSERT_TRUE(store.put(fmt::format("o/{}", i), Buf::copy(data)).ok());
  }
  EXPECT_NEAR(elapsed_s(clock, t0), static_cast<double>((8 << 20) - kBurst) / kRate, 0.02);
  // Ranged and whole gets: 8 x 1 MiB + 16 x 256 KiB = 12 MiB, charged by the bytes returned.
  t0 = clock.now();
  for (int i = 0; i < 8; ++i) {
    auto g = store.get(fmt::format("o/{}", i));
    ASSERT_TRUE(g.ok());
    EXPECT_EQ(g->data.size(), data.size());
    for (int j = 0; j < 2; ++j) {
      ASSERT_TRUE(
          store.get(fmt::format("o/{}", i), ByteRange::at(j * (256 << 10), 256 << 10)).ok());
    }
  }
  EXPECT_NEAR(elapsed_s(clock, t0), static_cast<double>(12 << 20) / kRate, 0.05);
  // Metadata calls and failed gets are free.
  t0 = clock.now();
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(store.head("o/1").ok());
    ASSERT_TRUE(store.list("o/").ok());
    EXPECT_EQ(store.get("missing").code(), Errc::kNotFound);
  }
  EXPECT_EQ(clock.now(), t0);  // (each get paid its bytes before returning)
  EXPECT_EQ(bucket.taken(), (8ull << 20) + (12ull << 20));
}

}  // namespace
}  // namespace shale::objstore
