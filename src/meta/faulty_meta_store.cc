#include "meta/faulty_meta_store.h"

#include <thread>

namespace shale::meta {

FaultyMetaStore::FaultyMetaStore(MetaStore& base, uint64_t seed) : base_(base) {
  rng_.seed(seed);
}

int FaultyMetaStore::add_fault(MetaFault f) {
  std::lock_guard<std::mutex> l(mu_);
  int id = next_id_++;
  rules_[id] = Rule{f, 0};
  return id;
}
void FaultyMetaStore::remove_fault(int id) {
  std::lock_guard<std::mutex> l(mu_);
  rules_.erase(id);
}
void FaultyMetaStore::clear_faults() {
  std::lock_guard<std::mutex> l(mu_);
  rules_.clear();
  latency_.clear();
}
void FaultyMetaStore::set_latency(MetaOpMask ops, std::chrono::milliseconds d) {
  std::lock_guard<std::mutex> l(mu_);
  for (uint32_t bit = 1; bit < (1u << 8); bit <<= 1) {
    if (ops & bit) latency_[bit] = d;
  }
}
uint64_t FaultyMetaStore::injected() const {
  std::lock_guard<std::mutex> l(mu_);
  return injected_;
}

std::optional<MetaFault> FaultyMetaStore::enter(MetaOp op) {
  const uint32_t bit = static_cast<uint32_t>(op);
  std::chrono::milliseconds delay{0};
  std::optional<MetaFault> hit;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (auto it = latency_.find(bit); it != latency_.end()) delay = it->second;
    for (auto& [id, r] : rules_) {
      if ((r.f.ops & bit) == 0) continue;
      ++r.seen;
      bool fire = r.f.nth > 0 && (r.seen == r.f.nth || (r.f.and_after && r.seen > r.f.nth));
      if (r.f.probability > 0 &&
          std::uniform_real_distribution<double>(0, 1)(rng_) < r.f.probability) {
        fire = true;
      }
      if (fire && !hit) hit = r.f;
    }
    if (hit) ++injected_;
  }
  if (delay.count() > 0) std::this_thread::sleep_for(delay);
  return hit;
}

template <typename Fn>
auto FaultyMetaStore::run(MetaOp op, const char* name, Fn fn) -> decltype(fn()) {
  using R = decltype(fn());
  auto fault = enter(op);
  auto fail = [&] { return R(Status(fault->code, fmt::format("injected fault: meta {}", name))); };
  if (fault && fault->action == MetaFault::Action::kFailBefore) return fail();
  R r = fn();
  if (fault && r.ok()) return fail();
  return r;
}

Result<RangeResult> FaultyMetaStore::get(const std::string& key, const std::string& range_end,
                                         int64_t limit) {
  return run(MetaOp::kGet, "get", [&] { return base_.get(key, range_end, limit); });
}
Result<Revision> FaultyMetaStore::put(const std::string& key, const std::string& value,
                                      LeaseId lease) {
  return run(MetaOp::kPut, "put", [&] { return base_.put(key, value, lease); });
}
Result<int64_t> FaultyMetaStore::del(const std::string& key, const std::string& range_end) {
  return run(MetaOp::kDel, "del", [&] { return base_.del(key, range_end); });
}
Result<TxnResult> FaultyMetaStore::txn(const Txn& t) {
  return run(MetaOp::kTxn, "txn", [&] { return base_.txn(t); });
}
Result<LeaseId> FaultyMetaStore::grant_lease(std::chrono::seconds ttl) {
  return run(MetaOp::kGrantLease, "grant_lease", [&] { return base_.grant_lease(ttl); });
}
Status FaultyMetaStore::keep_alive(LeaseId id) {
  return run(MetaOp::kKeepAlive, "keep_alive", [&] { return base_.keep_alive(id); });
}
Status FaultyMetaStore::revoke_lease(LeaseId id) {
  return run(MetaOp::kRevokeLease, "revoke_lease", [&] { return base_.revoke_lease(id); });
}
Result<WatchId> FaultyMetaStore::watch(const std::string& key, const std::string& range_end,
                                       Revision start_revision, WatchCallback cb) {
  return run(MetaOp::kWatch, "watch",
             [&] { return base_.watch(key, range_end, start_revision, std::move(cb)); });
}

}  // namespace shale::meta
