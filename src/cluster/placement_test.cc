// plan_assignments: the controller's decisions, without a store.
#include "cluster/placement.h"

#include <gtest/gtest.h>

#include "cluster/records.h"

namespace shale::cluster {
namespace {

CurrentAssignment cur(int32_t node, int32_t epoch, int32_t target = -1, int64_t rev = 5) {
  return {Assignment{node, epoch, target}, Revision(rev)};
}

std::map<int32_t, int> owners(const std::vector<AssignmentWrite>& ws) {
  std::map<int32_t, int> n;
  for (const auto& w : ws) {
    if (w.value) n[w.value->node]++;
  }
  return n;
}

TEST(Placement, NewTopicSpreadsRoundRobinAtEpochOne) {
  PlacementInput in;
  in.live = {1, 2, 3};
  in.topics = {{"t", 6}};
  auto ws = plan_assignments(in);
  ASSERT_EQ(ws.size(), 6u);
  for (const auto& w : ws) {
    EXPECT_EQ(w.value->epoch, 1);
    EXPECT_EQ(w.value->target, -1);
    EXPECT_EQ(w.expected, Revision(0));  // create-if-absent
  }
  EXPECT_EQ(owners(ws), (std::map<int32_t, int>{{1, 2}, {2, 2}, {3, 2}}));
}

TEST(Placement, DeadOwnerFailsOverAtNextEpochToLeastLoaded) {
  PlacementInput in;
  in.live = {1, 2};
  in.topics = {{"t", 3}};
  in.assignments = {{{"t", 0}, cur(1, 4)}, {{"t", 1}, cur(3, 7, -1, 9)}, {{"t", 2}, cur(1, 2)}};
  auto ws = plan_assignments(in);
  ASSERT_EQ(ws.size(), 1u);
  EXPECT_EQ(ws[0].partition, (PartitionKey{"t", 1}));
  EXPECT_EQ(*ws[0].value, (Assignment{2, 8, -1}));
  EXPECT_EQ(ws[0].expected, Revision(9));  // CAS on the record the controller read
}

TEST(Placement, StableClusterWritesNothing) {
  PlacementInput in;
  in.live = {1, 2};
  in.topics = {{"t", 2}};
  in.assignments = {{{"t", 0}, cur(1, 1)}, {{"t", 1}, cur(2, 1)}};
  EXPECT_TRUE(plan_assignments(in).empty());
}

TEST(Placement, DecommissionedBrokerGetsMoveTargetsAndNothingNew) {
  PlacementInput in;
  in.live = {1, 2};
  in.decommissioned = {2};
  in.topics = {{"t", 2}, {"u", 1}};
  in.assignments = {{{"t", 0}, cur(1, 1)}, {{"t", 1}, cur(2, 3)}};
  auto ws = plan_assignments(in);
  ASSERT_EQ(ws.size(), 2u);
  for (const auto& w : ws) {
    if (w.partition == PartitionKey{"t", 1}) {
      EXPECT_EQ(*w.value, (Assignment{2, 3, 1}));  // owner keeps it until it hands it over
    } else {
      EXPECT_EQ(w.partition, (PartitionKey{"u", 0}));
      EXPECT_EQ(w.value->node, 1);
    }
  }
}

TEST(Placement, MoveToDeadTargetIsCancelled) {
  PlacementInput in;
  in.live = {1};
  in.topics = {{"t", 1}};
  in.assignments = {{{"t", 0}, cur(1, 2, 5)}};
  auto ws = plan_assignments(in);
  ASSERT_EQ(ws.size(), 1u);
  EXPECT_EQ(*ws[0].value, (Assignment{1, 2, -1}));
}

TEST(Placement, BalancesOneMoveAtATimeWithGapOfTwo) {
  PlacementInput in;
  in.live = {1, 2};
  in.topics = {{"t", 3}};
  in.assignments = {{{"t", 0}, cur(1, 1)}, {{"t", 1}, cur(1, 1)}, {{"t", 2}, cur(2, 1)}};
  EXPECT_TRUE(plan_assignments(in).empty());  // 2 vs 1: within hysteresis
  in.live = {1, 2, 3};                        // scale-out: 2/1/0
  auto ws = plan_assignments(in);
  ASSERT_EQ(ws.size(), 1u);
  EXPECT_EQ(ws[0].value->node, 1);
  EXPECT_EQ(ws[0].value->target, 3);
  in.balance = false;
  EXPECT_TRUE(plan_assignments(in).empty());
  in.balance = true;  // a move in flight: no second one
  in.assignments[{"t", 0}] = cur(1, 1, 3);
  EXPECT_TRUE(plan_assignments(in).empty());
}

TEST(Placement, DeletedTopicsLoseTheirAssignmentsAndNoBrokersChangesNothingElse) {
  PlacementInput in;
  in.topics = {{"t", 1}};
  in.assignments = {{{"gone", 0}, cur(1, 1, -1, 11)}, {{"t", 0}, cur(1, 1)}, {{"t", 1}, cur(1, 1)}};
  auto ws = plan_assignments(in);  // no live broker at all
  ASSERT_EQ(ws.size(), 2u);
  EXPECT_FALSE(ws[0].value.has_value());
  EXPECT_EQ(ws[0].expected, Revision(11));
  EXPECT_FALSE(ws[1].value.has_value());
  EXPECT_EQ(ws[1].partition, (PartitionKey{"t", 1}));
}

// The load balancer's move time survives every rewrite of the record (failover, cancelled
// target) so a new controller keeps the cool-down, and old records without it still decode.
TEST(Placement, MoveTimeIsCarriedForwardAndOptionalInTheRecord) {
  Assignment a{2, 7, 3, 1764000000123};
  EXPECT_EQ(decode_assignment(encode_assignment(a)).value(), a);
  EXPECT_EQ(encode_assignment({2, 7, -1}), R"({"epoch":7,"node":2,"target":-1})");
  EXPECT_EQ(decode_assignment(R"({"node":2,"epoch":7,"target":-1})")->moved_ms, 0);
  PlacementInput in;
  in.live = {1, 3};
  in.topics = {{"t", 2}};
  in.assignments[{"t", 0}] = {Assignment{2, 7, -1, 555}, Revision(9)};  // owner 2 is dead
  in.assignments[{"t", 1}] = {Assignment{1, 4, 2, 777}, Revision(10)};  // target 2 is dead
  auto ws = plan_assignments(in);
  ASSERT_EQ(ws.size(), 2u);
  for (const auto& w : ws) {
    EXPECT_EQ(w.value->moved_ms, w.partition.second == 0 ? 555 : 777) << w.partition.second;
  }
}

}  // namespace
}  // namespace shale::cluster
