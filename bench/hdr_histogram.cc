#include "hdr_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace shale::bench {

namespace {

int sub_bucket_bits(int digits) {
  int64_t largest = 2;
  for (int i = 0; i < digits; ++i) largest *= 10;  // 2 * 10^digits
  return static_cast<int>(std::bit_width(static_cast<uint64_t>(largest - 1)));
}

}  // namespace

HdrHistogram::HdrHistogram(int digits)
    : digits_(std::clamp(digits, 1, 4)),
      sub_bits_(sub_bucket_bits(digits_)),
      half_(int64_t{1} << (sub_bits_ - 1)) {
  // The largest int64 has bit_width 63, so k <= 63 - b and the top index is H*k + 2H - 1.
  const int64_t max_k = 63 - sub_bits_;
  counts_.assign(static_cast<size_t>(half_ * max_k + 2 * half_), 0);
}

size_t HdrHistogram::bucket_index(int64_t value) const {
  const auto v = static_cast<uint64_t>(std::max<int64_t>(value, 0));
  const int k = std::max(0, static_cast<int>(std::bit_width(v)) - sub_bits_);
  return static_cast<size_t>(half_ * k + static_cast<int64_t>(v >> k));
}

int64_t HdrHistogram::bucket_low(size_t index) const {
  const auto i = static_cast<int64_t>(index);
  if (i < 2 * half_) return i;
  const int64_t k = i / half_ - 1;
  return (i - half_ * k) << k;
}

int64_t HdrHistogram::bucket_high(size_t index) const {
  const auto i = static_cast<int64_t>(index);
  if (i < 2 * half_) return i;
  const int64_t k = i / half_ - 1;
  const auto top = static_cast<uint64_t>(i - half_ * k);
  return static_cast<int64_t>(((top + 1) << k) - 1);
}

void HdrHistogram::record(int64_t value, uint64_t count) {
  if (count == 0) return;
  value = std::max<int64_t>(value, 0);
  counts_[bucket_index(value)] += count;
  if (total_ == 0 || value < min_) min_ = value;
  max_ = std::max(max_, value);
  total_ += count;
  sum_ += static_cast<long double>(value) * count;
}

bool HdrHistogram::merge(const HdrHistogram& other) {
  if (other.digits_ != digits_) return false;
  if (other.total_ == 0) return true;
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  min_ = total_ ? std::min(min_, other.min_) : other.min_;
  max_ = std::max(max_, other.max_);
  total_ += other.total_;
  sum_ += other.sum_;
  return true;
}

void HdrHistogram::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_ = 0;
  min_ = max_ = 0;
  sum_ = 0;
}

double HdrHistogram::mean() const {
  return total_ ? static_cast<double>(sum_ / static_cast<long double>(total_)) : 0.0;
}

int64_t HdrHistogram::percentile(double p) const {
  if (total_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // Rank of the value at percentile p (1-based): at least 1, at most total_.
  auto rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total_)));
  rank = std::clamp<uint64_t>(rank, 1, total_);
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(bucket_high(i), min_, max_);
  }
  return max_;
}

}  // namespace shale::bench
