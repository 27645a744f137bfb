// OffsetForLeaderEpoch (key 23), v0-4: the end offset of a leader epoch, which consumers use to
// detect log truncation after a leader change (KIP-320). Shale never truncates acknowledged
// data; broker/partition.h (end_offset_for_epoch) explains the answers. current_leader_epoch
// (v2+) is checked like Fetch.
#include "kafka/protocol/gen/offset_for_leader_epoch.h"

#include "broker/broker.h"
#include "kafka/server/handler.h"

namespace shale::kafka {
namespace {

namespace kerr = broker::kerr;

asio::awaitable<Result<ResponseBody>> handle_offset_for_leader_epoch(RequestContext& ctx) {
  auto req = decode_request<OffsetForLeaderEpochRequest>(ctx);
  if (!req.ok()) co_return req.error();
  const int16_t v = ctx.header.request_api_version;
  auto& topics = ctx.broker.topics();
  OffsetForLeaderEpochResponse resp;
  for (const auto& t : req->topics) {
    auto& tr = resp.topics.emplace_back();
    tr.topic = t.topic;
    for (const auto& p : t.partitions) {
      auto& pr = tr.partitions.emplace_back();
      pr.partition = p.partition;
      auto part = topics.partition(t.topic, p.partition);
      if (!part) {
        pr.error_code = kerr::kUnknownTopicOrPartition;
        continue;
      }
      if (v >= 2) {
        if (auto e = part->check_leader_epoch(p.current_leader_epoch); !e.ok()) {
          pr.error_code = e.code;
          continue;
        }
      }
      broker::OffsetResult r = part->end_offset_for_epoch(p.leader_epoch);
      pr.error_code = r.error.code;
      pr.leader_epoch = r.leader_epoch;
      pr.end_offset = r.offset;
    }
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kOffsetForLeaderEpoch, handle_offset_for_leader_epoch, 0, 4);

}  // namespace shale::kafka
