// OffsetDelete (key 47), v0: deletes committed offsets of partitions the group is not
// subscribed to (GROUP_SUBSCRIBED_TO_TOPIC otherwise); GROUP_ID_NOT_FOUND for unknown groups.
#include "kafka/protocol/gen/offset_delete.h"

#include "broker/broker.h"
#include "coord/broker_coordinator.h"
#include "kafka/server/handler.h"

namespace shale::kafka {
namespace {

asio::awaitable<Result<ResponseBody>> handle_offset_delete(RequestContext& ctx) {
  auto req = decode_request<OffsetDeleteRequest>(ctx);
  if (!req.ok()) co_return req.error();
  auto gc = coord::coordinator_of(ctx.broker);
  OffsetDeleteResponse resp;
  if (!gc) {
    resp.error_code = coord::err::kCoordinatorNotAvailable;
    co_return encode_response(ctx, resp);
  }
  std::vector<coord::TopicPartition> tps;
  for (const auto& t : req->topics) {
    for (const auto& p : t.partitions) tps.push_back({t.name, p.partition_index});
  }
  auto [top, errors] = gc->delete_offsets(req->group_id, tps);
  resp.error_code = top;
  if (top == coord::err::kNone) {
    size_t i = 0;
    for (const auto& t : req->topics) {
      auto& rt = resp.topics.emplace_back();
      rt.name = t.name;
      for (const auto& p : t.partitions) {
        auto& rp = rt.partitions.emplace_back();
        rp.partition_index = p.partition_index;
        rp.error_code = errors[i++];
      }
    }
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kOffsetDelete, handle_offset_delete, 0, 0);

}  // namespace shale::kafka
