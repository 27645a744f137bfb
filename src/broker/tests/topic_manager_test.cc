#include <gtest/gtest.h>

#include "broker/broker.h"
#include "broker/tests/fakes.h"
#include "broker/tests/test_util.h"

namespace shale::broker {
namespace {

using testing::FakeMetaStore;
using testing::FakeStreamStore;
using testing::run;

class TopicManagerTest : public ::testing::Test {
 protected:
  void SetUp() override { make_broker(); }
  void make_broker() {
    broker.reset();
    BrokerConfig cfg;
    cfg.topics.default_partitions = 3;
    cfg.topics.defaults.values["retention.ms"] = "3600000";
    broker = std::make_unique<Broker>(cfg, meta, store, clock);
    ASSERT_TRUE(broker->start().ok());
  }
  CreateTopicResult create(TopicSpec s, bool validate_only = false) {
    return run(io, broker->topics().create_topic(std::move(s), validate_only));
  }
  TopicManager& tm() { return broker->topics(); }

  asio::io_context io;
  FakeMetaStore meta;
  FakeStreamStore store;
  ManualClock clock;
  std::unique_ptr<Broker> broker;
};

TEST_F(TopicManagerTest, CreateWithDefaultsAndFind) {
  auto r = create({.name = "orders"});
  ASSERT_TRUE(r.error.ok()) << r.error.message;
  EXPECT_EQ(r.topic.partitions, 3);
  EXPECT_EQ(r.topic.replication_factor, 1);
  EXPECT_FALSE(r.topic.id.is_zero());
  auto t = tm().find("orders");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->id, r.topic.id);
  EXPECT_EQ(tm().find(r.topic.id)->name, "orders");
  for (int i = 0; i < 3; ++i) {
    auto p = tm().partition("orders", i);
    ASSERT_TRUE(p) << i;
    EXPECT_EQ(p->leader_epoch(), 1);
    EXPECT_EQ(tm().partition(r.topic.id, i), p);
  }
  EXPECT_FALSE(tm().partition("orders", 3));
  EXPECT_FALSE(tm().partition("orders", -1));
  // Retention reaches the stream store (broker default).
  auto info = store.info(tm().partition("orders", 0)->stream_id());
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->retention_ms, 3600000);
}

TEST_F(TopicManagerTest, CreateErrorsMatchKafka) {
  ASSERT_TRUE(create({.name = "a.b"}).error.ok());
  EXPECT_EQ(create({.name = "a.b"}).error.code, kerr::kTopicAlreadyExists);
  EXPECT_EQ(create({.name = "a_b"}).error.code, kerr::kInvalidTopicException);  // collision
  EXPECT_EQ(create({.name = ""}).error.code, kerr::kInvalidTopicException);
  EXPECT_EQ(create({.name = ".."}).error.code, kerr::kInvalidTopicException);
  EXPECT_EQ(create({.name = "bad name"}).error.code, kerr::kInvalidTopicException);
  EXPECT_EQ(create({.name = std::string(250, 'x')}).error.code, kerr::kInvalidTopicException);
  EXPECT_TRUE(create({.name = std::string(249, 'x')}).error.ok());
  EXPECT_EQ(create({.name = "p0", .num_partitions = 0}).error.code, kerr::kInvalidPartitions);
  EXPECT_EQ(create({.name = "p2", .num_partitions = -2}).error.code, kerr::kInvalidPartitions);
  EXPECT_EQ(create({.name = "r0", .replication_factor = 0}).error.code,
            kerr::kInvalidReplicationFactor);
  EXPECT_TRUE(create({.name = "r3", .replication_factor = 3}).error.ok());
  auto compact = create({.name = "c", .configs = {{"cleanup.policy", "compact"}}});
  EXPECT_EQ(compact.error.code, kerr::kInvalidConfig);
  EXPECT_EQ(compact.error.message, "cleanup.policy=compact is not supported yet");
  EXPECT_EQ(create({.name = "u", .configs = {{"no.such.config", "1"}}}).error.code,
            kerr::kInvalidConfig);
  EXPECT_EQ(create({.name = "v", .configs = {{"retention.ms", "abc"}}}).error.code,
            kerr::kInvalidConfig);
  EXPECT_EQ(create({.name = "w", .num_partitions = 2, .assignments = {{0}, {0}}}).error.code,
            kerr::kInvalidRequest);
  EXPECT_EQ(create({.name = "x", .assignments = {{0, 0}}}).error.code,
            kerr::kInvalidReplicaAssignment);
  auto assigned = create({.name = "y", .assignments = {{0}, {0}}});
  ASSERT_TRUE(assigned.error.ok());
  EXPECT_EQ(assigned.topic.partitions, 2);
  // None of the failures left a topic or a stream behind.
  EXPECT_FALSE(tm().find("c"));
  EXPECT_EQ(tm().list().size(), 4u);
}

TEST_F(TopicManagerTest, ValidateOnlyCreatesNothing) {
  int txns = meta.txns;
  auto r = create({.name = "dry", .num_partitions = 5}, true);
  ASSERT_TRUE(r.error.ok());
  EXPECT_EQ(r.topic.partitions, 5);
  EXPECT_FALSE(r.configs.empty());
  EXPECT_FALSE(tm().find("dry"));
  EXPECT_EQ(meta.txns, txns);
}

TEST_F(TopicManagerTest, DeleteRemovesTopicAndStreams) {
  ASSERT_TRUE(create({.name = "gone", .num_partitions = 2}).error.ok());
  auto p = tm().partition("gone", 0);
  StreamId sid = p->stream_id();
  auto e = run(io, tm().delete_topic("gone"));
  EXPECT_TRUE(e.ok()) << e.message;
  EXPECT_FALSE(tm().find("gone"));
  EXPECT_TRUE(p->deleted());
  EXPECT_EQ(store.info(sid).code(), Errc::kNotFound);
  EXPECT_EQ(run(io, tm().delete_topic("gone")).code, kerr::kUnknownTopicOrPartition);
  // The name is free again, with a new id.
  EXPECT_TRUE(create({.name = "gone"}).error.ok());
}

TEST_F(TopicManagerTest, CreatePartitionsIncreaseOnly) {
  ASSERT_TRUE(create({.name = "t", .num_partitions = 2}).error.ok());
  EXPECT_EQ(run(io, tm().create_partitions("t", 1, false)).code, kerr::kInvalidPartitions);
  EXPECT_EQ(run(io, tm().create_partitions("t", 2, false)).code, kerr::kInvalidPartitions);
  EXPECT_EQ(run(io, tm().create_partitions("nope", 4, false)).code, kerr::kUnknownTopicOrPartition);
  EXPECT_TRUE(run(io, tm().create_partitions("t", 4, true)).ok());
  EXPECT_EQ(tm().find("t")->partitions, 2);
  auto old0 = tm().partition("t", 0);
  EXPECT_TRUE(run(io, tm().create_partitions("t", 4, false)).ok());
  EXPECT_EQ(tm().find("t")->partitions, 4);
  EXPECT_TRUE(tm().partition("t", 3));
  EXPECT_EQ(tm().partition("t", 0), old0);  // existing partitions are untouched
}

TEST_F(TopicManagerTest, DescribeAndAlterConfigs) {
  ASSERT_TRUE(create({.name = "t", .configs = {{"max.message.bytes", "2000"}}}).error.ok());
  auto d = tm().describe_configs("t", {});
  ASSERT_TRUE(d.error.ok());
  auto find = [&](const std::string& n) {
    for (auto& e : tm().describe_configs("t", {}).entries) {
      if (e.name == n) return e;
    }
    return ConfigEntry{};
  };
  EXPECT_EQ(find("max.message.bytes").value, "2000");
  EXPECT_EQ(find("max.message.bytes").source, ConfigSource::kTopicConfig);
  EXPECT_EQ(find("retention.ms").value, "3600000");
  EXPECT_EQ(find("retention.ms").source, ConfigSource::kStaticBrokerConfig);
  EXPECT_EQ(find("segment.bytes").source, ConfigSource::kDefaultConfig);
  EXPECT_EQ(find("cleanup.policy").value, "delete");
  auto only = tm().describe_configs("t", {"retention.ms"});
  ASSERT_EQ(only.entries.size(), 1u);
  EXPECT_EQ(tm().describe_configs("nope", {}).error.code, kerr::kUnknownTopicOrPartition);
  EXPECT_EQ(tm().partition("t", 0)->config()->max_message_bytes, 2000);

  // Full replace: max.message.bytes goes back to its default.
  ASSERT_TRUE(run(io, tm().alter_configs("t", {{"retention.ms", "1000"}}, false)).ok());
  EXPECT_EQ(find("max.message.bytes").source, ConfigSource::kDefaultConfig);
  EXPECT_EQ(tm().partition("t", 0)->config()->max_message_bytes, 1048588);
  EXPECT_EQ(store.info(tm().partition("t", 0)->stream_id())->retention_ms, 1000);
  EXPECT_EQ(run(io, tm().alter_configs("t", {{"cleanup.policy", "compact"}}, false)).code,
            kerr::kInvalidConfig);
  // validate_only changes nothing.
  ASSERT_TRUE(run(io, tm().alter_configs("t", {{"retention.ms", "5"}}, true)).ok());
  EXPECT_EQ(find("retention.ms").value, "1000");

  using T = AlterOp::Type;
  auto inc = [&](std::vector<AlterOp> ops) {
    return run(io, tm().incremental_alter_configs("t", std::move(ops), false));
  };
  ASSERT_TRUE(inc({{"message.timestamp.type", T::kSet, "LogAppendTime"}}).ok());
  EXPECT_TRUE(tm().partition("t", 0)->config()->log_append_time);
  EXPECT_EQ(find("retention.ms").value, "1000");  // untouched by an incremental SET
  ASSERT_TRUE(inc({{"retention.ms", T::kDelete, std::nullopt}}).ok());
  EXPECT_EQ(find("retention.ms").value, "3600000");
  EXPECT_EQ(inc({{"retention.ms", T::kAppend, "5"}}).code, kerr::kInvalidRequest);
  EXPECT_EQ(inc({{"cleanup.policy", T::kAppend, "compact"}}).code, kerr::kInvalidConfig);
  EXPECT_TRUE(inc({{"cleanup.policy", T::kAppend, "delete"}}).ok());
  EXPECT_EQ(find("cleanup.policy").value, "delete");
  EXPECT_EQ(inc({{"message.timestamp.type", T::kSet, "Sometime"}}).code, kerr::kInvalidConfig);
}

TEST_F(TopicManagerTest, TopicsSurviveRestartWithNewEpoch) {
  auto r = create({.name = "keep", .num_partitions = 2, .configs = {{"retention.ms", "77"}}});
  ASSERT_TRUE(r.error.ok());
  StreamId s1 = tm().partition("keep", 1)->stream_id();
  make_broker();  // a new Broker over the same metadata and stream stores
  auto t = tm().find("keep");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->id, r.topic.id);
  EXPECT_EQ(t->partitions, 2);
  EXPECT_EQ(t->configs.at("retention.ms"), "77");
  auto p = tm().partition("keep", 1);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->stream_id(), s1);
  EXPECT_EQ(p->leader_epoch(), 2);
}

TEST(TopicConfig, ValidationTable) {
  EXPECT_TRUE(validate_config("retention.ms", "-1").ok());
  EXPECT_EQ(validate_config("retention.ms", "-2").code, kerr::kInvalidConfig);
  EXPECT_TRUE(validate_config("segment.bytes", "1048576").ok());
  EXPECT_EQ(validate_config("segment.bytes", "3").code, kerr::kInvalidConfig);
  EXPECT_TRUE(validate_config("segment.ms", "1000").ok());
  EXPECT_TRUE(validate_config("min.insync.replicas", "2").ok());
  EXPECT_EQ(validate_config("min.insync.replicas", "0").code, kerr::kInvalidConfig);
  EXPECT_EQ(validate_config("max.message.bytes", "99999999999").code, kerr::kInvalidConfig);
  EXPECT_TRUE(validate_config("cleanup.policy", "delete").ok());
  EXPECT_EQ(validate_config("cleanup.policy", "compact,delete").code, kerr::kInvalidConfig);
  EXPECT_TRUE(validate_config("compression.type", "zstd").ok());
  EXPECT_EQ(validate_config("compression.type", "brotli").code, kerr::kInvalidConfig);
  EXPECT_TRUE(validate_config("preallocate", "true").ok());
  EXPECT_EQ(validate_config("preallocate", "yes").code, kerr::kInvalidConfig);
}

TEST(Uuid, HexRoundTripAndBase64) {
  Uuid u = Uuid::random();
  EXPECT_FALSE(u.is_zero());
  EXPECT_EQ(Uuid::from_hex(u.to_hex()), u);
  EXPECT_EQ(u.to_base64().size(), 22u);
  EXPECT_NE(u.to_base64()[0], '-');
  EXPECT_FALSE(Uuid::from_hex("xyz"));
  Uuid z;
  EXPECT_EQ(z.to_base64(), "AAAAAAAAAAAAAAAAAAAAAA");
}

}  // namespace
}  // namespace shale::broker
