// HdrHistogram-style latency histogram: log-linear buckets with a bounded relative error.
//
// Values are non-negative 64-bit integers (the bench records nanoseconds). With `digits`
// significant decimal digits the histogram keeps 2^b linear sub-buckets per power of two,
// b = ceil(log2(2 * 10^digits)), so every recorded value is reported within a relative error of
// 1 / 2^(b-1) (digits=2: b=8, error <= 1/128 < 1%). Values below 2^b are exact. The full int64
// range is covered without configuration (digits=2 costs 7,296 counters, ~58 KiB).
//
// Bucket layout (H = 2^(b-1)): for value v let k = max(0, bit_width(v) - b); the bucket index is
// H*k + (v >> k). Index i < 2H holds exactly i; above that the bucket covers
// [top << k, ((top + 1) << k) - 1] with k = i/H - 1 and top = i - H*k.
//
// Thread contract: not thread-safe. Each thread records into its own histogram; merge() them
// once the threads have stopped. Copyable and movable (owns a std::vector).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace shale::bench {

class HdrHistogram {
 public:
  // digits: significant decimal digits kept, 1..4.
  explicit HdrHistogram(int digits = 2);

  // Records `count` occurrences of `value` (negative values are recorded as 0).
  void record(int64_t value, uint64_t count = 1);
  // Adds every count of `other`. Both must have the same `digits`; returns false otherwise.
  bool merge(const HdrHistogram& other);
  void reset();

  uint64_t count() const { return total_; }
  // Exact extremes of what was recorded; 0 when empty.
  int64_t min() const { return total_ ? min_ : 0; }
  int64_t max() const { return max_; }
  double mean() const;
  // Smallest recorded-bucket upper bound v such that at least p% of the values are <= v (the
  // "highest equivalent value" of that bucket, clamped to max()). p in [0, 100]; 0 when empty.
  int64_t percentile(double p) const;
  int digits() const { return digits_; }

  // Bucket geometry, exposed for tests.
  size_t bucket_index(int64_t value) const;
  int64_t bucket_low(size_t index) const;
  int64_t bucket_high(size_t index) const;

 private:
  int digits_;
  int sub_bits_;  // b
  int64_t half_;  // H = 2^(b-1)
  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
  int64_t min_ = 0;
  int64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace shale::bench
