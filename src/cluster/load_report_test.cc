// Load reports: the record codec and the rate meter (pure; the reporter thread is exercised by
// cluster_node_test and tests/integration/test_balancer.py).
#include "cluster/load_report.h"

#include <gtest/gtest.h>

#include "cluster/load_balancer.h"
#include "stream/stream_test_util.h"

namespace shale::cluster {
namespace {

using namespace std::chrono_literals;
using Sample = RateMeter::Sample;

TEST(LoadReport, RecordRoundTripsCompactly) {
  LoadReport r;
  r.seq = 42;
  r.interval_ms = 5000;
  r.partitions[{"orders", 3}] = {1234.567, 89.0, 12.5};
  r.partitions[{"__consumer_offsets", 0}] = {0, 0, 0.25};
  const std::string json = encode_load_report(r);
  EXPECT_EQ(json, R"({"interval_ms":5000,"p":[["__consumer_offsets",0,0.0,0.0,0.25],)"
                  R"(["orders",3,1234.57,89.0,12.5]],"seq":42})");
  auto back = decode_load_report(json);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->seq, 42);
  EXPECT_EQ(back->interval_ms, 5000);
  ASSERT_EQ(back->partitions.size(), 2u);
  EXPECT_DOUBLE_EQ((back->partitions[{"orders", 3}].bytes_in), 1234.57);
  EXPECT_DOUBLE_EQ((back->partitions[{"__consumer_offsets", 0}].requests), 0.25);
  EXPECT_EQ(load_key(7), "shale/load/7");
}

TEST(LoadReport, MalformedRecordsAreRejected) {
  EXPECT_FALSE(decode_load_report("").ok());
  EXPECT_FALSE(decode_load_report("{}").ok());
  EXPECT_FALSE(decode_load_report(R"({"p":[["t",0,1,2]]})").ok());    // 4 fields
  EXPECT_FALSE(decode_load_report(R"({"p":[[0,"t",1,2,3]]})").ok());  // swapped
  EXPECT_TRUE(decode_load_report(R"({"p":[]})").ok());
}

TEST(RateMeter, FirstIntervalSetsTheRateThenItBlendsExponentially) {
  RateMeter m(10s);
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  m.update({Sample{"t", 0, 1, {1000, 0, 0}}}, t0);  // baseline only
  EXPECT_DOUBLE_EQ((m.rates()[{"t", 0}].bytes_in), 0);
  m.update({Sample{"t", 0, 1, {11000, 5000, 10}}}, t0 + 1s);  // 10 kB/s in, 5 kB/s out
  auto r = m.rates()[{"t", 0}];
  EXPECT_DOUBLE_EQ(r.bytes_in, 10000);  // not a slow ramp from 0
  EXPECT_DOUBLE_EQ(r.bytes_out, 5000);
  EXPECT_DOUBLE_EQ(r.requests, 10);
  // Traffic stops: after one window the rate has decayed by 1/e.
  m.update({Sample{"t", 0, 1, {11000, 5000, 10}}}, t0 + 11s);
  EXPECT_NEAR((m.rates()[{"t", 0}].bytes_in), 10000 * std::exp(-1.0), 1e-6);
  // A steady 20 kB/s converges to 20 kB/s.
  uint64_t in = 11000;
  for (int i = 1; i <= 60; ++i) {
    in += 20000;
    m.update({Sample{"t", 0, 1, {in, 5000, 10}}}, t0 + 11s + i * 1s);
  }
  EXPECT_NEAR((m.rates()[{"t", 0}].bytes_in), 20000, 20000 * 0.01);
}

TEST(RateMeter, NewEpochRestartsAndGonePartitionsAreForgotten) {
  RateMeter m(10s);
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  m.update({Sample{"t", 0, 1, {0, 0, 0}}, Sample{"t", 1, 1, {0, 0, 0}}}, t0);
  m.update({Sample{"t", 0, 1, {5000, 0, 5}}, Sample{"t", 1, 1, {100, 0, 1}}}, t0 + 1s);
  EXPECT_EQ(m.rates().size(), 2u);
  // t-0 moved away and came back at epoch 3 (its counters restarted at 0): no negative rate.
  m.update({Sample{"t", 0, 3, {10, 0, 1}}}, t0 + 2s);
  auto rates = m.rates();
  ASSERT_EQ(rates.size(), 1u);
  EXPECT_DOUBLE_EQ((rates[{"t", 0}].bytes_in), 0);
  m.update({Sample{"t", 0, 3, {2010, 0, 3}}}, t0 + 3s);
  EXPECT_DOUBLE_EQ((m.rates()[{"t", 0}].bytes_in), 2000);
}

// LoadBalancer::plan in each mode, over the embedded store: partition counts decide in `count`
// mode and while idle in `load` mode; with traffic, only the measured load does.
TEST(LoadBalancer, ModesDecideByCountOrByMeasuredLoad) {
  stream::testing::World w;
  PlacementInput in;
  in.live = {1, 2};
  in.topics = {{"t", 4}};
  for (int i = 0; i < 4; ++i) {
    in.assignments[{"t", i}] = {Assignment{i < 3 ? 1 : 2, 1, -1}, Revision(5)};  // 3 / 1
  }
  auto moves = [](const std::vector<AssignmentWrite>& ws) {
    int n = 0;
    for (const auto& w : ws) n += w.value && w.value->target >= 0;
    return n;
  };
  EXPECT_EQ(moves(LoadBalancer(*w.meta, BalanceMode::kOff, {}).plan(in)), 0);
  EXPECT_EQ(moves(LoadBalancer(*w.meta, BalanceMode::kCount, {}).plan(in)), 1);  // gap 2
  EXPECT_EQ(moves(LoadBalancer(*w.meta, BalanceMode::kLoad, {}).plan(in)), 1);   // no reports: idle
  // Traffic: t-3 alone (broker 2) carries as much as t-0..2 together (broker 1): balanced by
  // load, so nothing moves although the counts are 3 / 1.
  LoadReport r1, r2;
  r1.seq = r2.seq = 1;
  r1.interval_ms = r2.interval_ms = 1000;
  for (int i = 0; i < 3; ++i) r1.partitions[{"t", i}] = {1e6, 1e6, 100};
  r2.partitions[{"t", 3}] = {3e6, 3e6, 300};
  ASSERT_TRUE(w.meta->put(load_key(1), encode_load_report(r1), LeaseId(0)).ok());
  ASSERT_TRUE(w.meta->put(load_key(2), encode_load_report(r2), LeaseId(0)).ok());
  LoadBalancer lb(*w.meta, BalanceMode::kLoad, {.sustain = 1});
  EXPECT_EQ(moves(lb.plan(in)), 0);
  EXPECT_NE(lb.render_metrics().find("shale_balancer_imbalance 1.0000\n"), std::string::npos);
  EXPECT_EQ(lb.moves(), 0);
}

}  // namespace
}  // namespace shale::cluster
