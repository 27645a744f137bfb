// __consumer_offsets record layout (Kafka's schemas) and group -> partition mapping.
#include "coord/offsets_codec.h"

#include <gtest/gtest.h>

#include "base/clock.h"
#include "coord/group_coordinator.h"

namespace shale::coord {
namespace {

TEST(OffsetsCodec, JavaStringHashAndPartitioning) {
  EXPECT_EQ(java_string_hash(""), 0);
  EXPECT_EQ(java_string_hash("abc"), 96354);
  EXPECT_EQ(java_string_hash("hello"), 99162322);
  EXPECT_EQ(java_string_hash("\xc3\xa9"), 233);              // U+00E9: one UTF-16 unit
  EXPECT_EQ(java_string_hash("\xf0\x9f\x98\x80"), 1772899);  // U+1F600: a surrogate pair
  // Overflowing hashes wrap like Java ints; Kafka masks the sign bit (not Math.abs).
  int32_t h = java_string_hash("a-long-consumer-group-name");
  EXPECT_EQ(partition_for_group("a-long-consumer-group-name", 50), (h & 0x7fffffff) % 50);
  EXPECT_EQ(partition_for_group("abc", 50), 96354 % 50);
  // A topic not known yet (0 partitions) maps to no partition instead of dividing by zero: a
  // cluster member's coordinator crashed with SIGFPE on OffsetCommit when it loaded
  // __consumer_offsets before its agent had learnt the topic.
  EXPECT_EQ(partition_for_group("abc", 0), -1);
  EXPECT_EQ(partition_for_group("abc", -1), -1);
}

TEST(OffsetsCodec, OffsetKeyBytesMatchKafka) {
  std::string k = encode_offset_key("g", {"t", 7});
  const std::string want("\x00\x01\x00\x01g\x00\x01t\x00\x00\x00\x07", 12);
  EXPECT_EQ(k, want);
  auto d = decode_key(k);
  ASSERT_TRUE(d.ok());
  auto& ok = std::get<OffsetRecordKey>(*d);
  EXPECT_EQ(ok.group, "g");
  EXPECT_EQ(ok.tp, (TopicPartition{"t", 7}));
  EXPECT_EQ(encode_group_key("g"), std::string("\x00\x02\x00\x01g", 5));
  EXPECT_FALSE(decode_key(std::string("\x00\x07", 2)).ok());
  EXPECT_FALSE(decode_key(std::string("\x00\x01\x00\x05g", 5)).ok());
}

TEST(OffsetsCodec, OffsetValueRoundTripsBothVersions) {
  OffsetAndMetadata om{1234, 5, std::string("meta"), 1700000000000, -1};
  std::string v = encode_offset_value(om);
  EXPECT_EQ(v.size(), 2u + 8 + 4 + 2 + 4 + 8);
  EXPECT_EQ(v.substr(0, 2), std::string("\x00\x03", 2));
  auto d = decode_offset_value(v);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->offset, 1234);
  EXPECT_EQ(d->leader_epoch, 5);
  EXPECT_EQ(d->metadata, "meta");
  EXPECT_EQ(d->commit_timestamp_ms, 1700000000000);
  om.expire_timestamp_ms = 1700000060000;
  auto d1 = decode_offset_value(encode_offset_value(om));
  ASSERT_TRUE(d1.ok());
  EXPECT_EQ(d1->expire_timestamp_ms, 1700000060000);
  EXPECT_EQ(d1->leader_epoch, -1);  // v1 has no leader epoch
  EXPECT_FALSE(decode_offset_value(v.substr(0, 10)).ok());
}

TEST(OffsetsCodec, GroupValueRoundTrips) {
  GroupSnapshot g;
  g.protocol_type = "consumer";
  g.generation = 9;
  g.protocol_name = "range";
  g.leader = "m1";
  g.current_state_timestamp_ms = 77;
  g.members.push_back(
      {"m1", std::string("i1"), "c", "/1.2.3.4", 30000, 10000, Buf::copy("sub"), Buf::copy("asg")});
  g.members.push_back({"m2", std::nullopt, "c2", "/h", 1, 2, Buf(), Buf()});
  auto d = decode_group_value(encode_group_value(g));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->protocol_type, "consumer");
  EXPECT_EQ(d->generation, 9);
  EXPECT_EQ(d->protocol_name, "range");
  EXPECT_EQ(d->leader, "m1");
  EXPECT_EQ(d->current_state_timestamp_ms, 77);
  ASSERT_EQ(d->members.size(), 2u);
  EXPECT_EQ(d->members[0].instance_id, "i1");
  EXPECT_EQ(d->members[0].rebalance_timeout_ms, 30000);
  EXPECT_EQ(d->members[0].session_timeout_ms, 10000);
  EXPECT_EQ(d->members[0].subscription.view(), "sub");
  EXPECT_EQ(d->members[0].assignment.view(), "asg");
  EXPECT_FALSE(d->members[1].instance_id);
  GroupSnapshot empty;
  auto e = decode_group_value(encode_group_value(empty));
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->protocol_name);
  EXPECT_TRUE(e->members.empty());
  std::string bad = encode_group_value(g);
  EXPECT_FALSE(decode_group_value(bad.substr(0, bad.size() - 1)).ok());
}

// A coordinator with a recording store: commits reach the store before they are visible, and
// a second coordinator restored from the records sees the same state.
class MemStore : public GroupStore {
 public:
  void write_offsets(const std::string& group,
                     std::vector<std::pair<TopicPartition, std::optional<OffsetAndMetadata>>> e,
                     std::function<void(bool)> done) override {
    for (auto& [tp, om] : e) {
      records.emplace_back(encode_offset_key(group, tp), om ? encode_offset_value(*om) : "");
      tomb.push_back(!om);
    }
    if (hold) {
      held = std::move(done);
    } else {
      done(true);
    }
  }
  void write_group(const std::string& group, std::optional<GroupSnapshot> s,
                   std::function<void(bool)> done) override {
    records.emplace_back(encode_group_key(group), s ? encode_group_value(*s) : "");
    tomb.push_back(!s);
    done(true);
  }
  void replay(GroupCoordinator& gc) {
    for (size_t i = 0; i < records.size(); ++i) {
      auto k = decode_key(records[i].first);
      ASSERT_TRUE(k.ok());
      if (auto* ok = std::get_if<OffsetRecordKey>(&*k)) {
        gc.restore_offsets(
            ok->group, ok->tp,
            tomb[i] ? std::nullopt : std::optional(*decode_offset_value(records[i].second)));
      } else {
        auto& gk = std::get<GroupRecordKey>(*k);
        gc.restore_group(gk.group, tomb[i] ? std::nullopt
                                           : std::optional(*decode_group_value(records[i].second)));
      }
    }
  }
  std::vector<std::pair<std::string, std::string>> records;
  std::vector<bool> tomb;
  bool hold = false;
  std::function<void(bool)> held;
};

TEST(OffsetsCodec, CoordinatorPersistsAndRestores) {
  ManualClock clock;
  MemStore store;
  CoordinatorOptions o;
  o.initial_rebalance_delay_ms = 0;
  GroupCoordinator gc(o, clock, &store);
  store.hold = true;
  std::vector<int16_t> errs;
  gc.commit_offsets({"g", -1, "", std::nullopt, -1, {{{"t", 0}, {10, 2, std::string("m")}}}},
                    [&](std::vector<int16_t> e) { errs = e; });
  EXPECT_TRUE(errs.empty());  // not durable yet: no answer, not visible
  EXPECT_EQ(gc.fetch_offsets("g", std::nullopt).offsets.size(), 0u);
  store.held(true);
  EXPECT_EQ(errs, std::vector<int16_t>{err::kNone});
  store.hold = false;
  gc.commit_offsets({"g", -1, "", std::nullopt, -1, {{{"t", 1}, {20}}}}, [](auto) {});
  gc.delete_offsets("g", {{"t", 1}});
  // A member joins and syncs: the group metadata is written.
  JoinRequest jr;
  jr.group_id = "g";
  jr.session_timeout_ms = 10000;
  jr.protocol_type = "consumer";
  jr.protocols.push_back({"range", Buf::copy("x")});
  jr.require_known_member_id = false;
  jr.instance_id = "inst";
  std::optional<JoinResult> j;
  gc.join_group(jr, [&](JoinResult r) { j = r; });
  ASSERT_TRUE(j);
  SyncRequest sr{"g", j->generation, j->member_id, std::string("inst"), {}, {}, {}};
  sr.assignments.push_back({j->member_id, Buf::copy("A")});
  gc.sync_group(sr, [](SyncResult) {});

  GroupCoordinator restored(o, clock);
  store.replay(restored);
  auto f = restored.fetch_offsets("g", std::nullopt);
  ASSERT_EQ(f.offsets.size(), 1u);
  EXPECT_EQ(f.offsets[0].offset, 10);
  EXPECT_EQ(f.offsets[0].leader_epoch, 2);
  auto d = restored.describe_group("g");
  EXPECT_EQ(d.state, "Stable");
  ASSERT_EQ(d.members.size(), 1u);
  EXPECT_EQ(d.members[0].assignment.view(), "A");
  // The restored static member can heartbeat at its generation, a stranger is fenced.
  EXPECT_EQ(restored.heartbeat("g", j->member_id, std::string("inst"), j->generation), err::kNone);
  EXPECT_EQ(restored.heartbeat("g", "other", std::string("inst"), j->generation),
            err::kFencedInstanceId);
  // Without heartbeats the restored member expires and the group empties.
  clock.advance(std::chrono::milliseconds(20000));
  restored.tick();
  EXPECT_EQ(restored.describe_group("g").members.size(), 0u);
}

}  // namespace
}  // namespace shale::coord
