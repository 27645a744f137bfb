#include "objstore/throttled_object_store.h"

#include <algorithm>
#include <thread>

namespace shale::objstore {

TokenBucket::TokenBucket(Clock& clock, uint64_t bytes_per_sec, uint64_t burst_bytes)
    : clock_(clock),
      rate_(bytes_per_sec),
      burst_(static_cast<double>(burst_bytes)),
      tokens_(static_cast<double>(burst_bytes)),
      last_(clock.now()) {}

std::chrono::nanoseconds TokenBucket::take(uint64_t bytes) {
  std::lock_guard<std::mutex> l(mu_);
  taken_ += bytes;
  if (rate_ == 0) return std::chrono::nanoseconds(0);
  const auto now = clock_.now();
  if (now > last_) {
    const double elapsed_s = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed_s * static_cast<double>(rate_));
    last_ = now;
  }
  tokens_ -= static_cast<double>(bytes);
  if (tokens_ >= 0) return std::chrono::nanoseconds(0);
  return std::chrono::nanoseconds(
      static_cast<int64_t>(-tokens_ * 1e9 / static_cast<double>(rate_)));
}

uint64_t TokenBucket::taken() const {
  std::lock_guard<std::mutex> l(mu_);
  return taken_;
}

ThrottledObjectStore::ThrottledObjectStore(ObjectStore& base, TokenBucket& bucket, Sleep sleep)
    : base_(base), bucket_(bucket), sleep_(std::move(sleep)) {}

void ThrottledObjectStore::charge(uint64_t bytes) {
  const std::chrono::nanoseconds wait = bucket_.take(bytes);
  if (wait.count() <= 0) return;
  if (sleep_) {
    sleep_(wait);
  } else {
    std::this_thread::sleep_for(wait);
  }
}

Status ThrottledObjectStore::put(const std::string& key, const std::vector<Buf>& parts,
                                 const PutOptions& opts) {
  uint64_t bytes = 0;
  for (const Buf& b : parts) bytes += b.size();
  charge(bytes);
  return base_.put(key, parts, opts);
}

Result<GetResult> ThrottledObjectStore::get(const std::string& key, const ByteRange& range) {
  auto r = base_.get(key, range);
  if (r.ok()) charge(r->data.size());
  return r;
}

Status ThrottledObjectStore::upload_part(const std::string& key, const std::string& upload_id,
                                         int part_number, const Buf& data) {
  charge(data.size());
  return base_.upload_part(key, upload_id, part_number, data);
}

}  // namespace shale::objstore
