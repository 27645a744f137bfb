#include "hdr_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace shale::bench {
namespace {

// Exact percentile of a sorted sample with the same rank rule as HdrHistogram::percentile.
int64_t exact_percentile(const std::vector<int64_t>& sorted, double p) {
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

TEST(HdrHistogram, EmptyReportsZero) {
  HdrHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(50), 0);
  EXPECT_EQ(h.percentile(99.9), 0);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.mean(), 0.0);
}

TEST(HdrHistogram, SmallValuesAreExact) {
  HdrHistogram h(2);
  for (int64_t v = 1; v <= 100; ++v) h.record(v);
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.percentile(50), 50);
  EXPECT_EQ(h.percentile(99), 99);
  EXPECT_EQ(h.percentile(100), 100);
  EXPECT_EQ(h.min(), 1);
  EXPECT_EQ(h.max(), 100);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(HdrHistogram, BucketsTileTheRangeWithoutGaps) {
  HdrHistogram h(2);
  // Consecutive buckets must be contiguous and each value must map into its own bucket.
  for (size_t i = 0; i + 1 < 4000; ++i) {
    ASSERT_EQ(h.bucket_high(i) + 1, h.bucket_low(i + 1)) << "bucket " << i;
    ASSERT_EQ(h.bucket_index(h.bucket_low(i)), i);
    ASSERT_EQ(h.bucket_index(h.bucket_high(i)), i);
  }
  const int64_t big = std::numeric_limits<int64_t>::max();
  EXPECT_LE(h.bucket_low(h.bucket_index(big)), big);
  EXPECT_EQ(h.bucket_high(h.bucket_index(big)), big);
}

TEST(HdrHistogram, RelativeErrorIsBoundedAcrossMagnitudes) {
  for (int digits : {1, 2, 3}) {
    HdrHistogram h(digits);
    const double bound = std::pow(10.0, -digits);  // 2*10^d sub-buckets per octave => < 10^-d
    std::mt19937_64 rng(301);
    std::vector<int64_t> values;
    for (int i = 0; i < 200000; ++i) {
      // Log-uniform from 1 ns to ~1000 s.
      const double e = std::uniform_real_distribution<double>(0, 12)(rng);
      values.push_back(static_cast<int64_t>(std::pow(10.0, e)));
      h.record(values.back());
    }
    std::sort(values.begin(), values.end());
    for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99}) {
      const auto exact = static_cast<double>(exact_percentile(values, p));
      const auto got = static_cast<double>(h.percentile(p));
      EXPECT_GE(got, exact) << "digits " << digits << " p" << p;  // highest equivalent value
      EXPECT_LE((got - exact) / exact, bound) << "digits " << digits << " p" << p;
    }
    EXPECT_EQ(h.max(), values.back());
    EXPECT_EQ(h.min(), values.front());
    EXPECT_EQ(h.percentile(100), values.back());
  }
}

TEST(HdrHistogram, MergeEqualsRecordingEverythingInOne) {
  HdrHistogram a, b, all;
  std::mt19937_64 rng(7);
  std::exponential_distribution<double> lat(1.0 / 2e6);  // mean 2 ms in ns
  for (int i = 0; i < 50000; ++i) {
    const auto v = static_cast<int64_t>(lat(rng));
    (i % 3 ? a : b).record(v);
    all.record(v);
  }
  ASSERT_TRUE(a.merge(b));
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_NEAR(a.mean(), all.mean(), 1e-6 * all.mean());
  for (double p : {50.0, 99.0, 99.9}) EXPECT_EQ(a.percentile(p), all.percentile(p));
}

TEST(HdrHistogram, MergeRejectsDifferentPrecision) {
  HdrHistogram a(2), b(3);
  b.record(5);
  EXPECT_FALSE(a.merge(b));
  EXPECT_EQ(a.count(), 0u);
}

TEST(HdrHistogram, CountsNegativesAsZeroAndResetClears) {
  HdrHistogram h;
  h.record(-5);
  h.record(1000, 3);
  EXPECT_EQ(h.count(), 4u);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.percentile(25), 0);
  EXPECT_EQ(h.percentile(26), 1000);
  h.reset();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.percentile(50), 0);
}

TEST(HdrHistogram, TailPercentileSeesASingleOutlier) {
  HdrHistogram h;
  for (int i = 0; i < 999; ++i) h.record(1'000'000);  // 1 ms
  h.record(50'000'000);                               // one 50 ms stall
  EXPECT_LE(h.percentile(99.5), 1'010'000);           // rank 995 is still 1 ms
  EXPECT_EQ(h.percentile(99.95), 50'000'000);
  EXPECT_EQ(h.max(), 50'000'000);
}

}  // namespace
}  // namespace shale::bench
