// DescribeCluster (key 60), v0-1: the live brokers and the controller (on a single broker: this
// node, which is also the controller).
#include "kafka/protocol/gen/describe_cluster.h"

#include "broker/broker.h"
#include "kafka/server/handler.h"
#include "kafka/server/server_config.h"

namespace shale::kafka {
namespace {

constexpr int8_t kEndpointBrokers = 1;
constexpr int16_t kMismatchedEndpointType = 114;

asio::awaitable<Result<ResponseBody>> handle_describe_cluster(RequestContext& ctx) {
  auto req = decode_request<DescribeClusterRequest>(ctx);
  if (!req.ok()) co_return req.error();
  DescribeClusterResponse resp;
  resp.endpoint_type = kEndpointBrokers;
  if (ctx.header.request_api_version >= 1 && req->endpoint_type != kEndpointBrokers) {
    resp.error_code = kMismatchedEndpointType;
    resp.error_message = "The request was sent to an endpoint of type BROKER";
    co_return encode_response(ctx, resp);
  }
  resp.cluster_id = ctx.config.cluster_id;
  if (const broker::ClusterView* cv = ctx.broker.cluster()) {
    resp.controller_id = cv->controller_id();
    for (const auto& b : cv->live_brokers()) {
      resp.brokers.push_back({b.id,
                              b.host,
                              b.port,
                              b.rack.empty() ? std::nullopt : std::optional<std::string>(b.rack),
                              {}});
    }
    co_return encode_response(ctx, resp);
  }
  resp.controller_id = ctx.config.node_id;
  resp.brokers.push_back({ctx.config.node_id,
                          ctx.config.effective_advertised_host(),
                          ctx.config.advertised_port,
                          std::nullopt,
                          {}});
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kDescribeCluster, handle_describe_cluster, 0, 1);

}  // namespace shale::kafka
