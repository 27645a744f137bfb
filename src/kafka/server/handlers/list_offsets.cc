// ListOffsets (key 2), v1-9. Timestamps: -1 latest (the high watermark; also for
// read_committed, since LSO == HW until transactions exist), -2 earliest, -3 max timestamp
// (KIP-734), -4 earliest local (== earliest: there is no local/remote split), -5 latest tiered
// (== latest: everything acknowledged is durable), otherwise the first offset whose record
// timestamp is >= the given one (see broker/partition.h for precision on compressed batches).
// current_leader_epoch (v4+) is checked like Fetch.
#include "kafka/protocol/gen/list_offsets.h"

#include "broker/broker.h"
#include "kafka/protocol/errors.h"
#include "kafka/server/handler.h"

namespace shale::kafka {
namespace {

namespace kerr = broker::kerr;
static_assert(kerr::kUnknownLeaderEpoch == to_wire(ErrorCode::kUnknownLeaderEpoch));

asio::awaitable<Result<ResponseBody>> handle_list_offsets(RequestContext& ctx) {
  auto req = decode_request<ListOffsetsRequest>(ctx);
  if (!req.ok()) co_return req.error();
  const int16_t v = ctx.header.request_api_version;
  auto& topics = ctx.broker.topics();
  ListOffsetsResponse resp;
  for (const auto& t : req->topics) {
    auto& tr = resp.topics.emplace_back();
    tr.name = t.name;
    for (const auto& p : t.partitions) {
      auto& pr = tr.partitions.emplace_back();
      pr.partition_index = p.partition_index;
      auto part = topics.partition(t.name, p.partition_index);
      if (!part) {
        auto known = topics.find(t.name);  // cluster: owned by another broker
        pr.error_code = known && p.partition_index >= 0 && p.partition_index < known->partitions
                            ? kerr::kNotLeaderOrFollower
                            : kerr::kUnknownTopicOrPartition;
        continue;
      }
      if (v >= 4) {
        if (auto e = part->check_leader_epoch(p.current_leader_epoch); !e.ok()) {
          pr.error_code = e.code;
          continue;
        }
      }
      int64_t ts = p.timestamp;
      if (ts == -4) ts = broker::kEarliestTimestamp;
      if (ts == -5) ts = broker::kLatestTimestamp;
      broker::OffsetResult r = co_await part->list_offset(ts);
      pr.error_code = r.error.code;
      pr.offset = r.offset;
      pr.timestamp = r.timestamp;
      pr.leader_epoch = r.leader_epoch;
    }
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kListOffsets, handle_list_offsets, 1, 9);

}  // namespace shale::kafka
