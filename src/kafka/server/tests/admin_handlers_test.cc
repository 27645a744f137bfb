// The admin handlers driven through the registry with encoded requests over the broker's fake
// stores; responses decoded with the generated codec.
#include <gtest/gtest.h>

#include "broker/broker.h"
#include "broker/tests/fakes.h"
#include "broker/tests/test_util.h"
#include "kafka/protocol/gen/create_topics.h"
#include "kafka/protocol/gen/delete_topics.h"
#include "kafka/protocol/gen/describe_cluster.h"
#include "kafka/protocol/gen/describe_configs.h"
#include "kafka/protocol/gen/describe_topic_partitions.h"
#include "kafka/protocol/gen/metadata.h"
#include "kafka/server/handler.h"
#include "kafka/server/server_config.h"

namespace shale::kafka {
namespace {

using broker::testing::run;

Buf concat(const std::vector<Buf>& parts) {
  std::vector<uint8_t> v;
  for (const auto& p : parts) v.insert(v.end(), p.data(), p.data() + p.size());
  return Buf::take(std::move(v));
}

class AdminHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.node_id = 0;
    config_.advertised_host = "10.0.0.1";
    config_.advertised_port = 9092;
    config_.cluster_id = "c1";
    broker_ = std::make_unique<broker::Broker>(broker::BrokerConfig{}, meta_, store_, clock_);
    ASSERT_TRUE(broker_->start().ok());
  }
  void TearDown() override { broker_->stop(); }

  template <typename Resp, typename Req>
  Resp call(int16_t api, int16_t v, const Req& req) {
    Writer w;
    EXPECT_TRUE(req.encode(w, v).ok());
    RequestHeader h;
    h.request_api_key = api;
    h.request_api_version = v;
    const HandlerEntry* e = HandlerRegistry::instance().find(api);
    EXPECT_NE(e, nullptr);
    RequestContext ctx{h, concat(w.finish_parts()), conn_, *broker_, config_};
    Result<ResponseBody> body = run(io_, e->fn(ctx));
    EXPECT_TRUE(body.ok());
    Resp resp;
    Reader r(concat(body->parts));
    EXPECT_TRUE(resp.decode(r, v).ok());
    EXPECT_EQ(r.remaining(), 0u);
    return resp;
  }
  CreateTopicsResponse create(const std::string& name, int32_t parts, int16_t rf = -1) {
    CreateTopicsRequest req;
    auto& t = req.topics.emplace_back();
    t.name = name;
    t.num_partitions = parts;
    t.replication_factor = rf;
    return call<CreateTopicsResponse>(api_key::kCreateTopics, 7, req);
  }
  MetadataResponse metadata(int16_t v, std::optional<std::vector<std::string>> names,
                            bool allow_auto = true) {
    MetadataRequest req;
    if (names) {
      req.topics.emplace();
      for (auto& n : *names) req.topics->push_back({{}, n, {}});
    } else {
      req.topics = std::nullopt;
    }
    req.allow_auto_topic_creation = allow_auto;
    return call<MetadataResponse>(api_key::kMetadata, v, req);
  }

  asio::io_context io_;
  broker::testing::FakeMetaStore meta_;
  broker::testing::FakeStreamStore store_;
  ManualClock clock_;
  std::unique_ptr<broker::Broker> broker_;
  ConnectionInfo conn_;
  ServerConfig config_;
};

TEST_F(AdminHandlersTest, MetadataListsThisBrokerAsLeaderOfEverything) {
  auto c = create("orders", 3, 3);
  ASSERT_EQ(c.topics[0].error_code, 0);
  EXPECT_EQ(c.topics[0].num_partitions, 3);
  EXPECT_EQ(c.topics[0].replication_factor, 3);
  for (int16_t v : {1, 5, 9, 12}) {
    auto m = metadata(v, std::nullopt);
    ASSERT_EQ(m.brokers.size(), 1u);
    EXPECT_EQ(m.brokers[0].host, "10.0.0.1");
    EXPECT_EQ(m.brokers[0].port, 9092);
    EXPECT_EQ(m.controller_id, 0);
    if (v >= 2) {
      EXPECT_EQ(m.cluster_id, "c1");
    }
    ASSERT_EQ(m.topics.size(), 1u);
    EXPECT_EQ(m.topics[0].name, "orders");
    if (v >= 10) {
      EXPECT_EQ(m.topics[0].topic_id, c.topics[0].topic_id);
    }
    ASSERT_EQ(m.topics[0].partitions.size(), 3u);
    for (const auto& p : m.topics[0].partitions) {
      EXPECT_EQ(p.leader_id, 0);
      EXPECT_EQ(p.replica_nodes, std::vector<int32_t>{0});
      EXPECT_EQ(p.isr_nodes, std::vector<int32_t>{0});
      if (v >= 7) {
        EXPECT_GE(p.leader_epoch, 0);
      }
    }
  }
  // v0: an empty list means all topics; v1+: an empty list means none.
  EXPECT_EQ(metadata(0, std::vector<std::string>{}).topics.size(), 1u);
  EXPECT_EQ(metadata(1, std::vector<std::string>{}).topics.size(), 0u);
}

TEST_F(AdminHandlersTest, MetadataAutoCreatesOnlyWhenAllowed) {
  auto m = metadata(12, std::vector<std::string>{"nope"}, /*allow_auto=*/false);
  ASSERT_EQ(m.topics.size(), 1u);
  EXPECT_EQ(m.topics[0].error_code, 3);  // UNKNOWN_TOPIC_OR_PARTITION
  m = metadata(12, std::vector<std::string>{"bad name!"});
  EXPECT_EQ(m.topics[0].error_code, 17);  // INVALID_TOPIC_EXCEPTION
  m = metadata(12, std::vector<std::string>{"fresh"});
  EXPECT_EQ(m.topics[0].error_code, 0);
  EXPECT_EQ(m.topics[0].partitions.size(), 1u);
  EXPECT_TRUE(broker_->topics().find("fresh").has_value());

  config_.allow_auto_create_topics = false;
  m = metadata(12, std::vector<std::string>{"other"});
  EXPECT_EQ(m.topics[0].error_code, 3);
  EXPECT_FALSE(broker_->topics().find("other").has_value());
}

TEST_F(AdminHandlersTest, CreateTopicsRejectsDuplicatesAndExisting) {
  ASSERT_EQ(create("a", 1).topics[0].error_code, 0);
  EXPECT_EQ(create("a", 1).topics[0].error_code, 36);  // TOPIC_ALREADY_EXISTS
  CreateTopicsRequest req;
  req.topics.push_back({"dup", 1, -1, {}, {}, {}});
  req.topics.push_back({"dup", 1, -1, {}, {}, {}});
  auto r = call<CreateTopicsResponse>(api_key::kCreateTopics, 7, req);
  ASSERT_EQ(r.topics.size(), 2u);
  EXPECT_EQ(r.topics[0].error_code, 42);  // INVALID_REQUEST
  EXPECT_EQ(r.topics[1].error_code, 42);
  EXPECT_FALSE(broker_->topics().find("dup").has_value());
}

TEST_F(AdminHandlersTest, DeleteTopicsByNameAndById) {
  auto a = create("a", 1);
  create("b", 1);
  DeleteTopicsRequest req;
  req.topics.push_back({std::nullopt, a.topics[0].topic_id, {}});
  req.topics.push_back({std::string("b"), {}, {}});
  req.topics.push_back({std::string("missing"), {}, {}});
  auto r = call<DeleteTopicsResponse>(api_key::kDeleteTopics, 6, req);
  ASSERT_EQ(r.responses.size(), 3u);
  EXPECT_EQ(r.responses[0].error_code, 0);
  EXPECT_EQ(r.responses[0].name, "a");
  EXPECT_EQ(r.responses[1].error_code, 0);
  EXPECT_EQ(r.responses[2].error_code, 3);
  EXPECT_TRUE(broker_->topics().list().empty());
}

TEST_F(AdminHandlersTest, DescribeConfigsOfTopicAndBroker) {
  CreateTopicsRequest creq;
  creq.topics.push_back({"t", 1, -1, {}, {{"retention.ms", "1234", {}}}, {}});
  ASSERT_EQ(call<CreateTopicsResponse>(api_key::kCreateTopics, 7, creq).topics[0].error_code, 0);
  DescribeConfigsRequest req;
  req.resources.push_back({2, "t", std::vector<std::string>{"retention.ms"}, {}});
  req.resources.push_back({4, "0", std::nullopt, {}});
  req.resources.push_back({2, "missing", std::nullopt, {}});
  auto r = call<DescribeConfigsResponse>(api_key::kDescribeConfigs, 4, req);
  ASSERT_EQ(r.results.size(), 3u);
  ASSERT_EQ(r.results[0].configs.size(), 1u);
  EXPECT_EQ(r.results[0].configs[0].value, "1234");
  EXPECT_EQ(r.results[0].configs[0].config_source, 1);  // TOPIC_CONFIG
  bool saw_broker_id = false;
  for (const auto& c : r.results[1].configs) saw_broker_id |= c.name == "broker.id";
  EXPECT_TRUE(saw_broker_id);
  EXPECT_EQ(r.results[2].error_code, 3);
}

TEST_F(AdminHandlersTest, DescribeTopicPartitionsPagesWithACursor) {
  create("p", 5);
  DescribeTopicPartitionsRequest req;
  req.topics.push_back({"p", {}});
  req.response_partition_limit = 2;
  auto r = call<DescribeTopicPartitionsResponse>(api_key::kDescribeTopicPartitions, 0, req);
  ASSERT_EQ(r.topics.size(), 1u);
  EXPECT_EQ(r.topics[0].partitions.size(), 2u);
  ASSERT_TRUE(r.next_cursor.has_value());
  EXPECT_EQ(r.next_cursor->partition_index, 2);
  req.cursor = DescribeTopicPartitionsRequest::Cursor{"p", 2, {}};
  r = call<DescribeTopicPartitionsResponse>(api_key::kDescribeTopicPartitions, 0, req);
  EXPECT_EQ(r.topics[0].partitions[0].partition_index, 2);
}

TEST_F(AdminHandlersTest, DescribeClusterIsThisNode) {
  auto r = call<DescribeClusterResponse>(api_key::kDescribeCluster, 1, DescribeClusterRequest{});
  EXPECT_EQ(r.error_code, 0);
  EXPECT_EQ(r.cluster_id, "c1");
  ASSERT_EQ(r.brokers.size(), 1u);
  EXPECT_EQ(r.brokers[0].host, "10.0.0.1");
}

}  // namespace
}  // namespace shale::kafka
