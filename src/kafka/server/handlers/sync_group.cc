// SyncGroup (key 14), v0-5. Followers are parked until the leader sends the assignment.
#include "kafka/protocol/gen/sync_group.h"

#include "broker/async.h"
#include "broker/broker.h"
#include "coord/broker_coordinator.h"
#include "kafka/server/handler.h"

namespace shale::kafka {
namespace {

asio::awaitable<Result<ResponseBody>> handle_sync_group(RequestContext& ctx) {
  auto req = decode_request<SyncGroupRequest>(ctx);
  if (!req.ok()) co_return req.error();
  auto gc = coord::coordinator_of(ctx.broker);
  coord::SyncResult r;
  if (!gc) {
    r.error = coord::err::kCoordinatorNotAvailable;
  } else {
    coord::SyncRequest sr;
    sr.group_id = req->group_id;
    sr.generation = req->generation_id;
    sr.member_id = req->member_id;
    sr.instance_id = req->group_instance_id;
    sr.protocol_type = req->protocol_type;
    sr.protocol_name = req->protocol_name;
    for (auto& a : req->assignments) sr.assignments.emplace_back(a.member_id, a.assignment);
    broker::Pending<coord::SyncResult> done;
    gc->sync_group(std::move(sr), done.setter());
    r = co_await done.wait();
  }
  SyncGroupResponse resp;
  resp.error_code = r.error;
  resp.protocol_type = r.protocol_type;
  resp.protocol_name = r.protocol_name;
  resp.assignment = r.assignment;
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kSyncGroup, handle_sync_group, 0, 5);

}  // namespace shale::kafka
