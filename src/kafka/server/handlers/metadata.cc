// Metadata (key 3), v0-12. On a single broker this node leads every partition; in a cluster
// (ctx.broker.cluster()) the brokers are the live ones and each partition's leader is its
// assigned owner (LEADER_NOT_AVAILABLE while it has none or its owner's lease expired). See
// README.md ("What Metadata reports") for replicas/isr and the replication factor.
#include "kafka/protocol/gen/metadata.h"

#include "broker/broker.h"
#include "kafka/server/handler.h"
#include "kafka/server/handlers/convert.h"
#include "kafka/server/server_config.h"

namespace shale::kafka {
namespace {

using Resp = MetadataResponse;

bool is_live(const std::vector<broker::BrokerEndpoint>& live, int32_t id) {
  for (const auto& b : live) {
    if (b.id == id) return true;
  }
  return false;
}

// Cluster: the assigned owner leads.
void describe_owned(Resp::MetadataResponsePartition& p, const broker::ClusterView& cv,
                    const std::vector<broker::BrokerEndpoint>& live, const std::string& topic) {
  auto o = cv.owner(topic, p.partition_index);
  if (!o || !is_live(live, o->node)) {
    p.error_code = broker::kerr::kLeaderNotAvailable;
    p.leader_id = -1;
    if (o) p.replica_nodes = {o->node};
    return;
  }
  p.leader_id = o->node;
  p.leader_epoch = o->epoch;
  p.replica_nodes = {o->node};
  p.isr_nodes = {o->node};
}

Resp::MetadataResponseTopic describe(const broker::TopicManager& tm, const broker::TopicInfo& t,
                                     int32_t node, const broker::ClusterView* cv = nullptr,
                                     const std::vector<broker::BrokerEndpoint>& live = {}) {
  Resp::MetadataResponseTopic out;
  out.name = t.name;
  out.topic_id = to_kafka_uuid(t.id);
  out.is_internal = t.internal;
  auto parts = tm.partitions(t.name);
  for (int32_t i = 0; i < t.partitions; ++i) {
    Resp::MetadataResponsePartition p;
    p.partition_index = i;
    if (cv) {
      describe_owned(p, *cv, live, t.name);
      out.partitions.push_back(std::move(p));
      continue;
    }
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

  const broker::ClusterView* cv = ctx.broker.cluster();
  std::vector<broker::BrokerEndpoint> live;
  Resp resp;
  resp.cluster_id = ctx.config.cluster_id;
  if (cv) {
    live = cv->live_brokers();
    for (const auto& b : live) {
      resp.brokers.push_back({b.id,
                              b.host,
                              b.port,
                              b.rack.empty() ? std::nullopt : std::optional<std::string>(b.rack),
                              {}});
    }
    resp.controller_id = cv->controller_id();
  } else {
    resp.brokers.push_back({node,
                            ctx.config.effective_advertised_host(),
                            ctx.config.advertised_port,
                            std::nullopt,
                            {}});
    resp.controller_id = node;
  }

  // v0: an empty list means all topics; v1+: null means all, empty means none.
  const bool all = !req->topics.has_value() || (v == 0 && req->topics->empty());
  if (all) {
    for (const auto& t : tm.list()) resp.topics.push_back(describe(tm, t, node, cv, live));
    co_return encode_response(ctx, resp);
  }
  const bool may_create =
      ctx.config.allow_auto_create_topics && (v < 4 || req->allow_auto_topic_creation);
  for (const auto& rt : *req->topics) {
    if (!rt.name.has_value()) {  // v10+: lookup by topic id
      auto t = tm.find(from_kafka_uuid(rt.topic_id));
      resp.topics.push_back(
          t ? describe(tm, *t, node, cv, live)
            : topic_error(broker::kerr::kUnknownTopicId, std::nullopt, rt.topic_id));
      continue;
    }
    const std::string& name = *rt.name;
    if (auto t = tm.find(name)) {
      resp.topics.push_back(describe(tm, *t, node, cv, live));
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
      resp.topics.push_back(describe(tm, *t, node, cv, live));
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
