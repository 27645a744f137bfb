// CreatePartitions (key 37), v0-3. Grows a topic; manual assignments may only name this node.
#include "kafka/protocol/gen/create_partitions.h"

#include <set>

#include "broker/broker.h"
#include "kafka/server/handler.h"
#include "kafka/server/server_config.h"

namespace shale::kafka {
namespace {

using Resp = CreatePartitionsResponse;

asio::awaitable<Result<ResponseBody>> handle_create_partitions(RequestContext& ctx) {
  auto req = decode_request<CreatePartitionsRequest>(ctx);
  if (!req.ok()) co_return req.error();
  broker::TopicManager& tm = ctx.broker.topics();
  std::multiset<std::string> names;
  for (const auto& t : req->topics) names.insert(t.name);

  Resp resp;
  for (const auto& t : req->topics) {
    Resp::CreatePartitionsTopicResult r;
    r.name = t.name;
    if (names.count(t.name) > 1) {
      r.error_code = broker::kerr::kInvalidRequest;
      r.error_message = "Duplicate topic in request.";
      resp.results.push_back(std::move(r));
      continue;
    }
    bool bad_assignment = false;
    if (t.assignments.has_value()) {
      for (const auto& a : *t.assignments) {
        for (int32_t b : a.broker_ids) bad_assignment |= (b != ctx.config.node_id);
      }
    }
    if (bad_assignment) {
      r.error_code = broker::kerr::kInvalidReplicaAssignment;
      r.error_message = "Assignments may only name broker " + std::to_string(ctx.config.node_id);
      resp.results.push_back(std::move(r));
      continue;
    }
    broker::ApiError err = co_await tm.create_partitions(t.name, t.count, req->validate_only);
    r.error_code = err.code;
    if (!err.message.empty()) r.error_message = err.message;
    resp.results.push_back(std::move(r));
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kCreatePartitions, handle_create_partitions, 0, 3);

}  // namespace shale::kafka
