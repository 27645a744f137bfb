#include "broker/producer_ids.h"

#include <fmt/format.h>

#include <charconv>

#include "base/log.h"

namespace shale::broker {

namespace {

Result<int64_t> parse_next(const std::string& key, const std::string& v) {
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n < 0) {
    return Status(Errc::kCorruption, fmt::format("{} holds '{}', not an id", key, v));
  }
  return n;
}

}  // namespace

std::optional<int64_t> ProducerIdAllocator::try_next() {
  std::lock_guard lk(mu_);
  if (next_ < end_) return next_++;
  return std::nullopt;
}

Result<int64_t> ProducerIdAllocator::claim_block() {
  // Bounded retries: each failed compare means another broker claimed a block meanwhile.
  for (int attempt = 0; attempt < 100; ++attempt) {
    SHALE_ASSIGN_OR_RETURN(meta::RangeResult r, meta_.get(key_));
    int64_t first = 0;
    meta::Compare cmp = meta::Compare::absent(key_);
    if (!r.kvs.empty()) {
      SHALE_ASSIGN_OR_RETURN(first, parse_next(key_, r.kvs[0].value));
      cmp = meta::Compare::mod_rev(key_, r.kvs[0].mod_revision);
    }
    const int64_t end = first + kProducerIdBlock;
    meta::Txn t;
    t.compares.push_back(cmp);
    t.success.push_back(meta::PutOp{key_, std::to_string(end), LeaseId(0)});
    SHALE_ASSIGN_OR_RETURN(meta::TxnResult tr, meta_.txn(t));
    if (!tr.succeeded) continue;
    high_ = std::max(high_, end);
    SHALE_LOG_INFO("broker", "claimed producer ids [{}, {})", first, end);
    return first;
  }
  return Status(Errc::kUnavailable, "could not claim a producer id block (contention)");
}

Result<int64_t> ProducerIdAllocator::next_blocking() {
  std::lock_guard lk(mu_);
  if (next_ < end_) return next_++;
  SHALE_ASSIGN_OR_RETURN(int64_t first, claim_block());
  next_ = first + 1;
  end_ = first + kProducerIdBlock;
  return first;
}

Result<bool> ProducerIdAllocator::known_blocking(int64_t id) {
  std::lock_guard lk(mu_);
  if (id < 0) return false;
  if (id < high_) return true;
  SHALE_ASSIGN_OR_RETURN(meta::RangeResult r, meta_.get(key_));
  if (r.kvs.empty()) return false;
  SHALE_ASSIGN_OR_RETURN(int64_t claimed, parse_next(key_, r.kvs[0].value));
  high_ = std::max(high_, claimed);
  return id < high_;
}

}  // namespace shale::broker
