#include "cluster/balancer.h"

#include <algorithm>
#include <functional>
#include <vector>

namespace shale::cluster {
namespace {

// Turns rates into load shares: weights of the dimensions with traffic, over their totals.
class Normaliser {
 public:
  Normaliser(const PartitionRates& total, const BalancerOptions& o) {
    auto dim = [&](double t, double w, double* scale) {
      *scale = t > 0 && w > 0 ? w / t : 0;
      if (*scale > 0) weight_ += w;
    };
    dim(total.bytes_in, o.weight_bytes_in, &in_);
    dim(total.bytes_out, o.weight_bytes_out, &out_);
    dim(total.requests, o.weight_requests, &req_);
  }
  double operator()(const PartitionRates& r) const {
    if (weight_ <= 0) return 0;
    return (r.bytes_in * in_ + r.bytes_out * out_ + r.requests * req_) / weight_;
  }

 private:
  double in_ = 0, out_ = 0, req_ = 0, weight_ = 0;
};

PartitionRates cluster_total(const BalanceInput& in) {
  PartitionRates t;
  for (const auto& [key, owner] : in.owner) {
    auto r = in.rates.find(key);
    if (r != in.rates.end() && in.eligible.count(owner)) t += r->second;
  }
  return t;
}

}  // namespace

const char* outcome_name(BalanceDecision::Outcome o) {
  using O = BalanceDecision::Outcome;
  switch (o) {
    case O::kIdle:
      return "idle";
    case O::kNoReports:
      return "no_reports";
    case O::kInFlight:
      return "in_flight";
    case O::kBalanced:
      return "balanced";
    case O::kHysteresis:
      return "hysteresis";
    case O::kRateLimited:
      return "rate_limited";
    case O::kNoGain:
      return "no_gain";
    case O::kMove:
      return "move";
  }
  return "?";
}

bool is_idle(const BalanceInput& in, const BalancerOptions& opts) {
  PartitionRates t = cluster_total(in);
  return t.bytes_in + t.bytes_out < opts.idle_bytes_per_sec;
}

BalanceDecision Balancer::step(const BalanceInput& in, TimePoint now) {
  using O = BalanceDecision::Outcome;
  BalanceDecision d;
  // Persisted moves (e.g. by an earlier controller).
  for (const auto& [key, at] : in.moved_at) remember(key, at);
  const auto keep = std::max(opts_.cooldown, opts_.move_window);
  std::erase_if(moved_at_, [&](const auto& kv) { return now - kv.second >= keep; });
  const auto moves_in_window =
      std::count_if(moved_at_.begin(), moved_at_.end(),
                    [&](const auto& kv) { return now - kv.second < opts_.move_window; });

  const PartitionRates total = cluster_total(in);
  const Normaliser share(total, opts_);
  for (int32_t b : in.eligible) {
    d.load[b] = 0;
    d.rates[b] = {};
  }
  for (const auto& [key, owner] : in.owner) {
    auto r = in.rates.find(key);
    if (r == in.rates.end() || !in.eligible.count(owner)) continue;
    d.rates[owner] += r->second;
    d.load[owner] += share(r->second);
  }
  if (!in.eligible.empty()) {
    double max = 0;
    for (const auto& [b, l] : d.load) max = std::max(max, l);
    const double mean = 1.0 / static_cast<double>(in.eligible.size());
    d.imbalance = max / mean;
  }

  auto outcome = [&](O o) {
    d.outcome = o;
    return d;
  };
  if (in.eligible.size() < 2 || is_idle(in, opts_)) {
    over_ = 0;
    return outcome(O::kIdle);
  }
  for (int32_t b : in.eligible) {
    if (!in.reported.count(b)) return outcome(O::kNoReports);
  }
  if (in.move_in_flight) {
    over_ = 0;  // the next move waits for `sustain` reports measured after this one settled
    return outcome(O::kInFlight);
  }
  if (d.imbalance < opts_.threshold) {
    over_ = 0;
    return outcome(O::kBalanced);
  }
  if (in.fresh) ++over_;
  if (over_ < opts_.sustain) return outcome(O::kHysteresis);
  if (moves_in_window >= opts_.max_moves) return outcome(O::kRateLimited);
  d.move = best_move(in, d, now);
  if (!d.move) return outcome(O::kNoGain);
  return outcome(O::kMove);
}

void Balancer::moved(const BalanceMove& m, TimePoint at) {
  over_ = 0;  // the next move waits for `sustain` observations after this one
  remember(m.partition, at);
}

void Balancer::remember(const PartitionKey& key, TimePoint at) {
  auto [it, added] = moved_at_.emplace(key, at);
  if (!added) it->second = std::max(it->second, at);
}

std::optional<BalanceMove> Balancer::best_move(const BalanceInput& in, const BalanceDecision& d,
                                               TimePoint now) const {
  auto cooling = [&](const PartitionKey& key) {
    auto it = moved_at_.find(key);
    return it != moved_at_.end() && now - it->second < opts_.cooldown;
  };
  const Normaliser share(cluster_total(in), opts_);
  const double mean = 1.0 / static_cast<double>(in.eligible.size());
  int32_t src = -1;
  double max = -1;
  for (const auto& [b, l] : d.load) {
    if (l > max) max = l, src = b;
  }
  // The maximum over every broker except the two a move changes: the first of the three
  // largest loads that is neither (O(1) per candidate move).
  std::vector<std::pair<double, int32_t>> top;
  for (const auto& [x, l] : d.load) top.emplace_back(l, x);
  std::partial_sort(top.begin(), top.begin() + std::min<size_t>(3, top.size()), top.end(),
                    std::greater<>());
  top.resize(std::min<size_t>(3, top.size()));
  auto others_max = [&](int32_t a, int32_t b) {
    for (const auto& [l, x] : top) {
      if (x != a && x != b) return l;
    }
    return 0.0;
  };
  // Best = lowest resulting maximum, then the most even (lowest sum of squared loads).
  std::optional<BalanceMove> best;
  double best_max = max - opts_.min_gain * mean;  // a move must end at or below this
  double best_sq = 0;
  double sq = 0;
  for (const auto& [b, l] : d.load) sq += l * l;
  constexpr double kEps = 1e-12;
  for (const auto& [key, owner] : in.owner) {
    if (owner != src || cooling(key)) continue;
    auto r = in.rates.find(key);
    if (r == in.rates.end()) continue;
    const double l = share(r->second);
    if (l <= 0) continue;
    for (int32_t dst : in.eligible) {
      if (dst == src) continue;
      const double from = d.load.at(src), to = d.load.at(dst);
      const double new_max = std::max({from - l, to + l, others_max(src, dst)});
      const double new_sq =
          sq - from * from - to * to + (from - l) * (from - l) + (to + l) * (to + l);
      const bool better = !best ? new_max <= best_max + kEps
                                : new_max < best_max - kEps ||
                                      (new_max <= best_max + kEps && new_sq < best_sq - kEps);
      if (!better) continue;
      best_max = new_max;
      best_sq = new_sq;
      best = BalanceMove{key, src, dst, from, from - l, to, to + l, r->second};
    }
  }
  return best;
}

}  // namespace shale::cluster
