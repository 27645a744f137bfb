// IncrementalAlterConfigs (key 44), v0-1: SET/DELETE/APPEND/SUBTRACT on a topic's overrides.
// Broker configs are static (flags / config file): BROKER resources get INVALID_CONFIG.
#include "kafka/protocol/gen/incremental_alter_configs.h"

#include "broker/broker.h"
#include "kafka/server/handler.h"

namespace shale::kafka {
namespace {

using Resp = IncrementalAlterConfigsResponse;
constexpr int8_t kResourceTopic = 2;

asio::awaitable<Result<ResponseBody>> handle_incremental_alter_configs(RequestContext& ctx) {
  auto req = decode_request<IncrementalAlterConfigsRequest>(ctx);
  if (!req.ok()) co_return req.error();
  broker::TopicManager& tm = ctx.broker.topics();
  Resp resp;
  for (const auto& res : req->resources) {
    Resp::AlterConfigsResourceResponse out;
    out.resource_type = res.resource_type;
    out.resource_name = res.resource_name;
    out.error_message = std::nullopt;
    if (res.resource_type != kResourceTopic) {
      out.error_code = broker::kerr::kInvalidConfig;
      out.error_message = "Only topic configs can be altered; broker settings are static";
      resp.responses.push_back(std::move(out));
      continue;
    }
    std::vector<broker::AlterOp> ops;
    bool bad_op = false;
    for (const auto& c : res.configs) {
      if (c.config_operation < 0 || c.config_operation > 3) bad_op = true;
      ops.push_back({c.name, static_cast<broker::AlterOp::Type>(c.config_operation), c.value});
    }
    broker::ApiError err;
    if (bad_op) {
      err = {broker::kerr::kInvalidRequest, "Unknown config operation"};
    } else {
      err = co_await tm.incremental_alter_configs(res.resource_name, std::move(ops),
                                                  req->validate_only);
    }
    out.error_code = err.code;
    if (!err.message.empty()) out.error_message = err.message;
    resp.responses.push_back(std::move(out));
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kIncrementalAlterConfigs, handle_incremental_alter_configs, 0, 1);

}  // namespace shale::kafka
