// OffsetCommit (key 8), v0-9. Generation -1 with an empty member id is a standalone consumer
// (assign() + commit). Offsets for partitions this broker does not know are refused with
// UNKNOWN_TOPIC_OR_PARTITION, as Kafka does. The response is sent once the commit is durable.
#include "kafka/protocol/gen/offset_commit.h"

#include "broker/async.h"
#include "broker/broker.h"
#include "coord/broker_coordinator.h"
#include "kafka/server/handler.h"

namespace shale::kafka {
namespace {

asio::awaitable<Result<ResponseBody>> handle_offset_commit(RequestContext& ctx) {
  auto req = decode_request<OffsetCommitRequest>(ctx);
  if (!req.ok()) co_return req.error();
  const int16_t v = ctx.header.request_api_version;
  auto gc = coord::coordinator_of(ctx.broker);
  OffsetCommitResponse resp;
  coord::CommitRequest cr;
  cr.group_id = req->group_id;
  cr.generation = v >= 1 ? req->generation_id_or_member_epoch : -1;
  cr.member_id = req->member_id;
  cr.instance_id = req->group_instance_id;
  cr.retention_ms = (v >= 2 && v <= 4) ? req->retention_time_ms : -1;
  // Where each request partition's error comes from: an index into cr.offsets, or a fixed code.
  std::vector<std::pair<int, int16_t>> slots;
  for (const auto& t : req->topics) {
    for (const auto& p : t.partitions) {
      if (!gc) {
        slots.emplace_back(-1, coord::err::kCoordinatorNotAvailable);
      } else if (auto known = ctx.broker.topics().find(t.name);  // may be owned elsewhere
                 !known || p.partition_index < 0 || p.partition_index >= known->partitions) {
        slots.emplace_back(-1, coord::err::kUnknownTopicOrPartition);
      } else {
        coord::OffsetAndMetadata om;
        om.offset = p.committed_offset;
        om.leader_epoch = p.committed_leader_epoch;
        om.metadata = p.committed_metadata.value_or("");
        om.commit_timestamp_ms = v == 1 ? p.commit_timestamp : -1;
        slots.emplace_back(static_cast<int>(cr.offsets.size()), coord::err::kNone);
        cr.offsets.push_back({{t.name, p.partition_index}, om});
      }
    }
  }
  std::vector<int16_t> errors;
  if (gc && !cr.offsets.empty()) {
    broker::Pending<std::vector<int16_t>> done;
    gc->commit_offsets(std::move(cr), done.setter());
    errors = co_await done.wait();
  }
  size_t i = 0;
  for (const auto& t : req->topics) {
    auto& rt = resp.topics.emplace_back();
    rt.name = t.name;
    for (const auto& p : t.partitions) {
      auto& rp = rt.partitions.emplace_back();
      rp.partition_index = p.partition_index;
      auto [idx, code] = slots[i++];
      rp.error_code = idx >= 0 ? errors[idx] : code;
    }
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kOffsetCommit, handle_offset_commit, 0, 9);

}  // namespace shale::kafka
