// FindCoordinator (key 10), v0-5. A group's coordinator is the owner of its __consumer_offsets
// partition: on a single broker this node; in a cluster the partition's assigned owner
// (COORDINATOR_NOT_AVAILABLE while the topic or the owner is missing; clients retry). Batched
// lookups (coordinator_keys) from v4. Key type 0 = group; 1 = transaction (no transaction
// coordinator yet: COORDINATOR_NOT_AVAILABLE).
#include "kafka/protocol/gen/find_coordinator.h"

#include "broker/broker.h"
#include "coord/broker_coordinator.h"
#include "coord/offsets_codec.h"
#include "kafka/server/handler.h"
#include "kafka/server/server_config.h"

namespace shale::kafka {
namespace {

asio::awaitable<Result<ResponseBody>> handle_find_coordinator(RequestContext& ctx) {
  auto req = decode_request<FindCoordinatorRequest>(ctx);
  if (!req.ok()) co_return req.error();
  const int16_t v = ctx.header.request_api_version;
  const bool available = coord::coordinator_of(ctx.broker) != nullptr;
  const broker::ClusterView* cv = ctx.broker.cluster();
  auto offsets_topic = ctx.broker.topics().find(coord::kOffsetsTopic);
  std::vector<broker::BrokerEndpoint> live =
      cv ? cv->live_brokers() : std::vector<broker::BrokerEndpoint>{};
  // Cluster: the live owner of the group's __consumer_offsets partition.
  auto owner_of = [&](const std::string& group) -> const broker::BrokerEndpoint* {
    if (!offsets_topic || offsets_topic->partitions <= 0) return nullptr;
    auto o = cv->owner(coord::kOffsetsTopic,
                       coord::partition_for_group(group, offsets_topic->partitions));
    if (!o) return nullptr;
    for (const auto& b : live) {
      if (b.id == o->node) return &b;
    }
    return nullptr;
  };
  auto answer = [&](const std::string& key, int8_t key_type, int16_t& error,
                    std::optional<std::string>& message, int32_t& node, std::string& host,
                    int32_t& port) {
    node = -1;
    host = "";
    port = -1;
    if (key_type != 0 && key_type != 1) {
      error = coord::err::kInvalidRequest;
      message = "unknown key type";
    } else if (key_type == 1 || !available) {
      error = coord::err::kCoordinatorNotAvailable;
      message = key_type == 1 ? "transactions are not supported" : "broker is stopping";
    } else if (cv) {
      const broker::BrokerEndpoint* b = owner_of(key);
      if (!b) {
        error = coord::err::kCoordinatorNotAvailable;
        message = "the group's __consumer_offsets partition has no live owner yet";
        return;
      }
      error = coord::err::kNone;
      message = std::nullopt;
      node = b->id;
      host = b->host;
      port = b->port;
    } else {
      error = coord::err::kNone;
      message = std::nullopt;
      node = ctx.config.node_id;
      host = ctx.config.effective_advertised_host();
      port = ctx.config.advertised_port;
    }
  };
  FindCoordinatorResponse resp;
  if (v >= 4) {
    for (const auto& key : req->coordinator_keys) {
      auto& c = resp.coordinators.emplace_back();
      c.key = key;
      answer(key, req->key_type, c.error_code, c.error_message, c.node_id, c.host, c.port);
    }
  } else {
    answer(req->key, req->key_type, resp.error_code, resp.error_message, resp.node_id, resp.host,
           resp.port);
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kFindCoordinator, handle_find_coordinator, 0, 5);

}  // namespace shale::kafka
