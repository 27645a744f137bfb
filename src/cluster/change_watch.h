// ChangeWatch: tells the cluster agent that a cluster record changed, so it can run a pass now
// instead of waiting for its next periodic one.
//
// One metadata-store watch on a key prefix (the agent uses `shale/`, which holds exactly the
// cluster's control records: brokers, controller, topics, assignments, decommission, the load
// reports (one per broker every --load-report-ms, which lets the load balancer re-plan) and the
// rarely written producer-id block; the stream store's high-volume records live under `/shale/`
// and are not seen). The watch only says "something changed": the agent's pass re-reads the whole
// state anyway, so events need no interpretation and a lost event is never a correctness issue.
//
//   arm()        reads the store revision R (one range read of one key) and watches from R + 1.
//                Call it BEFORE a pass's reads: every change after them is then reported.
//   on_change    runs on the store's watch thread for every update that holds events, and once
//                when the watch ends because the store compacted past it; after that
//                needs_arm() is true and the agent re-arms and does a full pass. (etcd
//                reconnects resume from the next revision by themselves: nothing to do.)
//
// Ownership: borrows the store (must outlive this). Threading: arm()/disarm() from one thread
// (the agent); needs_arm()/events() from any. on_change must not block and must not call
// disarm(); disarm() waits for a running on_change to return, so it must not be called while
// holding a lock that on_change takes.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "meta/meta_store.h"

namespace shale::cluster {

class ChangeWatch {
 public:
  ChangeWatch(meta::MetaStore& meta, std::string prefix, std::function<void()> on_change);
  ~ChangeWatch();
  ChangeWatch(const ChangeWatch&) = delete;
  ChangeWatch& operator=(const ChangeWatch&) = delete;

  // (Re)starts the watch from the current revision + 1. Errors: the store's (not armed then).
  Status arm();
  // Cancels the watch (idempotent).
  void disarm();
  // Not watching: never armed, disarmed, or the watch ended on compaction.
  bool needs_arm() const { return !armed_.load(); }
  // Updates with events received, and watch starts (tests and logs).
  int64_t events() const { return events_.load(); }
  int64_t arms() const { return arms_.load(); }

 private:
  meta::MetaStore& meta_;
  const std::string prefix_;
  const std::function<void()> on_change_;
  meta::WatchId id_ = 0;  // agent thread only
  std::atomic<bool> armed_{false};
  std::atomic<int64_t> events_{0};
  std::atomic<int64_t> arms_{0};
};

}  // namespace shale::cluster
