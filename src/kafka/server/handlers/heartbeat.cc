// Heartbeat (key 12), v0-4.
#include "kafka/protocol/gen/heartbeat.h"

#include "broker/broker.h"
#include "coord/broker_coordinator.h"
#include "kafka/server/handler.h"

namespace shale::kafka {
namespace {

asio::awaitable<Result<ResponseBody>> handle_heartbeat(RequestContext& ctx) {
  auto req = decode_request<HeartbeatRequest>(ctx);
  if (!req.ok()) co_return req.error();
  auto gc = coord::coordinator_of(ctx.broker);
  HeartbeatResponse resp;
  resp.error_code =
      gc ? gc->heartbeat(req->group_id, req->member_id, req->group_instance_id, req->generation_id)
         : coord::err::kCoordinatorNotAvailable;
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kHeartbeat, handle_heartbeat, 0, 4);

}  // namespace shale::kafka
