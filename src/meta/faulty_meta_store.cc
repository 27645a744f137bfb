#include "meta/faulty_meta_store.h"

namespace shale::meta {

FaultyMetaStore::FaultyMetaStore(MetaStore& base, uint64_t seed) : base_(base), rules_(seed) {}

int FaultyMetaStore::add_fault(MetaFault f) {
  return rules_.add(f);
}
void FaultyMetaStore::remove_fault(int id) {
  rules_.remove(id);
}
void FaultyMetaStore::clear_faults() {
  rules_.clear();
}
void FaultyMetaStore::set_latency(MetaOpMask ops, std::chrono::milliseconds d) {
  rules_.set_latency(ops, d);
}
uint64_t FaultyMetaStore::injected() const {
  return rules_.injected();
}

template <typename Fn>
auto FaultyMetaStore::run(MetaOp op, const char* name, Fn fn) -> decltype(fn()) {
  using R = decltype(fn());
  auto fault = rules_.check(static_cast<uint32_t>(op));
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
