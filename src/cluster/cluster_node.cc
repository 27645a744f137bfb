#include "cluster/cluster_node.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "base/log.h"
#include "cluster/admin.h"
#include "cluster/records.h"

namespace shale::cluster {

ClusterNode::ClusterNode(meta::MetaStore& meta, Membership& membership,
                         broker::TopicManager& topics, ClusterNodeOptions opts)
    : meta_(meta),
      membership_(membership),
      topics_(topics),
      opts_(opts),
      self_(membership.self().id) {}

ClusterNode::~ClusterNode() {
  stop();
}

void ClusterNode::start() {
  if (opts_.watch) {
    watch_ = std::make_unique<ChangeWatch>(meta_, "shale/", [this] {
      {
        std::lock_guard lk(mu_);
        changed_ = true;
      }
      cv_.notify_all();
    });
    // Armed before the first pass's reads: every later change wakes the agent.
    if (Status st = watch_->arm(); !st.ok()) {
      SHALE_LOG_WARN("cluster", "cluster watch: {}; retrying", st.to_string());
    }
  }
  if (Status st = pass(); !st.ok()) {
    SHALE_LOG_WARN("cluster", "first cluster pass: {}", st.to_string());
  }
  thread_ = std::thread([this, first = next_delay(Status())] { run(first); });
}

void ClusterNode::stop() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  watch_.reset();  // not under mu_: cancelling waits for a running callback, which takes mu_
}

std::chrono::milliseconds ClusterNode::next_delay(const Status& st) const {
  if (!watch_) return opts_.tick;
  if (!st.ok() || retry_.load() || watch_->needs_arm()) return opts_.tick;
  return opts_.resync;
}

void ClusterNode::run(std::chrono::milliseconds delay) {
  for (;;) {
    {
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, delay, [&] { return stop_ || changed_; });
      if (stop_) return;
      changed_ = false;
    }
    if (watch_ && watch_->needs_arm()) {
      if (Status st = watch_->arm(); !st.ok()) {
        SHALE_LOG_WARN("cluster", "cluster watch: {}; retrying", st.to_string());
      }
    }
    Status st = pass();
    if (!st.ok()) SHALE_LOG_WARN("cluster", "cluster pass: {}", st.to_string());
    delay = next_delay(st);
  }
}

Result<std::map<PartitionKey, CurrentAssignment>> ClusterNode::read_assignments() {
  return cluster::read_assignments(meta_);
}

Status ClusterNode::pass() {
  const int64_t gen = membership_.generation();
  retry_.store(false);
  if (opts_.own_wal_fenced && opts_.own_wal_fenced()) {
    SHALE_LOG_ERROR("cluster",
                    "broker {}: its object WAL was taken over by another broker while it was "
                    "away; it can acknowledge nothing more: exiting ({}) to restart",
                    self_, kWalFencedExitCode);
    std::fflush(nullptr);            // the log line above must reach the log file
    std::_Exit(kWalFencedExitCode);  // like a crash: everything acknowledged is durable
  }
  // 1. Live brokers and decommissioned ids.
  const std::string bp(kBrokersPrefix), dp(kDecommissionPrefix);
  SHALE_ASSIGN_OR_RETURN(meta::RangeResult br, meta_.get(bp, meta::prefix_end(bp)));
  std::vector<broker::BrokerEndpoint> brokers;
  std::set<int32_t> live;
  for (const auto& kv : br.kvs) {
    auto b = decode_broker(kv.value);
    if (!b.ok()) continue;
    live.insert(b->id);
    brokers.push_back(*b);
  }
  std::sort(brokers.begin(), brokers.end(), [](auto& a, auto& b) { return a.id < b.id; });
  SHALE_ASSIGN_OR_RETURN(meta::RangeResult dr, meta_.get(dp, meta::prefix_end(dp)));
  std::set<int32_t> decommissioned;
  for (const auto& kv : dr.kvs) {
    decommissioned.insert(std::atoi(kv.key.c_str() + dp.size()));
  }
  // 2. Controller election: the first broker to create the key under its lease.
  const std::string ck(kControllerKey);
  SHALE_ASSIGN_OR_RETURN(meta::RangeResult cr, meta_.get(ck));
  int32_t controller = cr.kvs.empty() ? -1 : std::atoi(cr.kvs[0].value.c_str());
  if (controller < 0 && membership_.lease_valid()) {
    meta::Txn t;
    t.compares.push_back(meta::Compare::absent(ck));
    t.success.push_back(meta::PutOp{ck, std::to_string(self_), membership_.lease()});
    t.repeat_if_lost = true;  // under our lease: identifies the write
    SHALE_ASSIGN_OR_RETURN(meta::TxnResult r, meta_.txn(t));
    if (r.succeeded) {
      controller = self_;
      SHALE_LOG_INFO("cluster", "broker {} is now the controller", self_);
    }
  }
  if (controller < 0 || (controller == self_ && !membership_.lease_valid())) retry_soon();
  // 3. Topics.
  SHALE_RETURN_IF_ERROR(topics_.sync_topics());
  // 4. Controller decisions.
  SHALE_ASSIGN_OR_RETURN(auto current, read_assignments());
  if (controller == self_ && membership_.lease_valid()) {
    SHALE_RETURN_IF_ERROR(control(live, decommissioned, current));
    SHALE_ASSIGN_OR_RETURN(current, read_assignments());
  }
  {
    std::lock_guard lk(mu_);
    brokers_ = std::move(brokers);
    controller_ = controller;
    assignments_.clear();
    for (const auto& [k, c] : current) assignments_[k] = c.a;
  }
  // 5. Follow the assignments, then 6. confirm.
  SHALE_RETURN_IF_ERROR(follow(live, current));
  membership_.confirm(gen);
  passes_.fetch_add(1);
  return {};
}

bool ClusterNode::write_assignment(const PartitionKey& key, const std::optional<Assignment>& value,
                                   Revision expected) {
  const std::string k = assignment_key(key.first, key.second);
  meta::Txn t;
  t.compares.push_back(expected.value() == 0 ? meta::Compare::absent(k)
                                             : meta::Compare::mod_rev(k, expected));
  if (value) {
    t.success.push_back(meta::PutOp{k, encode_assignment(*value), LeaseId(0)});
  } else {
    t.success.push_back(meta::DeleteOp{k, {}});
  }
  // Two writers that put the same record (e.g. the owner's hand-over and the controller's
  // failover to the same target) mean the same thing: either may take it for its own.
  t.repeat_if_lost = true;
  auto r = meta_.txn(t);
  if (!r.ok()) {
    SHALE_LOG_WARN("cluster", "writing {}: {}", k, r.error().to_string());
    retry_soon();
    return false;
  }
  if (!r->succeeded) retry_soon();  // lost a race: the next pass re-reads and decides again
  return r->succeeded;
}

Status ClusterNode::control(const std::set<int32_t>& live, const std::set<int32_t>& decommissioned,
                            const std::map<PartitionKey, CurrentAssignment>& current) {
  PlacementInput in;
  in.live = live;
  in.decommissioned = decommissioned;
  for (const auto& t : topics_.list()) in.topics[t.name] = t.partitions;
  in.assignments = current;
  in.balance = opts_.balance;
  const std::set<int32_t> blocked = take_over_dead(live, current);
  for (const auto& w : opts_.planner ? opts_.planner(in) : plan_assignments(in)) {
    auto it = current.find(w.partition);
    if (it != current.end() && blocked.count(it->second.a.node)) continue;  // WAL not recovered
    if (!write_assignment(w.partition, w.value, w.expected)) continue;
    if (!w.value) {
      SHALE_LOG_INFO("cluster", "controller: dropped assignment of deleted {}-{}",
                     w.partition.first, w.partition.second);
    } else if (it == current.end()) {
      SHALE_LOG_INFO("cluster", "controller: {}-{} → broker {} (epoch {})", w.partition.first,
                     w.partition.second, w.value->node, w.value->epoch);
    } else if (w.value->node != it->second.a.node) {
      SHALE_LOG_INFO(
          "cluster", "controller: {}-{} failed over from dead broker {} to {} (epoch {})",
          w.partition.first, w.partition.second, it->second.a.node, w.value->node, w.value->epoch);
    } else {
      SHALE_LOG_INFO("cluster", "controller: {}-{} on broker {}: move target {}", w.partition.first,
                     w.partition.second, w.value->node, w.value->target);
    }
  }
  return {};
}

std::set<int32_t> ClusterNode::take_over_dead(
    const std::set<int32_t>& live, const std::map<PartitionKey, CurrentAssignment>& current) {
  std::set<int32_t> dead, blocked;
  for (const auto& [k, c] : current) {
    if (c.a.node >= 0 && !live.count(c.a.node)) dead.insert(c.a.node);
  }
  if (!opts_.take_over_wal) return blocked;
  for (int32_t node : dead) {
    auto started = std::chrono::steady_clock::now();
    Status st = opts_.take_over_wal(node);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - started)
                  .count();
    if (st.ok()) {
      SHALE_LOG_INFO("cluster", "controller: recovered the WAL of dead broker {} in {} ms", node,
                     ms);
    } else {
      SHALE_LOG_WARN("cluster",
                     "controller: WAL takeover of dead broker {} failed after {} ms: {}; its "
                     "partitions wait",
                     node, ms, st.to_string());
      blocked.insert(node);
      retry_soon();
    }
  }
  return blocked;
}

Status ClusterNode::follow(const std::set<int32_t>& live,
                           const std::map<PartitionKey, CurrentAssignment>& current) {
  // Release what is no longer ours (or at another epoch) first.
  for (const auto& o : topics_.owned()) {
    auto it = current.find({o.topic, o.index});
    if (it != current.end() && it->second.a.node == self_ &&
        it->second.a.epoch == o.epoch.value()) {
      if (o.broken) reopen_broken(it->first, it->second);
      continue;
    }
    if (!topics_.release(o.topic, o.index).ok()) retry_soon();
  }
  for (const auto& [key, cur] : current) {
    if (cur.a.node != self_) continue;
    if (!topics_.find(key.first)) {  // topic not visible yet
      retry_soon();
      continue;
    }
    if (cur.a.target >= 0 && cur.a.target != self_ && live.count(cur.a.target)) {
      // Planned move: stop serving, upload, release; then hand the epoch over.
      auto started = std::chrono::steady_clock::now();
      Status st = topics_.release(key.first, key.second);
      if (!st.ok()) SHALE_LOG_WARN("cluster", "release before move: {}", st.to_string());
      Assignment next{cur.a.target, cur.a.epoch + 1, -1, cur.a.moved_ms};
      bool ok = write_assignment(key, next, cur.mod_revision);
      SHALE_LOG_INFO("cluster", "handed {}-{} to broker {} at epoch {} in {} ms{}", key.first,
                     key.second, next.node, next.epoch,
                     std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - started)
                         .count(),
                     ok ? "" : " (record changed meanwhile; retrying next pass)");
      continue;
    }
    auto r = topics_.acquire(key.first, key.second, Epoch(cur.a.epoch));
    if (r.ok()) continue;
    if (r.error().code == Errc::kFenced) {
      // The stream's stored epoch is ahead of the assignment (data from before the cluster, or a
      // previous incarnation of this broker opened it): move the assignment past it.
      auto info = topics_.stream_info(key.first, key.second);
      int64_t stored = info.ok() ? info->epoch.value() : cur.a.epoch;
      Assignment next{self_, static_cast<int32_t>(std::max<int64_t>(stored, cur.a.epoch) + 1),
                      cur.a.target, cur.a.moved_ms};
      SHALE_LOG_INFO("cluster", "{}-{}: stream epoch {} >= assigned {}; re-assigning at {}",
                     key.first, key.second, stored, cur.a.epoch, next.epoch);
      write_assignment(key, next, cur.mod_revision);
      continue;
    }
    SHALE_LOG_WARN("cluster", "cannot open {}-{} at epoch {}: {}", key.first, key.second,
                   cur.a.epoch, r.error().to_string());
    retry_soon();
  }
  return {};
}

void ClusterNode::reopen_broken(const PartitionKey& key, const CurrentAssignment& cur) {
  // A WAL error broke the stream (it refuses appends until reopened): assign the partition to
  // this broker again at epoch + 1; the pass that sees the new record reopens it (acquire
  // closes the old stream and opens at the new epoch, which also rebuilds producer state).
  // Only while serving: a broker whose lease is in doubt leaves it to the controller. The CAS
  // on the record's revision loses to any concurrent move.
  if (!membership_.lease_valid()) return;
  // A WAL that fails every append (e.g. an object WAL that failed for good) would break the
  // stream again at once: one reopen per partition per kReopenBrokenEvery, not one per pass.
  const auto now = std::chrono::steady_clock::now();
  auto [last, first] = reopened_at_.emplace(key, now);
  if (!first) {
    if (now - last->second < kReopenBrokenEvery) return;
    last->second = now;
  }
  Assignment next{self_, cur.a.epoch + 1, cur.a.target, cur.a.moved_ms};
  const bool ok = write_assignment(key, next, cur.mod_revision);
  SHALE_LOG_WARN("cluster", "{}-{}: stream broken at epoch {} (WAL error); {}", key.first,
                 key.second, cur.a.epoch,
                 ok ? fmt::format("reopening at epoch {}", next.epoch)
                    : std::string("record changed meanwhile; next pass decides"));
  retry_soon();
}

std::vector<broker::BrokerEndpoint> ClusterNode::live_brokers() const {
  std::lock_guard lk(mu_);
  return brokers_;
}

int32_t ClusterNode::controller_id() const {
  std::lock_guard lk(mu_);
  return controller_;
}

std::optional<broker::PartitionOwner> ClusterNode::owner(std::string_view topic,
                                                         int32_t index) const {
  std::lock_guard lk(mu_);
  auto it = assignments_.find({std::string(topic), index});
  if (it == assignments_.end()) return std::nullopt;
  return broker::PartitionOwner{it->second.node, it->second.epoch};
}

std::vector<broker::PartitionMove> ClusterNode::moves() const {
  std::lock_guard lk(mu_);
  std::vector<broker::PartitionMove> out;
  for (const auto& [k, a] : assignments_) {
    if (a.target >= 0) out.push_back({k.first, k.second, a.node, a.target});
  }
  return out;
}

Status ClusterNode::request_move(const std::string& topic, int32_t index, int32_t target) {
  const std::string k = assignment_key(topic, index);
  SHALE_ASSIGN_OR_RETURN(meta::RangeResult r, meta_.get(k));
  if (r.kvs.empty())
    return Status(Errc::kNotFound, fmt::format("{}-{} has no owner yet", topic, index));
  SHALE_ASSIGN_OR_RETURN(Assignment a, decode_assignment(r.kvs[0].value));
  if (target >= 0) {
    bool is_live = false;
    for (const auto& b : live_brokers()) is_live = is_live || b.id == target;
    if (!is_live) {
      return Status(Errc::kInvalidArgument, fmt::format("broker {} is not live", target));
    }
  }
  if (target == a.node) target = -1;  // already there: nothing to move
  if (a.target == target) return {};
  a.target = target;
  if (!write_assignment({topic, index}, a, r.kvs[0].mod_revision)) {
    return Status(Errc::kUnavailable, "assignment changed concurrently; retry");
  }
  return {};
}

}  // namespace shale::cluster
