// ClusterNode: the cluster agent of one broker. One thread runs passes (when, see below):
//
//   1. read the live brokers (shale/brokers/, leased) and decommissioned ids;
//   2. controller election: create shale/controller under this broker's lease if absent;
//   3. TopicManager::sync_topics() (topics created/deleted by other brokers);
//   4. if controller: take over dead owners' object WALs (options.take_over_wal), then
//      plan_assignments() (placement.h) and write the result with CAS;
//   5. follow the assignments: acquire partitions assigned here, hand over the ones with a move
//      target (release = stop, upload, release; then CAS the record to {target, epoch + 1}),
//      release the ones assigned elsewhere;
//   6. Membership::confirm(): serving may (re)start for this registration.
//
// When: a pass runs as soon as a cluster record changes (ChangeWatch on `shale/`: a broker key
// added or expired, the controller key, topics, assignments, decommission), again after `tick`
// when the last pass failed or left work undone (WAL takeover failed, an acquire failed, a CAS
// lost a race, the lease was in doubt), and at least every `resync` as a safety net. Every pass
// still re-reads the whole state, so events need no interpretation and a missed one costs at
// most `resync`; when the watch ends (the store compacted past it) the agent re-arms it and does
// a full pass. Failover time is therefore lease TTL + two passes (controller, new owner), and an
// idle broker reads etcd once per `resync` instead of once per `tick`. With `watch = false` the
// agent polls every `tick` (the behaviour before watches; benchmarks compare the two).
//
// It is also the broker's ClusterView (in-memory snapshot from the last pass), including the
// move requests behind AlterPartitionReassignments / ListPartitionReassignments.
//
// Ownership: borrows the store, the Membership and the TopicManager (all outlive it).
// Threading: thread-safe; the view methods never block; admin methods block on the store.
// etcd unreachable: passes fail and change nothing; the broker keeps serving what it owns until
// Membership says its lease is in doubt; no ownership changes until etcd is back.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "broker/cluster_view.h"
#include "broker/topic_manager.h"
#include "cluster/change_watch.h"
#include "cluster/membership.h"
#include "cluster/placement.h"
#include "meta/meta_store.h"

namespace shale::cluster {

// Process exit code of a broker whose object WAL was taken over by another broker.
inline constexpr int kWalFencedExitCode = 75;

struct ClusterNodeOptions {
  // Polling interval (watch = false); with watches, the retry delay after an unfinished pass.
  std::chrono::milliseconds tick{200};
  // Passes react to changes under `shale/` (see above); false = poll every tick.
  bool watch = true;
  // With watches: the longest time between two passes (safety net).
  std::chrono::milliseconds resync{2000};
  bool balance = true;  // controller evens out partition counts (gap >= 2, one move at a time)
  // Object WAL only: recovers a dead broker's acknowledged, un-uploaded records into its streams
  // (wal_takeover.h). When set, the controller calls it for every dead owner BEFORE reassigning
  // that owner's partitions, and reassigns them only once it succeeds (retrying every pass).
  // Unset (file WAL): nothing can be taken over; partitions fail over with what was uploaded.
  std::function<Status(int32_t node)> take_over_wal;
  // Object WAL only: true when this broker's own WAL was taken over (fenced) while it was away
  // (a paused zombie that woke up). Checked at the start of every pass; when true the broker
  // can never acknowledge a write again, so the agent logs it and ends the process (exit code
  // kWalFencedExitCode) for its supervisor to restart it with a fresh WAL epoch.
  std::function<bool()> own_wal_fenced;
  // The controller's planner; unset: plan_assignments() with `balance` as above. The load
  // balancer (load_balancer.h) plugs in here.
  std::function<std::vector<AssignmentWrite>(const PlacementInput&)> planner;
};

class ClusterNode final : public broker::ClusterView {
 public:
  ClusterNode(meta::MetaStore& meta, Membership& membership, broker::TopicManager& topics,
              ClusterNodeOptions opts);
  ~ClusterNode() override;
  ClusterNode(const ClusterNode&) = delete;
  ClusterNode& operator=(const ClusterNode&) = delete;

  // Runs one pass synchronously (so the broker starts with its partitions open), then starts
  // the agent thread.
  void start();
  // Stops the agent thread (partitions stay open: Broker::stop closes them).
  void stop();

  // ---- broker::ClusterView
  std::vector<broker::BrokerEndpoint> live_brokers() const override;
  int32_t controller_id() const override;
  std::optional<broker::PartitionOwner> owner(std::string_view topic, int32_t index) const override;

  std::vector<broker::PartitionMove> moves() const override;
  Status request_move(const std::string& topic, int32_t index, int32_t target) override;

  // One pass (steps 1-6 above), synchronously. The agent thread calls it every tick; tests call
  // it directly instead of start().
  Status pass();
  // Passes completed.
  int64_t passes() const { return passes_.load(); }
  // Watch updates that triggered a pass (0 without watches).
  int64_t watch_events() const { return watch_ ? watch_->events() : 0; }

 private:
  void run(std::chrono::milliseconds first_delay);
  // Agent thread: when to run the next pass after one that returned `st`.
  std::chrono::milliseconds next_delay(const Status& st) const;
  // Something in this pass was left for a retry (see "When" above).
  void retry_soon() { retry_.store(true); }
  Result<std::map<PartitionKey, CurrentAssignment>> read_assignments();
  Status control(const std::set<int32_t>& live, const std::set<int32_t>& decommissioned,
                 const std::map<PartitionKey, CurrentAssignment>& current);
  // Runs opts_.take_over_wal for every dead owner; returns the owners whose takeover failed.
  std::set<int32_t> take_over_dead(const std::set<int32_t>& live,
                                   const std::map<PartitionKey, CurrentAssignment>& current);
  Status follow(const std::set<int32_t>& live,
                const std::map<PartitionKey, CurrentAssignment>& current);
  bool write_assignment(const PartitionKey& key, const std::optional<Assignment>& value,
                        Revision expected);
  // Owner side: the stream of a partition assigned here is broken (WAL error): re-assign it to
  // this broker at epoch + 1 so the next pass reopens it.
  void reopen_broken(const PartitionKey& key, const CurrentAssignment& cur);

  meta::MetaStore& meta_;
  Membership& membership_;
  broker::TopicManager& topics_;
  const ClusterNodeOptions opts_;
  const int32_t self_;

  mutable std::mutex mu_;  // guards the snapshot below and stop_
  std::condition_variable cv_;
  std::vector<broker::BrokerEndpoint> brokers_;
  int32_t controller_ = -1;
  std::map<PartitionKey, Assignment> assignments_;
  // Agent thread only: when reopen_broken() last re-assigned each partition.
  static constexpr std::chrono::seconds kReopenBrokenEvery{5};
  std::map<PartitionKey, std::chrono::steady_clock::time_point> reopened_at_;
  bool stop_ = false;
  bool changed_ = false;            // a watch event arrived since the last pass started
  std::atomic<bool> retry_{false};  // the current/last pass left work for a retry
  std::atomic<int64_t> passes_{0};
  std::unique_ptr<ChangeWatch> watch_;  // created by start() when opts_.watch
  std::thread thread_;
};

}  // namespace shale::cluster
