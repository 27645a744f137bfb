// Balancer: the controller's load-balancing decision, a pure state machine (no store, no clock,
// no threads) so hysteresis and rate limits can be unit-tested with a fake time line.
//
// Load of a broker = weighted sum, over bytes in, bytes out and requests per second, of its
// SHARE of the cluster total of that dimension (dimensions with no traffic are left out), summed
// over the partitions it owns; divided by the weight used, so the loads of all brokers sum to 1
// and the mean is 1 / brokers. Imbalance = max load / mean.
//
// step() is called once per controller pass with the partitions' measured rates. It moves at
// most one partition, and only when all of these hold:
//   - the cluster is not idle (total bytes in + out >= idle_bytes_per_sec; an idle cluster is
//     balanced by partition count in placement.h instead);
//   - every eligible broker has reported, no move or failover is in flight;
//   - imbalance >= threshold in `sustain` consecutive observations (an observation is a step
//     with a new report from every eligible broker; any balanced observation, any move in
//     flight and every move made reset the count: the next move waits for `sustain` rounds of
//     reports measured after the last one settled);
//   - fewer than max_moves partitions moved in the last move_window;
//   - the best move — the (partition on the busiest broker, destination) pair that minimises the
//     resulting maximum load, skipping partitions moved less than `cooldown` ago — lowers the
//     maximum load by at least min_gain * mean.
// Together: a load that flips back and forth never persists long enough, a moved partition
// cannot come straight back, and a move that would only shift the peak elsewhere is not made.
//
// A decided move counts (cool-down, rate limit, hysteresis restart) only once the caller reports
// that its write landed, with moved(): a move whose compare-and-set lost is no move. Moves are
// also learnt from BalanceInput::moved_at, the move times persisted in the assignment records,
// so a new controller keeps the cool-downs and the rate limit of the previous one. The rate
// limit counts partitions by their last move (with cooldown >= move_window, the default, the
// same as counting moves).
//
// Threading: not thread-safe; the controller's agent thread owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "cluster/placement.h"

namespace shale::cluster {

struct PartitionRates {
  double bytes_in = 0;  // per second
  double bytes_out = 0;
  double requests = 0;
  PartitionRates& operator+=(const PartitionRates& o) {
    bytes_in += o.bytes_in;
    bytes_out += o.bytes_out;
    requests += o.requests;
    return *this;
  }
};

struct BalancerOptions {
  double weight_bytes_in = 1.0;
  double weight_bytes_out = 1.0;
  double weight_requests = 1.0;
  double threshold = 1.25;  // max / mean load that counts as imbalanced
  int sustain = 3;          // consecutive imbalanced observations before a move
  double min_gain = 0.10;   // a move must lower the max load by this fraction of the mean
  int max_moves = 4;        // at most this many moves ...
  std::chrono::milliseconds move_window{std::chrono::minutes(10)};  // ... per window
  std::chrono::milliseconds cooldown{std::chrono::minutes(10)};     // per partition, after a move
  double idle_bytes_per_sec = 64 * 1024;  // below (in + out, cluster-wide): count balancing
};

struct BalanceInput {
  std::set<int32_t> eligible;                    // live and not decommissioned
  std::map<PartitionKey, int32_t> owner;         // settled partitions (no move target) → owner
  std::map<PartitionKey, PartitionRates> rates;  // as reported by each partition's owner
  std::set<int32_t> reported;                    // eligible brokers with a load report
  bool fresh = false;           // every eligible broker reported anew since the last observation
  bool move_in_flight = false;  // a move target is set or a failover is pending
  // Last balancer move of each partition as persisted (Assignment::moved_ms), on step()'s clock.
  std::map<PartitionKey, std::chrono::steady_clock::time_point> moved_at;
};

struct BalanceMove {
  PartitionKey partition;
  int32_t from = -1;
  int32_t to = -1;
  double from_before = 0, from_after = 0;  // loads (shares), before and after the move
  double to_before = 0, to_after = 0;
  PartitionRates rates;  // of the partition
};

struct BalanceDecision {
  enum class Outcome {
    kIdle,         // too little traffic: partition counts decide
    kNoReports,    // an eligible broker has not reported yet
    kInFlight,     // a move or failover is in progress
    kBalanced,     // imbalance below threshold
    kHysteresis,   // imbalanced, but not yet for `sustain` observations
    kRateLimited,  // max_moves reached in move_window
    kNoGain,       // no move lowers the max load by min_gain * mean (or all cooling down)
    kMove,
  };
  Outcome outcome = Outcome::kIdle;
  std::map<int32_t, double> load;           // per eligible broker (shares, sum 1)
  std::map<int32_t, PartitionRates> rates;  // per eligible broker
  double imbalance = 0;                     // max / mean
  std::optional<BalanceMove> move;
};

const char* outcome_name(BalanceDecision::Outcome o);

// True when the cluster-wide bytes in + out of `in` is below the idle floor.
bool is_idle(const BalanceInput& in, const BalancerOptions& opts);

class Balancer {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  explicit Balancer(BalancerOptions opts) : opts_(opts) {}
  // Decides; a kMove decision changes nothing until moved() reports that it landed.
  BalanceDecision step(const BalanceInput& in, TimePoint now);
  // The write of a decided move landed at `at`: it cools down and counts against the rate limit.
  void moved(const BalanceMove& m, TimePoint at);
  const BalancerOptions& options() const { return opts_; }

 private:
  std::optional<BalanceMove> best_move(const BalanceInput& in, const BalanceDecision& d,
                                       TimePoint now) const;
  void remember(const PartitionKey& key, TimePoint at);  // keeps the later of two move times

  BalancerOptions opts_;
  int over_ = 0;                                // consecutive imbalanced observations
  std::map<PartitionKey, TimePoint> moved_at_;  // last move per partition: cool-down, rate limit
};

}  // namespace shale::cluster
