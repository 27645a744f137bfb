// LeaveGroup (key 13), v0-5. v0-2 name one member (its error is the top-level error); v3+
// batch members, identified by member id and/or group.instance.id (KIP-345).
#include "kafka/protocol/gen/leave_group.h"

#include "broker/broker.h"
#include "coord/broker_coordinator.h"
#include "kafka/server/handler.h"

namespace shale::kafka {
namespace {

asio::awaitable<Result<ResponseBody>> handle_leave_group(RequestContext& ctx) {
  auto req = decode_request<LeaveGroupRequest>(ctx);
  if (!req.ok()) co_return req.error();
  const int16_t v = ctx.header.request_api_version;
  auto gc = coord::coordinator_of(ctx.broker);
  std::vector<coord::LeaveMember> members;
  if (v < 3) {
    members.push_back({req->member_id, std::nullopt});
  } else {
    for (const auto& m : req->members) members.push_back({m.member_id, m.group_instance_id});
  }
  LeaveGroupResponse resp;
  if (!gc) {
    resp.error_code = coord::err::kCoordinatorNotAvailable;
    co_return encode_response(ctx, resp);
  }
  coord::LeaveResult r = gc->leave_group(req->group_id, members);
  resp.error_code = r.error;
  if (v < 3) {
    if (!r.member_errors.empty()) resp.error_code = r.member_errors[0];
  } else {
    for (size_t i = 0; i < members.size(); ++i) {
      auto& mr = resp.members.emplace_back();
      mr.member_id = members[i].member_id;
      mr.group_instance_id = members[i].instance_id;
      mr.error_code = r.member_errors[i];
    }
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kLeaveGroup, handle_leave_group, 0, 5);

}  // namespace shale::kafka
