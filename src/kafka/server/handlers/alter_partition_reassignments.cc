// AlterPartitionReassignments (key 45), v0. Storage is shared, so a partition has one owner and
// "replicas" name where it should live: the first replica becomes the move target and the
// controller's move protocol does the rest (seal, upload, release, open at epoch + 1; see
// src/cluster). replicas = null cancels a pending move. On a single broker only this broker is a
// valid replica (the reassignment completes at once).
#include "kafka/protocol/gen/alter_partition_reassignments.h"

#include <fmt/format.h>

#include "broker/async.h"
#include "broker/broker.h"
#include "kafka/server/handler.h"
#include "kafka/server/server_config.h"

namespace shale::kafka {
namespace {

using Req = AlterPartitionReassignmentsRequest;
using Resp = AlterPartitionReassignmentsResponse;

constexpr int16_t kNoReassignmentInProgress = 85;

struct Outcome {
  int16_t code = 0;
  std::string message;
};

// Runs on the control pool (request_move blocks on the metadata store).
Outcome reassign(broker::Broker& b, int32_t self, const std::string& topic,
                 const Req::ReassignablePartition& p) {
  auto t = b.topics().find(topic);
  if (!t || p.partition_index < 0 || p.partition_index >= t->partitions) {
    return {broker::kerr::kUnknownTopicOrPartition,
            fmt::format("Unknown topic-partition {}-{}", topic, p.partition_index)};
  }
  if (p.replicas && p.replicas->empty()) {
    return {broker::kerr::kInvalidReplicaAssignment, "The replica list is empty."};
  }
  broker::ClusterView* cv = b.cluster();
  if (!cv) {
    if (!p.replicas) return {kNoReassignmentInProgress, "No reassignment in progress."};
    if ((*p.replicas)[0] != self) {
      return {broker::kerr::kInvalidReplicaAssignment,
              fmt::format("Unknown broker {}", (*p.replicas)[0])};
    }
    return {};
  }
  if (!p.replicas) {
    bool pending = false;
    for (const auto& m : cv->moves()) {
      pending |= m.topic == topic && m.index == p.partition_index;
    }
    if (!pending) return {kNoReassignmentInProgress, "No reassignment in progress."};
  }
  Status st = cv->request_move(topic, p.partition_index, p.replicas ? (*p.replicas)[0] : -1);
  switch (st.code()) {
    case Errc::kOk:
      return {};
    case Errc::kInvalidArgument:
      return {broker::kerr::kInvalidReplicaAssignment, st.message()};
    case Errc::kNotFound:
      return {broker::kerr::kLeaderNotAvailable, st.message()};
    default:
      return {broker::kerr::kUnknownServerError, st.message()};
  }
}

using Outcomes = std::vector<std::vector<Outcome>>;

// Not a coroutine: the request is copied into the work item here (GCC 12 destroys a lambda
// temporary of a co_await full-expression twice; see broker/async.h).
asio::awaitable<Outcomes> reassign_all(broker::Broker* b, int32_t self, const Req& r) {
  return broker::run_blocking(b->control_pool(), [b, self, r] {
    Outcomes out;
    for (const auto& t : r.topics) {
      auto& o = out.emplace_back();
      for (const auto& p : t.partitions) o.push_back(reassign(*b, self, t.name, p));
    }
    return out;
  });
}

asio::awaitable<Result<ResponseBody>> handle_alter_partition_reassignments(RequestContext& ctx) {
  auto req = decode_request<Req>(ctx);
  if (!req.ok()) co_return req.error();
  const Req& r = *req;
  Outcomes outcomes = co_await reassign_all(&ctx.broker, ctx.config.node_id, r);
  Resp resp;
  for (size_t i = 0; i < r.topics.size(); ++i) {
    auto& tr = resp.responses.emplace_back();
    tr.name = r.topics[i].name;
    for (size_t j = 0; j < r.topics[i].partitions.size(); ++j) {
      auto& pr = tr.partitions.emplace_back();
      pr.partition_index = r.topics[i].partitions[j].partition_index;
      pr.error_code = outcomes[i][j].code;
      if (pr.error_code != 0) pr.error_message = outcomes[i][j].message;
    }
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kAlterPartitionReassignments, handle_alter_partition_reassignments, 0, 0);

}  // namespace shale::kafka
