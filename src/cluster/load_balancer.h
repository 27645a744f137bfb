// LoadBalancer: the controller's placement with balancing, ClusterNodeOptions::planner.
//
//   mode off    plan_assignments() without balancing (placement, failover, decommission only);
//   mode count  plan_assignments() with partition-count balancing (placement.h);
//   mode load   reads every broker's load report (load_report.h; one range read, at most twice
//               per report interval, not every pass); an idle cluster is balanced by
//               count as above; otherwise count balancing is off and, when placement has
//               nothing to do, Balancer::step() (balancer.h) may add one move target.
//
// Every move is logged ("balancer: move t-p from 1 to 3: load 1→3 0.62→0.31 / 0.05→0.36 ...")
// and counted; render_metrics() gives, in Prometheus text:
//   shale_balancer_enabled{mode}               1 for the configured mode (off|count|load)
//   shale_balancer_moves_total                 moves made by this broker as controller (counted
//                                              when the record shows the move landed)
//   shale_balancer_skipped_total{reason}       imbalanced observations left alone, by reason
//                                              (hysteresis, rate_limited, no_gain)
//   shale_balancer_broker_load{broker}         load share as the controller last saw it
//   shale_balancer_broker_bytes_in_per_second{broker}, ..._bytes_out_..., ..._requests_...
//   shale_balancer_imbalance                   max / mean load in the last load decision
// (Brokers that are not the controller report their counters but no broker series.)
//
// Threading: plan() runs on the agent thread; render_metrics() from any thread (a mutex guards
// the snapshot). Borrows the store.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cluster/balancer.h"
#include "cluster/load_report.h"
#include "cluster/placement.h"
#include "meta/meta_store.h"

namespace shale::cluster {

enum class BalanceMode { kOff, kCount, kLoad };
// "off" | "count" | "load"; false for anything else.
bool parse_balance_mode(std::string_view s, BalanceMode* out);
const char* balance_mode_name(BalanceMode m);

class LoadBalancer {
 public:
  LoadBalancer(meta::MetaStore& meta, BalanceMode mode, BalancerOptions opts);
  // The writes placement (and in load mode the balancer) wants; `in.balance` is ignored.
  std::vector<AssignmentWrite> plan(PlacementInput in);
  std::string render_metrics() const;
  BalanceMode mode() const { return mode_; }
  int64_t moves() const { return moves_.load(); }

 private:
  BalanceInput load_input(const PlacementInput& in, const std::map<int32_t, LoadReport>& reports,
                          std::chrono::steady_clock::time_point now, int64_t now_ms);
  // Reports the last decided move to the balancer once a record shows that it landed.
  void settle_pending(const PlacementInput& in);

  meta::MetaStore& meta_;
  const BalanceMode mode_;
  Balancer balancer_;                                  // agent thread only
  std::map<int32_t, LoadReport> reports_;              // agent thread only: as last read
  std::chrono::steady_clock::time_point next_read_{};  // agent thread only
  std::map<int32_t, int64_t> observed_seq_;  // agent thread only: report seqs last observed
  BalanceDecision::Outcome logged_ = BalanceDecision::Outcome::kInFlight;  // agent thread only
  // agent thread only: the last move decided (its record carries moved_ms == pending_ms_),
  // not yet seen landed; its CAS may have lost.
  std::optional<BalanceMove> pending_;
  int64_t pending_ms_ = 0;
  std::chrono::steady_clock::time_point pending_at_{};
  std::atomic<int64_t> moves_{0};
  mutable std::mutex mu_;  // guards the snapshot below
  std::map<std::string, int64_t> skipped_;
  BalanceDecision last_;
};

}  // namespace shale::cluster
