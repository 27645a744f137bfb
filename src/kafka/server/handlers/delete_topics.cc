// DeleteTopics (key 20), v1-6. v6 may name topics by id.
#include "kafka/protocol/gen/delete_topics.h"

#include "broker/broker.h"
#include "kafka/server/handler.h"
#include "kafka/server/handlers/convert.h"

namespace shale::kafka {
namespace {

using Resp = DeleteTopicsResponse;

asio::awaitable<Result<ResponseBody>> handle_delete_topics(RequestContext& ctx) {
  const int16_t v = ctx.header.request_api_version;
  auto req = decode_request<DeleteTopicsRequest>(ctx);
  if (!req.ok()) co_return req.error();
  broker::TopicManager& tm = ctx.broker.topics();

  // Normalise v0-5 (names) and v6+ (name or id) into one list.
  std::vector<DeleteTopicsRequest::DeleteTopicState> targets;
  if (v >= 6) {
    targets = req->topics;
  } else {
    for (const auto& n : req->topic_names) targets.push_back({n, {}, {}});
  }
  Resp resp;
  for (const auto& t : targets) {
    Resp::DeletableTopicResult r;
    r.name = t.name;
    r.topic_id = t.topic_id;
    std::string name;
    if (t.name.has_value() && !t.name->empty()) {
      name = *t.name;
      if (auto info = tm.find(name)) r.topic_id = to_kafka_uuid(info->id);
    } else if (!t.topic_id.is_zero()) {
      auto info = tm.find(from_kafka_uuid(t.topic_id));
      if (!info) {
        r.error_code = broker::kerr::kUnknownTopicId;
        r.error_message = "This server does not host this topic ID.";
        resp.responses.push_back(std::move(r));
        continue;
      }
      name = info->name;
      r.name = name;
    } else {
      r.error_code = broker::kerr::kInvalidRequest;
      r.error_message = "Neither topic name nor id was provided";
      resp.responses.push_back(std::move(r));
      continue;
    }
    broker::ApiError err = co_await tm.delete_topic(name);
    r.error_code = err.code;
    if (!err.message.empty()) r.error_message = err.message;
    resp.responses.push_back(std::move(r));
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kDeleteTopics, handle_delete_topics, 1, 6);

}  // namespace shale::kafka
