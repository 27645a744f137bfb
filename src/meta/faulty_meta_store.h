// FaultyMetaStore: wraps a MetaStore and injects errors and latency, for testing callers'
// retry and fencing paths.
//
// A rule selects operation kinds (MetaOp mask) and fires on the Nth matching call (optionally
// every later one) or with a seeded probability. kFailBefore returns `code` without calling the
// wrapped store; kFailAfter calls it and then returns `code` anyway (the mutation took effect but
// the caller sees a timeout, as with an etcd request whose response was lost).
// Watches are passed through (watch registration itself can be failed).
//
// Ownership: borrows the wrapped store. Thread-safety: thread-safe.
#pragma once

#include <chrono>

#include "io/fault_rules.h"
#include "meta/meta_store.h"

namespace shale::meta {

enum class MetaOp : uint32_t {
  kGet = 1u << 0,
  kPut = 1u << 1,
  kDel = 1u << 2,
  kTxn = 1u << 3,
  kGrantLease = 1u << 4,
  kKeepAlive = 1u << 5,
  kRevokeLease = 1u << 6,
  kWatch = 1u << 7,
};
using MetaOpMask = uint32_t;
constexpr MetaOpMask operator|(MetaOp a, MetaOp b) {
  return static_cast<uint32_t>(a) | static_cast<uint32_t>(b);
}
constexpr MetaOpMask operator|(MetaOpMask a, MetaOp b) {
  return a | static_cast<uint32_t>(b);
}
constexpr int kMetaOpKinds = 8;
constexpr MetaOpMask kAllMetaOps = (1u << kMetaOpKinds) - 1;

struct MetaFault {
  enum class Action { kFailBefore, kFailAfter };
  MetaOpMask ops = 0;
  int64_t nth = 0;  // 1-based; 0 = not count-based
  bool and_after = false;
  double probability = 0.0;
  Action action = Action::kFailBefore;
  Errc code = Errc::kUnavailable;
};

class FaultyMetaStore final : public MetaStore {
 public:
  explicit FaultyMetaStore(MetaStore& base, uint64_t seed = 1);

  int add_fault(MetaFault f);
  void remove_fault(int id);
  void clear_faults();
  void set_latency(MetaOpMask ops, std::chrono::milliseconds d);
  uint64_t injected() const;

  Result<RangeResult> get(const std::string& key, const std::string& range_end = {},
                          int64_t limit = 0) override;
  Result<Revision> put(const std::string& key, const std::string& value,
                       LeaseId lease = LeaseId(0)) override;
  Result<int64_t> del(const std::string& key, const std::string& range_end = {}) override;
  Result<TxnResult> txn(const Txn& t) override;
  Result<LeaseId> grant_lease(std::chrono::seconds ttl) override;
  Status keep_alive(LeaseId id) override;
  Status revoke_lease(LeaseId id) override;
  Result<WatchId> watch(const std::string& key, const std::string& range_end,
                        Revision start_revision, WatchCallback cb) override;
  void cancel_watch(WatchId id) override { base_.cancel_watch(id); }

 private:
  template <typename Fn>
  auto run(MetaOp op, const char* name, Fn fn) -> decltype(fn());

  MetaStore& base_;
  io::FaultRules<MetaFault, kMetaOpKinds> rules_;
};

}  // namespace shale::meta
