#include "cluster/load_balancer.h"

#include <fmt/format.h>

#include "base/log.h"

namespace shale::cluster {

bool parse_balance_mode(std::string_view s, BalanceMode* out) {
  if (s == "off")
    *out = BalanceMode::kOff;
  else if (s == "count")
    *out = BalanceMode::kCount;
  else if (s == "load")
    *out = BalanceMode::kLoad;
  else
    return false;
  return true;
}

const char* balance_mode_name(BalanceMode m) {
  switch (m) {
    case BalanceMode::kOff:
      return "off";
    case BalanceMode::kCount:
      return "count";
    case BalanceMode::kLoad:
      return "load";
  }
  return "?";
}

LoadBalancer::LoadBalancer(meta::MetaStore& meta, BalanceMode mode, BalancerOptions opts)
    : meta_(meta), mode_(mode), balancer_(opts) {}

BalanceInput LoadBalancer::load_input(const PlacementInput& in,
                                      const std::map<int32_t, LoadReport>& reports,
                                      std::chrono::steady_clock::time_point now, int64_t now_ms) {
  BalanceInput bi;
  for (const auto& [key, cur] : in.assignments) {
    if (cur.a.moved_ms > 0) {  // persisted move time, wall clock → the balancer's steady clock
      bi.moved_at[key] =
          now - std::chrono::milliseconds(std::max<int64_t>(0, now_ms - cur.a.moved_ms));
    }
  }
  for (int32_t b : in.live) {
    if (!in.decommissioned.count(b)) bi.eligible.insert(b);
  }
  for (const auto& [key, cur] : in.assignments) {
    if (cur.a.target >= 0) bi.move_in_flight = true;
    if (cur.a.target >= 0 || !in.live.count(cur.a.node)) continue;
    bi.owner[key] = cur.a.node;
    auto r = reports.find(cur.a.node);
    if (r == reports.end()) continue;
    auto p = r->second.partitions.find(key);
    if (p != r->second.partitions.end()) bi.rates[key] = p->second;
  }
  // An observation = a new report from every eligible broker since the previous observation.
  bi.fresh = true;
  for (int32_t b : bi.eligible) {
    auto r = reports.find(b);
    if (r == reports.end()) {
      bi.fresh = false;
      continue;
    }
    bi.reported.insert(b);
    auto seen = observed_seq_.find(b);
    if (seen != observed_seq_.end() && seen->second == r->second.seq) bi.fresh = false;
  }
  if (bi.fresh) {
    for (int32_t b : bi.eligible) observed_seq_[b] = reports.at(b).seq;
  }
  return bi;
}

std::vector<AssignmentWrite> LoadBalancer::plan(PlacementInput in) {
  using O = BalanceDecision::Outcome;
  if (mode_ != BalanceMode::kLoad) {
    in.balance = mode_ == BalanceMode::kCount;
    return plan_assignments(in);
  }
  const auto now = std::chrono::steady_clock::now();
  if (now >= next_read_) {
    // Reports change once per report interval: reading them twice per interval is enough
    // (the controller passes every tick, and each read returns every broker's record).
    auto reports = read_load_reports(meta_);
    if (!reports.ok()) {
      SHALE_LOG_WARN("cluster", "balancer: reading load reports: {}", reports.error().to_string());
      in.balance = false;
      return plan_assignments(in);
    }
    reports_ = std::move(*reports);
    int64_t interval = 0;
    for (const auto& [b, r] : reports_) {
      if (r.interval_ms > 0 && (interval == 0 || r.interval_ms < interval))
        interval = r.interval_ms;
    }
    next_read_ = now + std::chrono::milliseconds(interval / 2);
  }
  settle_pending(in);
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  BalanceInput bi = load_input(in, reports_, now, now_ms);
  in.balance = is_idle(bi, balancer_.options());
  std::vector<AssignmentWrite> writes = plan_assignments(in);
  bi.move_in_flight = bi.move_in_flight || !writes.empty();
  BalanceDecision d = balancer_.step(bi, now);
  {
    std::lock_guard lk(mu_);
    if (d.outcome == O::kHysteresis || d.outcome == O::kRateLimited || d.outcome == O::kNoGain) {
      if (bi.fresh) ++skipped_[outcome_name(d.outcome)];
    }
    last_ = d;
  }
  if (d.move) {
    const BalanceMove& m = *d.move;
    const CurrentAssignment& cur = in.assignments.at(m.partition);
    writes.push_back(
        {m.partition, Assignment{m.from, cur.a.epoch, m.to, now_ms}, cur.mod_revision});
    pending_ = m;  // counted once a record shows it landed (settle_pending)
    pending_ms_ = now_ms;
    pending_at_ = now;
    SHALE_LOG_INFO("cluster",
                   "balancer: move {}-{} from {} to {}: load {}→{} {:.2f}→{:.2f} / {:.2f}→{:.2f} "
                   "(partition {:.2f} MB/s in, {:.2f} MB/s out, {:.0f} req/s; imbalance {:.2f})",
                   m.partition.first, m.partition.second, m.from, m.to, m.from, m.to, m.from_before,
                   m.from_after, m.to_before, m.to_after, m.rates.bytes_in / 1e6,
                   m.rates.bytes_out / 1e6, m.rates.requests, d.imbalance);
    logged_ = O::kMove;
  } else if (d.outcome != logged_ && d.outcome != O::kInFlight && d.outcome != O::kNoReports) {
    logged_ = d.outcome;  // state changes only: not one line per pass
    std::string loads;
    for (const auto& [b, l] : d.load) loads += fmt::format(" {}:{:.2f}", b, l);
    SHALE_LOG_INFO("cluster", "balancer: {} (imbalance {:.2f}; loads{})", outcome_name(d.outcome),
                   d.imbalance, loads);
  }
  return writes;
}

void LoadBalancer::settle_pending(const PlacementInput& in) {
  if (!pending_) return;
  auto it = in.assignments.find(pending_->partition);
  if (it != in.assignments.end() && it->second.a.moved_ms == pending_ms_) {
    balancer_.moved(*pending_, pending_at_);
    moves_.fetch_add(1);
  } else {
    SHALE_LOG_INFO("cluster", "balancer: move of {}-{} did not land (record changed meanwhile)",
                   pending_->partition.first, pending_->partition.second);
  }
  pending_.reset();
}

std::string LoadBalancer::render_metrics() const {
  std::string out;
  out += "# HELP shale_balancer_enabled The configured balancer mode (1 = this mode is on)\n";
  out += "# TYPE shale_balancer_enabled gauge\n";
  for (BalanceMode m : {BalanceMode::kOff, BalanceMode::kCount, BalanceMode::kLoad}) {
    out += fmt::format("shale_balancer_enabled{{mode=\"{}\"}} {}\n", balance_mode_name(m),
                       m == mode_ ? 1 : 0);
  }
  out += "# HELP shale_balancer_moves_total Partition moves made by the load balancer\n";
  out += "# TYPE shale_balancer_moves_total counter\n";
  out += fmt::format("shale_balancer_moves_total {}\n", moves_.load());
  std::lock_guard lk(mu_);
  out += "# HELP shale_balancer_skipped_total Imbalanced load reports left alone, by reason\n";
  out += "# TYPE shale_balancer_skipped_total counter\n";
  for (const char* reason : {"hysteresis", "rate_limited", "no_gain"}) {
    auto it = skipped_.find(reason);
    out += fmt::format("shale_balancer_skipped_total{{reason=\"{}\"}} {}\n", reason,
                       it == skipped_.end() ? 0 : it->second);
  }
  if (last_.load.empty()) return out;
  out += "# HELP shale_balancer_imbalance Max / mean broker load in the last decision\n";
  out += "# TYPE shale_balancer_imbalance gauge\n";
  out += fmt::format("shale_balancer_imbalance {:.4f}\n", last_.imbalance);
  auto family = [&](const char* name, const char* help, auto value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, help, name);
    for (const auto& [b, l] : last_.load) {
      out += fmt::format("{}{{broker=\"{}\"}} {:.4f}\n", name, b, value(b, l));
    }
  };
  family("shale_balancer_broker_load", "Broker load share (sums to 1) as the controller sees it",
         [](int32_t, double l) { return l; });
  family("shale_balancer_broker_bytes_in_per_second", "Bytes in per second, by broker",
         [&](int32_t b, double) { return last_.rates.at(b).bytes_in; });
  family("shale_balancer_broker_bytes_out_per_second", "Bytes out per second, by broker",
         [&](int32_t b, double) { return last_.rates.at(b).bytes_out; });
  family("shale_balancer_broker_requests_per_second", "Requests per second, by broker",
         [&](int32_t b, double) { return last_.rates.at(b).requests; });
  return out;
}

}  // namespace shale::cluster
