// CreateTopics (key 19), v2-7. Topics are created in the metadata store by the broker's
// TopicManager; every partition is a stream in shared storage (see README.md on replication).
#include "kafka/protocol/gen/create_topics.h"

#include <set>

#include "broker/broker.h"
#include "kafka/server/handler.h"
#include "kafka/server/handlers/convert.h"
#include "kafka/server/server_config.h"

namespace shale::kafka {
namespace {

using Resp = CreateTopicsResponse;

asio::awaitable<Result<ResponseBody>> handle_create_topics(RequestContext& ctx) {
  const int16_t v = ctx.header.request_api_version;
  auto req = decode_request<CreateTopicsRequest>(ctx);
  if (!req.ok()) co_return req.error();
  broker::TopicManager& tm = ctx.broker.topics();

  // Kafka answers every occurrence of a name given twice with INVALID_REQUEST.
  std::multiset<std::string> names;
  for (const auto& t : req->topics) names.insert(t.name);

  Resp resp;
  for (const auto& t : req->topics) {
    Resp::CreatableTopicResult r;
    r.name = t.name;
    if (names.count(t.name) > 1) {
      r.error_code = broker::kerr::kInvalidRequest;
      r.error_message = "Duplicate topic name in the request";
      resp.topics.push_back(std::move(r));
      continue;
    }
    broker::TopicSpec spec;
    spec.name = t.name;
    spec.num_partitions = t.num_partitions;
    spec.replication_factor = t.replication_factor;
    if (!t.assignments.empty()) {
      auto sorted = t.assignments;
      std::sort(sorted.begin(), sorted.end(),
                [](const auto& a, const auto& b) { return a.partition_index < b.partition_index; });
      for (const auto& a : sorted) spec.assignments.push_back(a.broker_ids);
    }
    bool null_config = false;
    for (const auto& c : t.configs) {
      if (!c.value.has_value()) {
        null_config = true;
        break;
      }
      spec.configs[c.name] = *c.value;
    }
    if (null_config) {
      r.error_code = broker::kerr::kInvalidConfig;
      r.error_message = "Null value not supported for topic configs";
      resp.topics.push_back(std::move(r));
      continue;
    }
    broker::CreateTopicResult res = co_await tm.create_topic(std::move(spec), req->validate_only);
    r.error_code = res.error.code;
    if (!res.error.message.empty()) r.error_message = res.error.message;
    if (res.error.ok()) {
      r.topic_id = to_kafka_uuid(res.topic.id);
      r.num_partitions = res.topic.partitions;
      r.replication_factor = res.topic.replication_factor;
      if (v >= 5) {
        std::vector<Resp::CreatableTopicConfigs> cfgs;
        for (const auto& e : res.configs) {
          Resp::CreatableTopicConfigs c;
          c.name = e.name;
          c.value = e.value;
          c.read_only = e.read_only;
          c.config_source = static_cast<int8_t>(e.source);
          c.is_sensitive = e.sensitive;
          cfgs.push_back(std::move(c));
        }
        r.configs = std::move(cfgs);
      }
    }
    resp.topics.push_back(std::move(r));
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

// v0/v1 are below Kafka 4's floor and unused by current clients.
SHALE_KAFKA_HANDLER(kCreateTopics, handle_create_topics, 2, 7);

}  // namespace shale::kafka
