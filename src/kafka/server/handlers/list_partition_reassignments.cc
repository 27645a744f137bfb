// ListPartitionReassignments (key 46), v0: the moves in progress. A move of a partition from
// broker A to B is reported as replicas [A, B], adding [B], removing [A], until B owns it.
#include "kafka/protocol/gen/list_partition_reassignments.h"

#include <map>

#include "broker/broker.h"
#include "kafka/server/handler.h"

namespace shale::kafka {
namespace {

using Resp = ListPartitionReassignmentsResponse;

asio::awaitable<Result<ResponseBody>> handle_list_partition_reassignments(RequestContext& ctx) {
  auto req = decode_request<ListPartitionReassignmentsRequest>(ctx);
  if (!req.ok()) co_return req.error();
  std::map<std::string, std::map<int32_t, broker::PartitionMove>> moves;
  if (const broker::ClusterView* cv = ctx.broker.cluster()) {
    for (auto& m : cv->moves()) moves[m.topic][m.index] = m;
  }
  auto wanted = [&](const std::string& topic, int32_t index) {
    if (!req->topics) return true;
    for (const auto& t : *req->topics) {
      if (t.name != topic) continue;
      for (int32_t i : t.partition_indexes) {
        if (i == index) return true;
      }
    }
    return false;
  };
  Resp resp;
  for (const auto& [topic, parts] : moves) {
    Resp::OngoingTopicReassignment tr;
    tr.name = topic;
    for (const auto& [index, m] : parts) {
      if (!wanted(topic, index)) continue;
      auto& pr = tr.partitions.emplace_back();
      pr.partition_index = index;
      pr.replicas = {m.node, m.target};
      pr.adding_replicas = {m.target};
      pr.removing_replicas = {m.node};
    }
    if (!tr.partitions.empty()) resp.topics.push_back(std::move(tr));
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kListPartitionReassignments, handle_list_partition_reassignments, 0, 0);

}  // namespace shale::kafka
