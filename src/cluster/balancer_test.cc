// Balancer::step: the load balancer's decisions on a fake time line, without a store.
#include "cluster/balancer.h"

#include <gtest/gtest.h>

namespace shale::cluster {
namespace {

using O = BalanceDecision::Outcome;
using namespace std::chrono_literals;
constexpr double kMB = 1e6;

// broker → {partition name → MB/s in}; every partition of topic "t" at index 0.
using Layout = std::map<int32_t, std::map<std::string, double>>;

BalanceInput input(const Layout& layout, bool fresh = true) {
  BalanceInput in;
  for (const auto& [b, parts] : layout) {
    in.eligible.insert(b);
    in.reported.insert(b);
    for (const auto& [name, mb] : parts) {
      in.owner[{name, 0}] = b;
      in.rates[{name, 0}] = PartitionRates{mb * kMB, 0, 0};
    }
  }
  in.fresh = fresh;
  return in;
}

// Applies a decided move to the layout (as the owner hand-over would).
void hand_over(Layout& l, const BalanceMove& m) {
  double v = l[m.from].at(m.partition.first);
  l[m.from].erase(m.partition.first);
  l[m.to][m.partition.first] = v;
}

BalancerOptions opts() {
  BalancerOptions o;
  o.sustain = 3;
  o.max_moves = 10;
  o.move_window = 10min;
  o.cooldown = 5min;
  return o;
}

const Balancer::TimePoint t0{};

TEST(Balancer, SustainedSkewMovesOnePartitionToTheIdlestBroker) {
  Balancer bal(opts());
  Layout l{{1, {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}}}, {2, {{"e", 1}}}, {3, {}}};
  auto d = bal.step(input(l), t0);
  EXPECT_EQ(d.outcome, O::kHysteresis);
  EXPECT_NEAR(d.load[1], 0.8, 1e-9);
  EXPECT_NEAR(d.imbalance, 2.4, 1e-9);
  EXPECT_EQ(bal.step(input(l, /*fresh=*/false), t0 + 1s).outcome, O::kHysteresis);  // no report
  EXPECT_EQ(bal.step(input(l), t0 + 2s).outcome, O::kHysteresis);
  d = bal.step(input(l), t0 + 3s);
  ASSERT_EQ(d.outcome, O::kMove);
  EXPECT_EQ(d.move->from, 1);
  EXPECT_EQ(d.move->to, 3);
  EXPECT_NEAR(d.move->from_after, 0.6, 1e-9);
  EXPECT_NEAR(d.move->to_after, 0.2, 1e-9);
  EXPECT_DOUBLE_EQ(d.move->rates.bytes_in, 1 * kMB);
  // While the move is in flight nothing else moves, and the count starts again after it.
  BalanceInput flying = input(l);
  flying.move_in_flight = true;
  bal.moved(*d.move, t0 + 3s);  // its record was written
  EXPECT_EQ(bal.step(flying, t0 + 4s).outcome, O::kInFlight);
  hand_over(l, *d.move);
  EXPECT_EQ(bal.step(input(l), t0 + 5s).outcome, O::kHysteresis);
  EXPECT_EQ(bal.step(input(l), t0 + 6s).outcome, O::kHysteresis);
  d = bal.step(input(l), t0 + 7s);
  ASSERT_EQ(d.outcome, O::kMove);
  EXPECT_EQ(d.move->from, 1);
  EXPECT_EQ(d.move->to, 2);  // 0.2 (2) vs 0.2 (3): lowest id on a tie
}

TEST(Balancer, ConvergesThenStaysPut) {
  Balancer bal(opts());
  Layout l{{1, {{"a", 2}, {"b", 2}, {"c", 1}, {"d", 1}, {"e", 1}, {"f", 1}}}, {2, {}}, {3, {}}};
  int moves = 0;
  auto t = t0;
  for (int i = 0; i < 100; ++i, t += 1s) {
    auto d = bal.step(input(l), t);
    if (d.move) {
      bal.moved(*d.move, t);
      hand_over(l, *d.move);
      ++moves;
    }
  }
  // 8 MB/s over 3 brokers: 3 moves reach 3 / 3 / 2 MB/s (imbalance 1.125 < 1.25).
  EXPECT_EQ(moves, 3);
  auto d = bal.step(input(l), t);
  EXPECT_EQ(d.outcome, O::kBalanced);
  EXPECT_LT(d.imbalance, 1.25);
}

TEST(Balancer, BelowThresholdNeverMoves) {
  Balancer bal(opts());
  Layout l{{1, {{"a", 1.2}}}, {2, {{"b", 1}}}, {3, {{"c", 0.9}}}};  // 1.16 < 1.25
  for (int i = 0; i < 20; ++i) EXPECT_EQ(bal.step(input(l), t0 + i * 1s).outcome, O::kBalanced);
}

TEST(Balancer, OscillatingLoadNeverMoves) {
  Balancer bal(opts());
  Layout skewed{{1, {{"a", 5}, {"b", 5}}}, {2, {{"c", 1}}}};
  Layout even{{1, {{"a", 1}, {"b", 1}}}, {2, {{"c", 2}}}};
  for (int i = 0; i < 40; ++i) {
    // Imbalanced for two reports, then balanced for one: never `sustain` (3) in a row.
    auto d = bal.step(input(i % 3 == 2 ? even : skewed), t0 + i * 1s);
    EXPECT_NE(d.outcome, O::kMove) << i;
  }
}

TEST(Balancer, MovedPartitionCoolsDownBeforeItCanMoveBack) {
  BalancerOptions o = opts();
  o.sustain = 1;
  o.min_gain = 0.3;
  Balancer bal(o);
  Layout l{{1, {{"p", 1}, {"h", 2.5}}}, {2, {{"q", 0.5}}}};
  auto d = bal.step(input(l), t0);
  ASSERT_EQ(d.outcome, O::kMove);
  ASSERT_EQ(d.move->partition.first, "p");  // moving "h" would leave a max of 3, not 2.5
  bal.moved(*d.move, t0);
  hand_over(l, *d.move);
  // The load shifts: broker 2 is now the busy one and the only helpful move is "p" straight
  // back. It is cooling down (5 min): nothing moves until then.
  l[1]["h"] = 0.5;
  l[2]["q"] = 3;
  d = bal.step(input(l), t0 + 10s);
  EXPECT_EQ(d.outcome, O::kNoGain);
  d = bal.step(input(l), t0 + 4min);
  EXPECT_EQ(d.outcome, O::kNoGain);
  d = bal.step(input(l), t0 + 5min);
  ASSERT_EQ(d.outcome, O::kMove);
  EXPECT_EQ(d.move->partition.first, "p");
  EXPECT_EQ(d.move->to, 1);
}

TEST(Balancer, RateLimitCapsMovesPerWindow) {
  BalancerOptions o = opts();
  o.sustain = 1;
  o.max_moves = 2;
  o.move_window = 1min;
  Balancer bal(o);
  Layout l{{1, {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}, {"e", 1}, {"f", 1}}}, {2, {}}, {3, {}}};
  auto d = bal.step(input(l), t0);
  ASSERT_EQ(d.outcome, O::kMove);
  bal.moved(*d.move, t0);
  hand_over(l, *d.move);
  d = bal.step(input(l), t0 + 1s);
  ASSERT_EQ(d.outcome, O::kMove);
  bal.moved(*d.move, t0 + 1s);
  hand_over(l, *d.move);
  EXPECT_EQ(bal.step(input(l), t0 + 2s).outcome, O::kRateLimited);  // 4/1/1 still skewed
  EXPECT_EQ(bal.step(input(l), t0 + 59s).outcome, O::kRateLimited);
  EXPECT_EQ(bal.step(input(l), t0 + 60s).outcome, O::kMove);  // the first move left the window
}

// A move whose compare-and-set lost (the record changed meanwhile) is no move: it neither cools
// the partition down nor counts against the rate limit.
TEST(Balancer, AMoveWhoseWriteLostIsNotCounted) {
  BalancerOptions o = opts();
  o.sustain = 1;
  o.max_moves = 1;
  Balancer bal(o);
  Layout l{{1, {{"a", 1}, {"b", 1}, {"c", 1}}}, {2, {}}};
  auto d = bal.step(input(l), t0);
  ASSERT_EQ(d.outcome, O::kMove);
  const auto lost = d.move->partition;
  // No moved(): the write lost. The next decision may make the same move again.
  d = bal.step(input(l), t0 + 1s);
  ASSERT_EQ(d.outcome, O::kMove) << outcome_name(d.outcome);
  EXPECT_EQ(d.move->partition, lost);
  bal.moved(*d.move, t0 + 1s);  // this one landed: the limit (1 per window) is reached
  hand_over(l, *d.move);
  l[1]["z"] = 3;
  EXPECT_EQ(bal.step(input(l), t0 + 2s).outcome, O::kRateLimited);
}

// A new controller starts with a new Balancer: the cool-downs and the rate limit come from the
// move times persisted in the assignment records (BalanceInput::moved_at).
TEST(Balancer, PersistedMoveTimesKeepCooldownsAcrossAControllerChange) {
  BalancerOptions o = opts();
  o.sustain = 1;
  o.min_gain = 0.3;
  o.max_moves = 2;
  Layout l{{1, {{"h", 0.5}}}, {2, {{"p", 1}, {"q", 3}}}};  // only "p" back to 1 helps
  BalanceInput in = input(l);
  in.moved_at[{"p", 0}] = t0;  // the previous controller moved "p" from 1 to 2 at t0
  Balancer fresh(o);
  EXPECT_EQ(fresh.step(in, t0 + 10s).outcome, O::kNoGain);  // cooling down (5 min)
  auto d = fresh.step(in, t0 + 5min);
  ASSERT_EQ(d.outcome, O::kMove);
  EXPECT_EQ(d.move->partition.first, "p");
  // The rate limit too: two persisted moves in the window (10 min) reach max_moves = 2.
  Layout busy{{1, {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}}}, {2, {}}};
  BalanceInput in2 = input(busy);
  in2.moved_at[{"x", 0}] = t0;
  in2.moved_at[{"y", 0}] = t0 + 1min;
  Balancer other(o);
  EXPECT_EQ(other.step(in2, t0 + 2min).outcome, O::kRateLimited);
  EXPECT_EQ(other.step(in2, t0 + 10min).outcome, O::kMove);  // x left the window
}

TEST(Balancer, IneligibleBrokerNeitherCountsNorReceives) {
  BalancerOptions o = opts();
  o.sustain = 1;
  Balancer bal(o);
  Layout l{{1, {{"a", 1}, {"b", 1}, {"c", 1}}}, {2, {}}, {3, {}}};
  BalanceInput in = input(l);
  in.eligible.erase(3);  // decommissioned (or not live)
  auto d = bal.step(in, t0);
  ASSERT_EQ(d.outcome, O::kMove);
  EXPECT_EQ(d.move->to, 2);
  EXPECT_FALSE(d.load.count(3));
  EXPECT_NEAR(d.imbalance, 2.0, 1e-9);  // 1.0 / mean 0.5
}

TEST(Balancer, NoMoveThatOnlyShiftsThePeak) {
  BalancerOptions o = opts();
  o.sustain = 1;
  Balancer bal(o);
  Layout l{{1, {{"big", 10}}}, {2, {{"x", 1}}}};  // moving "big" just moves the hot spot
  EXPECT_EQ(bal.step(input(l), t0).outcome, O::kNoGain);
}

TEST(Balancer, IdleClusterAndMissingReportsDoNothing) {
  BalancerOptions o = opts();
  o.sustain = 1;
  Balancer bal(o);
  Layout l{{1, {{"a", 0.01}, {"b", 0.01}}}, {2, {}}};  // 20 kB/s < 64 KiB/s
  EXPECT_EQ(bal.step(input(l), t0).outcome, O::kIdle);
  EXPECT_TRUE(is_idle(input(l), o));
  l[1]["a"] = 5;
  BalanceInput in = input(l);
  in.reported.erase(2);  // a broker that just joined: judge only with every report in
  EXPECT_EQ(bal.step(in, t0 + 1s).outcome, O::kNoReports);
  EXPECT_EQ(bal.step(input(l), t0 + 2s).outcome, O::kNoGain);  // "a" alone is the peak
}

TEST(Balancer, WeightsNormaliseEachDimension) {
  BalancerOptions o = opts();
  o.sustain = 1;
  Balancer bal(o);
  // Bytes in are even; all fetch traffic and requests are on broker 1.
  BalanceInput in;
  in.eligible = in.reported = {1, 2};
  in.fresh = true;
  in.owner = {{{"a", 0}, 1}, {{"b", 0}, 1}, {{"c", 0}, 2}, {{"d", 0}, 2}};
  in.rates[{"a", 0}] = {1e6, 4e6, 100};
  in.rates[{"b", 0}] = {1e6, 4e6, 100};
  in.rates[{"c", 0}] = {1e6, 0, 0};
  in.rates[{"d", 0}] = {1e6, 0, 0};
  auto d = bal.step(in, t0);
  EXPECT_NEAR(d.load[1], (0.5 + 1 + 1) / 3, 1e-9);
  EXPECT_NEAR(d.load[2], 0.5 / 3, 1e-9);
  ASSERT_EQ(d.outcome, O::kMove);
  EXPECT_EQ(d.move->to, 2);
}

}  // namespace
}  // namespace shale::cluster
