// GroupCoordinator state machine: joins, syncs, fencing, timeouts (ManualClock + tick()),
// static membership, offsets.
#include "coord/group_coordinator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <optional>

namespace shale::coord {
namespace {

using std::chrono::milliseconds;

// A ConsumerProtocolSubscription v0 for `topics`.
Buf subscription(const std::vector<std::string>& topics) {
  std::vector<uint8_t> v = {0, 0, 0, 0, 0, static_cast<uint8_t>(topics.size())};
  for (const auto& t : topics) {
    v.push_back(0);
    v.push_back(static_cast<uint8_t>(t.size()));
    v.insert(v.end(), t.begin(), t.end());
  }
  v.insert(v.end(), {0, 0, 0, 0});  // user data: null-ish
  return Buf::take(std::move(v));
}

class CoordTest : public ::testing::Test {
 protected:
  CoordTest() : gc_(options(), clock_) {}
  static CoordinatorOptions options() {
    CoordinatorOptions o;
    o.initial_rebalance_delay_ms = 0;
    return o;
  }

  JoinRequest jreq(const std::string& member, std::vector<std::string> protos = {"range"}) {
    JoinRequest r;
    r.group_id = "g";
    r.member_id = member;
    r.client_id = "c";
    r.client_host = "/127.0.0.1";
    r.session_timeout_ms = 10000;
    r.rebalance_timeout_ms = 30000;
    r.protocol_type = "consumer";
    for (auto& p : protos) r.protocols.push_back({p, subscription({"t"})});
    return r;
  }
  // Starts a join; the result (if any yet) lands in the returned slot.
  std::shared_ptr<std::optional<JoinResult>> join(JoinRequest r) {
    auto slot = std::make_shared<std::optional<JoinResult>>();
    gc_.join_group(std::move(r), [slot](JoinResult res) { *slot = std::move(res); });
    return slot;
  }
  std::shared_ptr<std::optional<SyncResult>> sync(const std::string& member, int32_t gen,
                                                  std::vector<std::pair<std::string, Buf>> a = {}) {
    SyncRequest r;
    r.group_id = "g";
    r.member_id = member;
    r.generation = gen;
    r.assignments = std::move(a);
    auto slot = std::make_shared<std::optional<SyncResult>>();
    gc_.sync_group(std::move(r), [slot](SyncResult res) { *slot = std::move(res); });
    return slot;
  }
  // KIP-394 two-step join of a new dynamic member; returns its id (join parked or done).
  std::pair<std::string, std::shared_ptr<std::optional<JoinResult>>> join_new(
      std::vector<std::string> protos = {"range"}) {
    auto first = join(jreq("", protos));
    EXPECT_TRUE(first->has_value());
    EXPECT_EQ((*first)->error, err::kMemberIdRequired);
    std::string id = (*first)->member_id;
    EXPECT_FALSE(id.empty());
    return {id, join(jreq(id, protos))};
  }
  // One member through join + sync to Stable.
  std::string stable_single() {
    auto [id, j] = join_new();
    EXPECT_TRUE(j->has_value());
    auto s = sync(id, (*j)->generation, {{id, Buf::copy("A")}});
    EXPECT_TRUE(s->has_value());
    return id;
  }
  std::string state() { return gc_.describe_group("g").state; }

  ManualClock clock_;
  GroupCoordinator gc_;
};

TEST_F(CoordTest, FirstJoinRequiresMemberIdThenCompletesAsLeader) {
  auto [id, j] = join_new();
  ASSERT_TRUE(j->has_value());
  EXPECT_EQ((*j)->error, err::kNone);
  EXPECT_EQ((*j)->generation, 1);
  EXPECT_EQ((*j)->leader, id);
  EXPECT_EQ((*j)->member_id, id);
  EXPECT_EQ((*j)->protocol_name, "range");
  ASSERT_EQ((*j)->members.size(), 1u);
  EXPECT_EQ(state(), "CompletingRebalance");
  auto s = sync(id, 1, {{id, Buf::copy("assignment")}});
  ASSERT_TRUE(s->has_value());
  EXPECT_EQ((*s)->error, err::kNone);
  EXPECT_EQ((*s)->assignment.view(), "assignment");
  EXPECT_EQ(state(), "Stable");
  EXPECT_EQ(gc_.heartbeat("g", id, std::nullopt, 1), err::kNone);
}

TEST_F(CoordTest, UnknownMemberAndBadTimeoutsAndEmptyGroupId) {
  auto r = join(jreq("nobody"));
  EXPECT_EQ((*r)->error, err::kUnknownMemberId);
  auto bad = jreq("");
  bad.session_timeout_ms = 10;
  EXPECT_EQ((*join(bad))->error, err::kInvalidSessionTimeout);
  auto noid = jreq("");
  noid.group_id = "";
  EXPECT_EQ((*join(noid))->error, err::kInvalidGroupId);
  EXPECT_EQ(gc_.heartbeat("nope", "x", std::nullopt, 1), err::kUnknownMemberId);
}

TEST_F(CoordTest, SecondMemberTriggersRebalanceAndFollowerSyncWaitsForLeader) {
  std::string a = stable_single();
  auto [b, jb] = join_new();
  EXPECT_FALSE(jb->has_value());  // parked until a rejoins
  EXPECT_EQ(state(), "PreparingRebalance");
  EXPECT_EQ(gc_.heartbeat("g", a, std::nullopt, 1), err::kRebalanceInProgress);
  auto ja = join(jreq(a));
  ASSERT_TRUE(ja->has_value());
  ASSERT_TRUE(jb->has_value());
  EXPECT_EQ((*ja)->generation, 2);
  EXPECT_EQ((*jb)->generation, 2);
  EXPECT_EQ((*ja)->leader, a);  // the existing leader stays leader
  EXPECT_EQ((*ja)->members.size(), 2u);
  EXPECT_TRUE((*jb)->members.empty());
  auto sb = sync(b, 2);
  EXPECT_FALSE(sb->has_value());  // waits for the leader
  auto sa = sync(a, 2, {{a, Buf::copy("p0")}, {b, Buf::copy("p1")}});
  ASSERT_TRUE(sb->has_value());
  EXPECT_EQ((*sb)->assignment.view(), "p1");
  EXPECT_EQ((*sa)->assignment.view(), "p0");
  // The old generation is fenced everywhere.
  EXPECT_EQ(gc_.heartbeat("g", a, std::nullopt, 1), err::kIllegalGeneration);
  EXPECT_EQ((*sync(a, 1))->error, err::kIllegalGeneration);
  std::vector<int16_t> ce;
  gc_.commit_offsets({"g", 1, a, std::nullopt, -1, {{{"t", 0}, {5}}}},
                     [&](std::vector<int16_t> e) { ce = e; });
  EXPECT_EQ(ce, std::vector<int16_t>{err::kIllegalGeneration});
  gc_.commit_offsets({"g", 2, a, std::nullopt, -1, {{{"t", 0}, {5}}}},
                     [&](std::vector<int16_t> e) { ce = e; });
  EXPECT_EQ(ce, std::vector<int16_t>{err::kNone});
}

TEST_F(CoordTest, SessionTimeoutRemovesSilentMember) {
  std::string a = stable_single();
  auto [b, jb] = join_new();
  auto ja = join(jreq(a));
  ASSERT_TRUE(jb->has_value());
  sync(a, 2, {});
  sync(b, 2);
  EXPECT_EQ(state(), "Stable");
  // a heartbeats, b goes silent.
  for (int i = 0; i < 4; ++i) {
    clock_.advance(milliseconds(3000));
    EXPECT_EQ(gc_.heartbeat("g", a, std::nullopt, 2), err::kNone);
    gc_.tick();
  }
  EXPECT_EQ(gc_.describe_group("g").members.size(), 1u);
  EXPECT_EQ(state(), "PreparingRebalance");
  EXPECT_EQ(gc_.heartbeat("g", b, std::nullopt, 2), err::kUnknownMemberId);
  EXPECT_EQ(gc_.heartbeat("g", a, std::nullopt, 2), err::kRebalanceInProgress);
  auto ja3 = join(jreq(a));
  ASSERT_TRUE(ja3->has_value());
  EXPECT_EQ((*ja3)->generation, 3);
}

TEST_F(CoordTest, RebalanceTimeoutDropsMembersThatDoNotRejoin) {
  std::string a = stable_single();
  auto [b, jb] = join_new();
  // a keeps heartbeating (REBALANCE_IN_PROGRESS) but never rejoins.
  for (int i = 0; i < 11; ++i) {
    clock_.advance(milliseconds(3000));
    gc_.heartbeat("g", a, std::nullopt, 1);
    gc_.tick();
  }
  ASSERT_TRUE(jb->has_value());
  EXPECT_EQ((*jb)->error, err::kNone);
  EXPECT_EQ((*jb)->leader, b);
  EXPECT_EQ((*jb)->members.size(), 1u);
  EXPECT_EQ(gc_.heartbeat("g", a, std::nullopt, 2), err::kUnknownMemberId);
}

TEST_F(CoordTest, LeaveTriggersImmediateRebalanceAndLastLeaveEmptiesGroup) {
  std::string a = stable_single();
  auto [b, jb] = join_new();
  join(jreq(a));
  sync(a, 2, {});
  sync(b, 2);
  LeaveResult lr = gc_.leave_group("g", {{b, std::nullopt}, {"ghost", std::nullopt}});
  EXPECT_EQ(lr.member_errors, (std::vector<int16_t>{err::kNone, err::kUnknownMemberId}));
  EXPECT_EQ(state(), "PreparingRebalance");
  auto ja = join(jreq(a));
  ASSERT_TRUE(ja->has_value());
  EXPECT_EQ((*ja)->generation, 3);
  EXPECT_EQ((*ja)->members.size(), 1u);
  gc_.leave_group("g", {{a, std::nullopt}});
  EXPECT_EQ(state(), "Empty");
  EXPECT_EQ(gc_.leave_group("zzz", {{a, std::nullopt}}).member_errors,
            std::vector<int16_t>{err::kUnknownMemberId});
}

TEST_F(CoordTest, StaticMemberRejoinKeepsAssignmentWithoutRebalance) {
  auto r1 = jreq("");
  r1.instance_id = "i1";
  auto j1 = join(r1);  // static members skip MEMBER_ID_REQUIRED
  ASSERT_TRUE(j1->has_value());
  std::string leader = (*j1)->member_id;
  auto r2 = jreq("");
  r2.instance_id = "i2";
  auto j2 = join(r2);
  EXPECT_FALSE(j2->has_value());
  auto r1b = jreq(leader);
  r1b.instance_id = "i1";
  join(r1b);
  ASSERT_TRUE(j2->has_value());
  std::string follower = (*j2)->member_id;
  sync(leader, 2, {{leader, Buf::copy("L")}, {follower, Buf::copy("F")}});
  sync(follower, 2);
  EXPECT_EQ(state(), "Stable");
  // The follower restarts: same instance id, no member id.
  auto j2b = join(r2);
  ASSERT_TRUE(j2b->has_value());
  EXPECT_EQ((*j2b)->error, err::kNone);
  EXPECT_EQ((*j2b)->generation, 2);
  std::string follower2 = (*j2b)->member_id;
  EXPECT_NE(follower2, follower);
  EXPECT_EQ(state(), "Stable");
  auto s = sync(follower2, 2);
  EXPECT_EQ((*s)->assignment.view(), "F");
  // The old incarnation is fenced.
  EXPECT_EQ(gc_.heartbeat("g", follower, "i2", 2), err::kFencedInstanceId);
  EXPECT_EQ(gc_.heartbeat("g", follower2, "i2", 2), err::kNone);
  // A static member leaving by instance id only.
  EXPECT_EQ(gc_.leave_group("g", {{"", std::string("i2")}}).member_errors,
            std::vector<int16_t>{err::kNone});
  EXPECT_EQ(state(), "PreparingRebalance");
}

TEST_F(CoordTest, InconsistentProtocolsAreRejected) {
  stable_single();
  auto other = jreq("", {"roundrobin"});
  EXPECT_EQ((*join(other))->error, err::kInconsistentGroupProtocol);
  auto wrong_type = jreq("");
  wrong_type.protocol_type = "connect";
  EXPECT_EQ((*join(wrong_type))->error, err::kInconsistentGroupProtocol);
  auto none = jreq("", {});
  none.group_id = "fresh";
  EXPECT_EQ((*join(none))->error, err::kInconsistentGroupProtocol);
}

TEST_F(CoordTest, ProtocolVoteChoosesCommonPreference) {
  auto [a, ja] = join_new({"cooperative-sticky", "range"});
  sync(a, 1, {});
  auto [b, jb] = join_new({"range", "cooperative-sticky"});
  auto [c, jc] = join_new({"range"});
  join(jreq(a, {"cooperative-sticky", "range"}));
  ASSERT_TRUE(jc->has_value());
  EXPECT_EQ((*jc)->protocol_name, "range");  // the only protocol everyone supports
}

TEST_F(CoordTest, CooperativeTwoRoundRebalance) {
  // Cooperative: after the first round members revoke and immediately rejoin; the coordinator
  // just runs two generations back to back.
  std::string a = stable_single();
  auto [b, jb] = join_new({"range"});
  join(jreq(a));
  sync(a, 2, {{a, Buf::copy("a1")}, {b, Buf::copy("")}});
  sync(b, 2);
  auto ja = join(jreq(a));  // round two, triggered by the leader
  EXPECT_FALSE(ja->has_value());
  auto jb2 = join(jreq(b));
  ASSERT_TRUE(ja->has_value());
  ASSERT_TRUE(jb2->has_value());
  EXPECT_EQ((*ja)->generation, 3);
  auto sb = sync(b, 3);
  sync(a, 3, {{a, Buf::copy("a1")}, {b, Buf::copy("b1")}});
  EXPECT_EQ((*sb)->assignment.view(), "b1");
}

TEST_F(CoordTest, InitialRebalanceDelayWaitsForMoreMembers) {
  CoordinatorOptions o;
  o.initial_rebalance_delay_ms = 3000;
  GroupCoordinator gc(o, clock_);
  auto r = jreq("");
  r.require_known_member_id = false;
  std::optional<JoinResult> a, b;
  gc.join_group(r, [&](JoinResult x) { a = x; });
  clock_.advance(milliseconds(2000));
  gc.tick();
  EXPECT_FALSE(a);
  gc.join_group(r, [&](JoinResult x) { b = x; });
  clock_.advance(milliseconds(2000));
  gc.tick();
  EXPECT_FALSE(a);  // extended by the second member
  clock_.advance(milliseconds(1500));
  gc.tick();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->generation, 1);
  EXPECT_EQ(a->leader, b->leader);
}

TEST_F(CoordTest, StandaloneCommitsFetchAndDeleteGroup) {
  std::vector<int16_t> errs;
  OffsetAndMetadata om{42, 3, std::string("meta")};
  OffsetAndMetadata big{1, -1, std::string(5000, 'x')};
  gc_.commit_offsets({"solo", -1, "", std::nullopt, -1, {{{"t", 0}, om}, {{"t", 1}, big}}},
                     [&](std::vector<int16_t> e) { errs = e; });
  EXPECT_EQ(errs, (std::vector<int16_t>{err::kNone, err::kOffsetMetadataTooLarge}));
  auto f = gc_.fetch_offsets("solo", std::vector<TopicPartition>{{"t", 0}, {"t", 1}});
  ASSERT_EQ(f.offsets.size(), 2u);
  EXPECT_EQ(f.offsets[0].offset, 42);
  EXPECT_EQ(f.offsets[0].leader_epoch, 3);
  EXPECT_EQ(f.offsets[0].metadata, "meta");
  EXPECT_EQ(f.offsets[1].offset, -1);
  EXPECT_EQ(gc_.fetch_offsets("solo", std::nullopt).offsets.size(), 1u);
  EXPECT_EQ(gc_.fetch_offsets("unknown", std::nullopt).offsets.size(), 0u);
  auto lg = gc_.list_groups({"empty"});
  ASSERT_EQ(lg.size(), 1u);
  EXPECT_EQ(lg[0].group_id, "solo");
  EXPECT_TRUE(gc_.list_groups({"Stable"}).empty());
  // A generation >= 0 commit to an unknown group is fenced.
  gc_.commit_offsets({"nogroup", 3, "m", std::nullopt, -1, {{{"t", 0}, om}}},
                     [&](std::vector<int16_t> e) { errs = e; });
  EXPECT_EQ(errs, std::vector<int16_t>{err::kIllegalGeneration});
  EXPECT_EQ(gc_.delete_group("solo"), err::kNone);
  EXPECT_EQ(gc_.delete_group("solo"), err::kGroupIdNotFound);
  EXPECT_EQ(gc_.fetch_offsets("solo", std::nullopt).offsets.size(), 0u);
}

TEST_F(CoordTest, DeleteGroupAndOffsetDeleteRespectMembers) {
  std::string a = stable_single();
  EXPECT_EQ(gc_.delete_group("g"), err::kNonEmptyGroup);
  std::vector<int16_t> errs;
  gc_.commit_offsets({"g", 1, a, std::nullopt, -1, {{{"t", 0}, {1}}, {{"u", 0}, {2}}}},
                     [&](std::vector<int16_t> e) { errs = e; });
  auto [top, parts] = gc_.delete_offsets("g", {{"t", 0}, {"u", 0}});
  EXPECT_EQ(top, err::kNone);
  EXPECT_EQ(parts, (std::vector<int16_t>{err::kGroupSubscribedToTopic, err::kNone}));
  EXPECT_EQ(gc_.fetch_offsets("g", std::nullopt).offsets.size(), 1u);
  EXPECT_EQ(gc_.delete_offsets("missing", {{"t", 0}}).first, err::kGroupIdNotFound);
  // A standalone commit into a group with members is rejected.
  gc_.commit_offsets({"g", -1, "", std::nullopt, -1, {{{"t", 0}, {9}}}},
                     [&](std::vector<int16_t> e) { errs = e; });
  EXPECT_EQ(errs, std::vector<int16_t>{err::kIllegalGeneration});
  auto d = gc_.describe_group("g");
  EXPECT_EQ(d.state, "Stable");
  EXPECT_EQ(d.protocol_data, "range");
  ASSERT_EQ(d.members.size(), 1u);
  EXPECT_EQ(d.members[0].assignment.view(), "A");
  EXPECT_EQ(gc_.describe_group("nope").state, "Dead");
}

TEST_F(CoordTest, OffsetsOfEmptyGroupsExpireAfterRetention) {
  CoordinatorOptions o;
  o.offsets_retention_ms = 60'000;
  o.offsets_retention_check_interval_ms = 1'000;
  GroupCoordinator gc(o, clock_);
  gc.commit_offsets({"e", -1, "", std::nullopt, -1, {{{"t", 0}, {7}}}}, [](auto) {});
  clock_.advance(milliseconds(59'000));
  gc.tick();
  EXPECT_EQ(gc.fetch_offsets("e", std::nullopt).offsets.size(), 1u);
  clock_.advance(milliseconds(2'000));
  gc.tick();
  EXPECT_EQ(gc.fetch_offsets("e", std::nullopt).offsets.size(), 0u);
  EXPECT_EQ(gc.group_count(), 0u);  // an empty group with no offsets is dropped
}

TEST_F(CoordTest, OffsetsExpireOnlyWhenTheRetentionCheckRuns) {
  CoordinatorOptions o;
  o.offsets_retention_ms = 60'000;
  o.offsets_retention_check_interval_ms = 30'000;
  GroupCoordinator gc(o, clock_);
  gc.tick();  // the first check runs at once; the next is due 30 s later
  gc.commit_offsets({"e", -1, "", std::nullopt, -1, {{{"t", 0}, {7}}}}, [](auto) {});
  clock_.advance(milliseconds(29'000));
  gc.tick();
  EXPECT_EQ(gc.fetch_offsets("e", std::nullopt).offsets.size(), 1u);
  clock_.advance(milliseconds(2'000));  // check at 31 s: retention (60 s) not reached
  gc.tick();
  EXPECT_EQ(gc.fetch_offsets("e", std::nullopt).offsets.size(), 1u);
  clock_.advance(milliseconds(30'000));  // 61 s: past retention, but the next check is at 61 s
  gc.tick();
  EXPECT_EQ(gc.fetch_offsets("e", std::nullopt).offsets.size(), 0u);
  // Nothing expires between ticks: expiry is applied by the check only.
  gc.commit_offsets({"f", -1, "", std::nullopt, -1, {{{"t", 0}, {9}}}}, [](auto) {});
  clock_.advance(milliseconds(1'000'000));
  EXPECT_EQ(gc.fetch_offsets("f", std::nullopt).offsets.size(), 1u);
  gc.tick();
  EXPECT_EQ(gc.fetch_offsets("f", std::nullopt).offsets.size(), 0u);
}

TEST_F(CoordTest, PendingMemberExpiresAndTickerRuns) {
  auto first = join(jreq(""));
  std::string id = (*first)->member_id;
  clock_.advance(milliseconds(10001));
  gc_.tick();
  EXPECT_EQ((*join(jreq(id)))->error, err::kUnknownMemberId);
  gc_.start_ticker();
  gc_.stop_ticker();
}

TEST_F(CoordTest, FencingAndProtocolChecksOnSyncAndCommit) {
  auto r1 = jreq("");
  r1.instance_id = "i1";
  auto j1 = join(r1);
  std::string id = (*j1)->member_id;
  // CompletingRebalance: commits wait for the assignment.
  std::vector<int16_t> ce;
  gc_.commit_offsets({"g", 1, id, std::string("i1"), -1, {{{"t", 0}, {1}}}},
                     [&](std::vector<int16_t> e) { ce = e; });
  EXPECT_EQ(ce, std::vector<int16_t>{err::kRebalanceInProgress});
  // A join with the right instance id but another member id is fenced.
  auto other = jreq("someone-else");
  other.instance_id = "i1";
  EXPECT_EQ((*join(other))->error, err::kFencedInstanceId);
  SyncRequest sr{"g", 1, id, std::string("i1"), std::string("connect"), std::nullopt, {}};
  std::optional<SyncResult> s;
  gc_.sync_group(sr, [&](SyncResult r) { s = r; });
  EXPECT_EQ(s->error, err::kInconsistentGroupProtocol);
  sr.protocol_type = "consumer";
  sr.protocol_name = "range";
  sr.instance_id = "i2";
  gc_.sync_group(sr, [&](SyncResult r) { s = r; });
  EXPECT_EQ(s->error, err::kNone);  // i2 is unknown: not fenced
  EXPECT_EQ(s->protocol_name, "range");
  gc_.commit_offsets({"g", 1, "ghost", std::nullopt, -1, {{{"t", 0}, {1}}}},
                     [&](std::vector<int16_t> e) { ce = e; });
  EXPECT_EQ(ce, std::vector<int16_t>{err::kUnknownMemberId});
  gc_.commit_offsets({"g", 1, id, std::string("i1"), -1, {{{"t", 0}, {1}}}},
                     [&](std::vector<int16_t> e) { ce = e; });
  EXPECT_EQ(ce, std::vector<int16_t>{err::kNone});
}

TEST_F(CoordTest, StaticLeaderRejoinTriggersRebalanceUnlessSkipAssignment) {
  auto r1 = jreq("");
  r1.instance_id = "lead";
  auto j1 = join(r1);
  sync((*j1)->member_id, 1, {{(*j1)->member_id, Buf::copy("X")}});
  auto again = join(r1);  // v<9: the leader must recompute, so a new generation
  ASSERT_TRUE(again->has_value());
  EXPECT_EQ((*again)->generation, 2);
  EXPECT_EQ((*again)->leader, (*again)->member_id);
  sync((*again)->member_id, 2, {{(*again)->member_id, Buf::copy("Y")}});
  r1.supports_skip_assignment = true;
  auto skip = join(r1);  // v9: same generation, members returned, assignment skipped
  ASSERT_TRUE(skip->has_value());
  EXPECT_EQ((*skip)->generation, 2);
  EXPECT_TRUE((*skip)->skip_assignment);
  EXPECT_EQ((*skip)->members.size(), 1u);
  EXPECT_EQ(state(), "Stable");
}

TEST_F(CoordTest, OldJoinVersionsNeedNoMemberIdAndLoadingAnswersRetriably) {
  auto r = jreq("");
  r.require_known_member_id = false;  // JoinGroup v0-3
  auto j = join(r);
  ASSERT_TRUE(j->has_value());
  EXPECT_EQ((*j)->error, err::kNone);
  EXPECT_EQ((*j)->generation, 1);
  gc_.set_loading(true);
  EXPECT_EQ((*join(jreq("")))->error, err::kCoordinatorLoadInProgress);
  EXPECT_EQ(gc_.heartbeat("g", (*j)->member_id, std::nullopt, 1), err::kCoordinatorLoadInProgress);
  EXPECT_EQ(gc_.fetch_offsets("g", std::nullopt).error, err::kCoordinatorLoadInProgress);
  EXPECT_EQ(gc_.delete_group("g"), err::kCoordinatorLoadInProgress);
  gc_.set_loading(false);
  EXPECT_EQ(gc_.heartbeat("g", (*j)->member_id, std::nullopt, 1), err::kNone);
}

TEST_F(CoordTest, DuplicateParkedJoinAnswersTheOlderOne) {
  std::string a = stable_single();
  auto [b, jb] = join_new();
  auto first = join(jreq(b));  // b retries while its first join is parked
  ASSERT_TRUE(jb->has_value());
  EXPECT_EQ((*jb)->error, err::kRebalanceInProgress);
  EXPECT_FALSE(first->has_value());
  join(jreq(a));
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->error, err::kNone);
  EXPECT_EQ((*first)->generation, 2);
}

}  // namespace
}  // namespace shale::coord

namespace shale::coord {
namespace {

// A store that completes writes only when told to (a slow WAL).
class DeferredStore final : public GroupStore {
 public:
  void write_offsets(const std::string&,
                     std::vector<std::pair<TopicPartition, std::optional<OffsetAndMetadata>>>,
                     std::function<void(bool)> done) override {
    pending.push_back(std::move(done));
  }
  void write_group(const std::string&, std::optional<GroupSnapshot>,
                   std::function<void(bool)> done) override {
    pending.push_back(std::move(done));
  }
  std::vector<std::function<void(bool)>> pending;
};

CoordinatorOptions no_initial_delay() {
  CoordinatorOptions o;
  o.initial_rebalance_delay_ms = 0;
  return o;
}

// Join and sync of group "g" on `gc`: a parked request's answer lands in its slot later.
struct GroupDriver {
  GroupCoordinator& gc;
  std::shared_ptr<std::optional<JoinResult>> join(const std::string& member) {
    JoinRequest r;
    r.group_id = "g";
    r.member_id = member;
    r.session_timeout_ms = 10000;
    r.rebalance_timeout_ms = 30000;
    r.protocol_type = "consumer";
    r.protocols.push_back({"range", subscription({"t"})});
    auto slot = std::make_shared<std::optional<JoinResult>>();
    gc.join_group(r, [slot](JoinResult res) { *slot = std::move(res); });
    return slot;
  }
  std::shared_ptr<std::optional<SyncResult>> sync(const std::string& member, int32_t gen,
                                                  std::vector<std::pair<std::string, Buf>> a = {}) {
    auto slot = std::make_shared<std::optional<SyncResult>>();
    gc.sync_group({"g", gen, member, std::nullopt, std::nullopt, std::nullopt, std::move(a)},
                  [slot](SyncResult res) { *slot = std::move(res); });
    return slot;
  }
};

TEST(CoordShutdown, DestructionDoesNotWaitForTheStoreAndLateCompletionsAreSafe) {
  ManualClock clock;
  DeferredStore store;
  std::vector<std::vector<int16_t>> answers;
  auto gc = std::make_unique<GroupCoordinator>(CoordinatorOptions{}, clock, &store);
  gc->start_ticker();
  for (int i = 0; i < 3; ++i) {
    gc->commit_offsets({"g", -1, "", std::nullopt, -1, {{{"t", 0}, {i}}}},
                       [&](std::vector<int16_t> e) { answers.push_back(std::move(e)); });
  }
  store.pending[0](true);  // completes while the coordinator lives
  EXPECT_EQ(gc->fetch_offsets("g", std::nullopt).offsets.at(0).offset, 0);
  const auto t0 = std::chrono::steady_clock::now();
  gc.reset();  // two writes still in flight: returns at once
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  store.pending[1](true);   // durable after the coordinator is gone: still a success
  store.pending[2](false);  // failed: the client is told to retry
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(answers[1], std::vector<int16_t>{err::kNone});
  EXPECT_EQ(answers[2], std::vector<int16_t>{err::kCoordinatorNotAvailable});
}

// Cluster mode: the group's __consumer_offsets partition moves away. Every group request answers
// NOT_COORDINATOR at once, parked joins/syncs are answered, the group's memory is dropped (a later
// re-acquire starts from the log), other groups are untouched, and an offset commit that becomes
// durable after the move is not applied to memory.
TEST(CoordOwnership, LostPartitionAnswersNotCoordinatorAndDropsItsGroups) {
  ManualClock clock;
  DeferredStore store;
  GroupCoordinator gc(no_initial_delay(), clock, &store);
  std::atomic<int16_t> verdict{err::kNone};  // the gate's answer for group "g"
  gc.set_gate([&](const std::string& g) { return g == "g" ? verdict.load() : err::kNone; });
  GroupDriver d{gc};
  auto join = [&](const std::string& member) { return d.join(member); };
  auto sync = [&](const std::string& member, int32_t gen) { return d.sync(member, gen); };
  std::vector<int16_t> ce;
  auto commit = [&](const std::string& group, int64_t offset) {
    gc.commit_offsets({group, -1, "", std::nullopt, -1, {{{"t", 0}, {offset}}}},
                      [&](std::vector<int16_t> e) { ce = std::move(e); });
  };
  // Group "g": an offset committed, then member a in a rebalance that parks a's SyncGroup
  // (a follower's sync waits for the leader).
  commit("g", 7);
  commit("other", 9);
  store.pending.at(0)(true);
  store.pending.at(1)(true);
  const std::string a = (*join(""))->member_id;
  auto ja = join(a);
  ASSERT_TRUE(ja->has_value());
  ASSERT_EQ((*ja)->error, err::kNone);
  const std::string b = (*join(""))->member_id;
  auto jb = join(b);  // parked: a must rejoin
  EXPECT_FALSE(jb->has_value());
  gc.commit_offsets({"g", (*ja)->generation, a, std::nullopt, -1, {{{"t", 0}, {8}}}},
                    [&](std::vector<int16_t> e) { ce = std::move(e); });
  const size_t inflight = store.pending.size() - 1;  // in flight when the partition moves
  ASSERT_GE(inflight, 2u);

  verdict = err::kNotCoordinator;  // the partition left this broker ...
  EXPECT_EQ(gc.drop_groups([](const std::string& g) { return g == "g"; }), 1u);
  ASSERT_TRUE(jb->has_value());  // ... the parked join is answered
  EXPECT_EQ((*jb)->error, err::kNotCoordinator);
  EXPECT_EQ(gc.group_count(), 1u);
  EXPECT_EQ((*join(a))->error, err::kNotCoordinator);
  EXPECT_EQ((*sync(a, 1))->error, err::kNotCoordinator);
  EXPECT_EQ(gc.heartbeat("g", a, std::nullopt, 1), err::kNotCoordinator);
  EXPECT_EQ(gc.leave_group("g", {{a, std::nullopt}}).error, err::kNotCoordinator);
  commit("g", 9);
  EXPECT_EQ(ce, std::vector<int16_t>{err::kNotCoordinator});
  EXPECT_EQ(gc.fetch_offsets("g", std::nullopt).error, err::kNotCoordinator);
  EXPECT_EQ(gc.describe_group("g").error, err::kNotCoordinator);
  EXPECT_EQ(gc.delete_group("g"), err::kNotCoordinator);
  EXPECT_EQ(gc.delete_offsets("g", {{"t", 0}}).first, err::kNotCoordinator);
  EXPECT_EQ(gc.fetch_offsets("other", std::nullopt).offsets.at(0).offset, 9);  // untouched
  store.pending.at(inflight)(true);  // the in-flight commit lands: the client is told OK ...
  EXPECT_EQ(ce, std::vector<int16_t>{err::kNone});
  EXPECT_EQ(gc.group_count(), 1u);  // ... but nothing of "g" comes back into memory

  verdict = err::kCoordinatorLoadInProgress;  // re-gained, replay running
  EXPECT_EQ((*join(a))->error, err::kCoordinatorLoadInProgress);
  EXPECT_EQ(gc.fetch_offsets("g", std::nullopt).error, err::kCoordinatorLoadInProgress);
  verdict = err::kNone;  // replayed (here: nothing restored): no stale member, no stale offset
  EXPECT_EQ(gc.heartbeat("g", a, std::nullopt, 1), err::kUnknownMemberId);
  EXPECT_TRUE(gc.fetch_offsets("g", std::nullopt).offsets.empty());
}

// Cluster mode: a commit accepted before its partition moved away and came back, that becomes
// durable only after the regained partition was replayed, does not overwrite the replayed state
// (the log holds the commit, in its place: a later owner's commits come after it).
TEST(CoordOwnership, ALateCommitOfAnEarlierOwnershipDoesNotOverwriteTheReplay) {
  ManualClock clock;
  DeferredStore store;
  GroupCoordinator gc(CoordinatorOptions{}, clock, &store);
  std::atomic<uint64_t> gen{1};
  gc.set_gate([](const std::string&) { return err::kNone; });
  gc.set_load_generation([&](const std::string&) { return gen.load(); });
  std::vector<int16_t> ce;
  auto commit = [&](int64_t offset) {
    gc.commit_offsets({"g", -1, "", std::nullopt, -1, {{{"t", 0}, {offset}}}},
                      [&](std::vector<int16_t> e) { ce = std::move(e); });
  };
  commit(5);
  gen = 3;  // lost (2), regained and replayed (3): the replay restored offset 9
  gc.restore_offsets("g", {"t", 0}, OffsetAndMetadata{9});
  store.pending.at(0)(true);                        // the commit of generation 1 lands now
  EXPECT_EQ(ce, std::vector<int16_t>{err::kNone});  // durable: its client is told OK
  EXPECT_EQ(gc.fetch_offsets("g", std::nullopt).offsets.at(0).offset, 9);
  commit(10);  // a commit of the current generation applies
  store.pending.at(1)(true);
  EXPECT_EQ(gc.fetch_offsets("g", std::nullopt).offsets.at(0).offset, 10);
}

// SyncGroup is answered only once the new generation's group record is durable (Kafka: the
// GroupMetadata append with acks=all), so no member holds a generation that a coordinator
// replaying the log after a move has not heard of. Until then the group is CompletingRebalance:
// followers' syncs park and commits answer REBALANCE_IN_PROGRESS. A failed write answers the
// parked syncs COORDINATOR_NOT_AVAILABLE and starts a new rebalance.
TEST(CoordDurability, SyncGroupIsAnsweredOnlyOnceTheGenerationIsDurable) {
  ManualClock clock;
  DeferredStore store;
  GroupCoordinator gc(no_initial_delay(), clock, &store);
  GroupDriver d{gc};
  auto join = [&](const std::string& member) { return d.join(member); };
  auto sync = [&](const std::string& member, int32_t gen,
                  std::vector<std::pair<std::string, Buf>> a = {}) {
    return d.sync(member, gen, std::move(a));
  };
  std::vector<int16_t> ce;
  auto commit = [&](const std::string& member, int32_t gen) {
    gc.commit_offsets({"g", gen, member, std::nullopt, -1, {{{"t", 0}, {5}}}},
                      [&](std::vector<int16_t> e) { ce = std::move(e); });
  };
  const std::string a = (*join(""))->member_id;
  ASSERT_TRUE(join(a)->has_value());
  const std::string b = (*join(""))->member_id;
  auto jb = join(b);
  auto ja = join(a);
  ASSERT_TRUE(ja->has_value() && jb->has_value());
  const int32_t gen = (*ja)->generation;
  ASSERT_EQ((*ja)->leader, a);

  // Generation `gen`: the leader's sync issues the group write; nobody is answered before it
  // is durable, a follower's sync parks too, and the group is not Stable yet.
  const size_t writes = store.pending.size();
  auto sa = sync(a, gen, {{a, Buf::copy("p0")}, {b, Buf::copy("p1")}});
  ASSERT_EQ(store.pending.size(), writes + 1);
  auto sb = sync(b, gen);
  EXPECT_FALSE(sa->has_value());
  EXPECT_FALSE(sb->has_value());
  EXPECT_EQ(gc.describe_group("g").state, "CompletingRebalance");
  commit(a, gen);
  EXPECT_EQ(ce, std::vector<int16_t>{err::kRebalanceInProgress});
  EXPECT_EQ(gc.heartbeat("g", b, std::nullopt, gen), err::kNone);
  auto sa2 = sync(a, gen, {{a, Buf::copy("p0")}, {b, Buf::copy("p1")}});  // a retry: no 2nd write
  EXPECT_EQ(store.pending.size(), writes + 1);
  EXPECT_FALSE(sa2->has_value());
  store.pending.at(writes)(true);
  ASSERT_TRUE(sa2->has_value() && sb->has_value());
  EXPECT_EQ((*sa2)->error, err::kNone);
  EXPECT_EQ((*sa2)->assignment.view(), "p0");
  EXPECT_EQ((*sb)->error, err::kNone);
  EXPECT_EQ((*sb)->assignment.view(), "p1");
  EXPECT_EQ(gc.describe_group("g").state, "Stable");
  auto exported = gc.export_state(nullptr);
  ASSERT_EQ(exported.size(), 1u);
  ASSERT_TRUE(exported[0].metadata.has_value());
  EXPECT_EQ(exported[0].metadata->generation, gen);

  // Generation gen + 1 (the leader rejoins): its write fails. The syncs are answered
  // COORDINATOR_NOT_AVAILABLE (the client re-finds the coordinator and rejoins), no assignment
  // is handed out, and the group rebalances again; the durable record stays generation `gen`.
  auto ja2 = join(a);
  auto jb2 = join(b);
  ASSERT_TRUE(ja2->has_value() && jb2->has_value());
  const int32_t gen2 = (*ja2)->generation;
  ASSERT_EQ(gen2, gen + 1);
  auto sb2 = sync(b, gen2);
  auto sa3 = sync(a, gen2, {{a, Buf::copy("p0")}, {b, Buf::copy("p1")}});
  EXPECT_FALSE(sa3->has_value());
  store.pending.back()(false);
  ASSERT_TRUE(sa3->has_value() && sb2->has_value());
  EXPECT_EQ((*sa3)->error, err::kCoordinatorNotAvailable);
  EXPECT_EQ((*sb2)->error, err::kCoordinatorNotAvailable);
  EXPECT_TRUE((*sb2)->assignment.empty());
  EXPECT_EQ(gc.describe_group("g").state, "PreparingRebalance");
  EXPECT_EQ(gc.export_state(nullptr).at(0).metadata->generation, gen);
}

// The group's partition moves away while the leader's assignment is being persisted: the parked
// syncs answer NOT_COORDINATOR at once, and the write completing later changes nothing.
TEST(CoordDurability, ASyncParkedOnTheGroupWriteAnswersNotCoordinatorWhenThePartitionMoves) {
  ManualClock clock;
  DeferredStore store;
  GroupCoordinator gc(no_initial_delay(), clock, &store);
  std::atomic<int16_t> verdict{err::kNone};
  gc.set_gate([&](const std::string&) { return verdict.load(); });
  GroupDriver d{gc};
  const std::string a = (*d.join(""))->member_id;
  auto j = d.join(a);
  ASSERT_EQ((*j)->error, err::kNone);
  auto s = d.sync(a, (*j)->generation, {{a, Buf::copy("p0")}});
  EXPECT_FALSE(s->has_value());
  verdict = err::kNotCoordinator;
  gc.drop_groups([](const std::string&) { return true; });
  ASSERT_TRUE(s->has_value());
  EXPECT_EQ((*s)->error, err::kNotCoordinator);
  store.pending.back()(true);
  EXPECT_EQ(gc.group_count(), 0u);
}

}  // namespace
}  // namespace shale::coord
