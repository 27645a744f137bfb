// DescribeTopicPartitions (key 75), v0 (KIP-966): Metadata's topic part with paging. Topics are
// answered in name order starting at the cursor; at most response_partition_limit partitions per
// response, with next_cursor set when more remain. An empty topic list means all topics.
#include "kafka/protocol/gen/describe_topic_partitions.h"

#include "broker/broker.h"
#include "kafka/server/handler.h"
#include "kafka/server/handlers/convert.h"
#include "kafka/server/server_config.h"

namespace shale::kafka {
namespace {

using Resp = DescribeTopicPartitionsResponse;

asio::awaitable<Result<ResponseBody>> handle_describe_topic_partitions(RequestContext& ctx) {
  auto req = decode_request<DescribeTopicPartitionsRequest>(ctx);
  if (!req.ok()) co_return req.error();
  const broker::TopicManager& tm = ctx.broker.topics();
  const int32_t node = ctx.config.node_id;
  const int32_t limit = std::clamp(req->response_partition_limit, 1, 2000);

  std::vector<std::string> names;
  if (req->topics.empty()) {
    for (const auto& t : tm.list()) names.push_back(t.name);
  } else {
    for (const auto& t : req->topics) names.push_back(t.name);
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
  }
  Resp resp;
  int32_t budget = limit;
  for (const auto& name : names) {
    int32_t first = 0;
    if (req->cursor) {
      if (name < req->cursor->topic_name) continue;
      if (name == req->cursor->topic_name) first = std::max(0, req->cursor->partition_index);
    }
    Resp::DescribeTopicPartitionsResponseTopic out;
    out.name = name;
    auto info = tm.find(name);
    if (!info) {
      out.error_code = broker::validate_topic_name(name).ok()
                           ? broker::kerr::kUnknownTopicOrPartition
                           : broker::kerr::kInvalidTopicException;
      resp.topics.push_back(std::move(out));
      continue;
    }
    if (budget <= 0) {
      resp.next_cursor = Resp::Cursor{name, first, {}};
      break;
    }
    out.topic_id = to_kafka_uuid(info->id);
    out.is_internal = info->internal;
    auto parts = tm.partitions(name);
    int32_t i = first;
    for (; i < info->partitions && budget > 0; ++i, --budget) {
      Resp::DescribeTopicPartitionsResponsePartition p;
      p.partition_index = i;
      const auto* part = i < static_cast<int32_t>(parts.size()) ? parts[i].get() : nullptr;
      p.replica_nodes = {node};
      p.eligible_leader_replicas = std::vector<int32_t>{};
      p.last_known_elr = std::vector<int32_t>{};
      if (part) {
        p.leader_id = node;
        p.leader_epoch = part->leader_epoch();
        p.isr_nodes = {node};
      } else {
        p.error_code = broker::kerr::kLeaderNotAvailable;
        p.leader_id = -1;
      }
      out.partitions.push_back(std::move(p));
    }
    resp.topics.push_back(std::move(out));
    if (i < info->partitions) {
      resp.next_cursor = Resp::Cursor{name, i, {}};
      break;
    }
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kDescribeTopicPartitions, handle_describe_topic_partitions, 0, 0);

}  // namespace shale::kafka
