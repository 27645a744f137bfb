// AlterConfigs (key 33), v0-2: replaces a topic's config overrides. Broker configs are static
// (flags / config file), so BROKER resources are refused with INVALID_CONFIG.
#include "kafka/protocol/gen/alter_configs.h"

#include <set>

#include "broker/broker.h"
#include "kafka/server/handler.h"

namespace shale::kafka {
namespace {

using Resp = AlterConfigsResponse;
constexpr int8_t kResourceTopic = 2;

asio::awaitable<Result<ResponseBody>> handle_alter_configs(RequestContext& ctx) {
  auto req = decode_request<AlterConfigsRequest>(ctx);
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
    broker::ConfigMap configs;
    bool null_value = false;
    for (const auto& c : res.configs) {
      if (!c.value)
        null_value = true;
      else
        configs[c.name] = *c.value;
    }
    broker::ApiError err;
    if (null_value) {
      err = {broker::kerr::kInvalidConfig, "Null value not supported for topic configs"};
    } else {
      err = co_await tm.alter_configs(res.resource_name, std::move(configs), req->validate_only);
    }
    out.error_code = err.code;
    if (!err.message.empty()) out.error_message = err.message;
    resp.responses.push_back(std::move(out));
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kAlterConfigs, handle_alter_configs, 0, 2);

}  // namespace shale::kafka
