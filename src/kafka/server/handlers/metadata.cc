// Metadata (key 3), v0-12. One broker (this node) leads every partition; see README.md
// ("What Metadata reports") for replicas/isr and the replication factor.
#include "kafka/protocol/gen/metadata.h"

#include "broker/broker.h"
#include "kafka/server/handler.h"
#include "kafka/server/handlers/convert.h"
#include "kafka/server/server_config.h"

namespace shale::kafka {
namespace {

using Resp = MetadataResponse;

Resp::MetadataResponseTopic describe(const broker::TopicManager& tm, const broker::TopicInfo& t,
                                     int32_t node) {
  Resp::MetadataResponseTopic out;
  out.name = t.name;
  out.topic_id = to_kafka_uuid(t.id);
  out.is_internal = t.internal;
  auto parts = tm.partitions(t.name);
  for (int32_t i = 0; i < t.partitions; ++i) {
    Resp::MetadataResponsePartition p;
    p.partition_index = i;
    const auto* part = i < static_cast<int32_t>(parts.size()) ? parts[i].get() : nullptr;
    if (part) {
      p.leader_id = node;
      p.leader_epoch = part->leader_epoch();
      p.replica_nodes = {node};
      p.isr_nodes = {node};
    } else {  // the partition's stream failed to open here: no leader right now
      p.error_code = broker::kerr::kLeaderNotAvailable;
      p.leader_id = -1;
      p.replica_nodes = {node};
    }
    out.partitions.push_back(std::move(p));
  }
  return out;
}

Resp::MetadataResponseTopic topic_error(int16_t code, std::optional<std::string> name,
                                        Uuid id = {}) {
  Resp::MetadataResponseTopic out;
  out.error_code = code;
  out.name = std::move(name);
  out.topic_id = id;
  return out;
}

asio::awaitable<Result<ResponseBody>> handle_metadata(RequestContext& ctx) {
  const int16_t v = ctx.header.request_api_version;
  auto req = decode_request<MetadataRequest>(ctx);
  if (!req.ok()) co_return req.error();
  broker::TopicManager& tm = ctx.broker.topics();
  const int32_t node = ctx.config.node_id;

  Resp resp;
  resp.brokers.push_back(
      {node, ctx.config.effective_advertised_host(), ctx.config.advertised_port, std::nullopt, {}});
  resp.cluster_id = ctx.config.cluster_id;
  resp.controller_id = node;

  // v0: an empty list means all topics; v1+: null means all, empty means none.
  const bool all = !req->topics.has_value() || (v == 0 && req->topics->empty());
  if (all) {
    for (const auto& t : tm.list()) resp.topics.push_back(describe(tm, t, node));
    co_return encode_response(ctx, resp);
  }
  const bool may_create =
      ctx.config.allow_auto_create_topics && (v < 4 || req->allow_auto_topic_creation);
  for (const auto& rt : *req->topics) {
    if (!rt.name.has_value()) {  // v10+: lookup by topic id
      auto t = tm.find(from_kafka_uuid(rt.topic_id));
      resp.topics.push_back(
          t ? describe(tm, *t, node)
            : topic_error(broker::kerr::kUnknownTopicId, std::nullopt, rt.topic_id));
      continue;
    }
    const std::string& name = *rt.name;
    if (auto t = tm.find(name)) {
      resp.topics.push_back(describe(tm, *t, node));
      continue;
    }
    if (auto err = broker::validate_topic_name(name); !err.ok()) {
      resp.topics.push_back(topic_error(broker::kerr::kInvalidTopicException, name));
      continue;
    }
    if (!may_create) {
      resp.topics.push_back(topic_error(broker::kerr::kUnknownTopicOrPartition, name));
      continue;
    }
    broker::TopicSpec spec;
    spec.name = name;
    spec.num_partitions = ctx.config.default_partitions;
    auto created = co_await tm.create_topic(std::move(spec), /*validate_only=*/false);
    auto t = tm.find(name);  // also covers a concurrent creation (TOPIC_ALREADY_EXISTS)
    if (t) {
      resp.topics.push_back(describe(tm, *t, node));
    } else {
      // Kafka reports a failed auto-creation as a retriable LEADER_NOT_AVAILABLE unless the
      // error is about the request itself.
      int16_t code = created.error.code == broker::kerr::kInvalidTopicException
                         ? broker::kerr::kInvalidTopicException
                         : broker::kerr::kLeaderNotAvailable;
      resp.topics.push_back(topic_error(code, name));
    }
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kMetadata, handle_metadata, 0, 12);

}  // namespace shale::kafka
