// DescribeConfigs (key 32), v1-4. TOPIC resources come from the TopicManager (effective value and
// source of every known topic config); BROKER resources list the static settings this server
// runs with (read-only: they come from flags / the config file).
#include "kafka/protocol/gen/describe_configs.h"

#include "broker/broker.h"
#include "kafka/server/handler.h"
#include "kafka/server/server_config.h"

namespace shale::kafka {
namespace {

using Resp = DescribeConfigsResponse;
constexpr int8_t kResourceTopic = 2;
constexpr int8_t kResourceBroker = 4;
constexpr int8_t kResourceBrokerLogger = 8;

std::vector<broker::ConfigEntry> broker_entries(const ServerConfig& c) {
  auto e = [](std::string name, std::string value, broker::ConfigType type) {
    broker::ConfigEntry out;
    out.name = std::move(name);
    out.value = std::move(value);
    out.source = broker::ConfigSource::kStaticBrokerConfig;
    out.type = type;
    out.read_only = true;
    return out;
  };
  using T = broker::ConfigType;
  return {
      e("auto.create.topics.enable", c.allow_auto_create_topics ? "true" : "false", T::kBoolean),
      e("broker.id", std::to_string(c.node_id), T::kInt),
      e("connections.max.idle.ms", std::to_string(c.idle_timeout.count()), T::kLong),
      e("max.connections", std::to_string(c.max_connections), T::kInt),
      e("node.id", std::to_string(c.node_id), T::kInt),
      e("num.partitions", std::to_string(c.default_partitions), T::kInt),
      e("socket.request.max.bytes", std::to_string(c.max_request_bytes), T::kInt),
  };
}

Resp::DescribeConfigsResourceResult to_wire(const broker::ConfigEntry& e, int16_t v, bool synonyms,
                                            bool docs) {
  Resp::DescribeConfigsResourceResult r;
  r.name = e.name;
  r.value = e.sensitive ? std::nullopt : std::optional<std::string>(e.value);
  r.read_only = e.read_only;
  r.is_default = e.source == broker::ConfigSource::kDefaultConfig;
  r.config_source = static_cast<int8_t>(e.source);
  r.is_sensitive = e.sensitive;
  if (v >= 1 && synonyms) r.synonyms.push_back({e.name, r.value, r.config_source, {}});
  r.config_type = static_cast<int8_t>(e.type);
  r.documentation = docs ? std::optional<std::string>(e.doc) : std::nullopt;
  return r;
}

asio::awaitable<Result<ResponseBody>> handle_describe_configs(RequestContext& ctx) {
  const int16_t v = ctx.header.request_api_version;
  auto req = decode_request<DescribeConfigsRequest>(ctx);
  if (!req.ok()) co_return req.error();
  const broker::TopicManager& tm = ctx.broker.topics();
  Resp resp;
  for (const auto& res : req->resources) {
    Resp::DescribeConfigsResult out;
    out.resource_type = res.resource_type;
    out.resource_name = res.resource_name;
    out.error_message = std::nullopt;
    std::vector<std::string> keys;
    if (res.configuration_keys) keys = *res.configuration_keys;
    std::vector<broker::ConfigEntry> entries;
    if (res.resource_type == kResourceTopic) {
      broker::DescribeConfigsResult d = tm.describe_configs(res.resource_name, keys);
      out.error_code = d.error.code;
      if (!d.error.ok()) out.error_message = d.error.message;
      entries = std::move(d.entries);
    } else if (res.resource_type == kResourceBroker) {
      if (!res.resource_name.empty() && res.resource_name != std::to_string(ctx.config.node_id)) {
        out.error_code = broker::kerr::kInvalidRequest;
        out.error_message = "Unexpected broker id, expected " + std::to_string(ctx.config.node_id);
      } else {
        for (auto& e : broker_entries(ctx.config)) {
          if (keys.empty() || std::find(keys.begin(), keys.end(), e.name) != keys.end()) {
            entries.push_back(std::move(e));
          }
        }
      }
    } else if (res.resource_type != kResourceBrokerLogger) {
      out.error_code = broker::kerr::kInvalidRequest;
      out.error_message = "Unsupported resource type " + std::to_string(res.resource_type);
    }
    for (const auto& e : entries) {
      out.configs.push_back(to_wire(e, v, req->include_synonyms, req->include_documentation));
    }
    resp.results.push_back(std::move(out));
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kDescribeConfigs, handle_describe_configs, 1, 4);

}  // namespace shale::kafka
