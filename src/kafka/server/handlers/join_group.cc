// JoinGroup (key 11), v0-9. The request may be parked until the rebalance completes; the
// coordinator completes a broker::Pending that resumes this coroutine on its event loop.
// v4+ requires a known member id (KIP-394: first join answers MEMBER_ID_REQUIRED); v5+ carries
// group.instance.id (KIP-345); v9 lets a static leader skip the assignment (KIP-814).
#include "kafka/protocol/gen/join_group.h"

#include "broker/async.h"
#include "broker/broker.h"
#include "coord/broker_coordinator.h"
#include "kafka/server/handler.h"

namespace shale::kafka {
namespace {

asio::awaitable<Result<ResponseBody>> handle_join_group(RequestContext& ctx) {
  auto req = decode_request<JoinGroupRequest>(ctx);
  if (!req.ok()) co_return req.error();
  const int16_t v = ctx.header.request_api_version;
  JoinGroupResponse resp;
  resp.member_id = req->member_id;
  auto gc = coord::coordinator_of(ctx.broker);
  coord::JoinResult r;
  if (!gc) {
    r.error = coord::err::kCoordinatorNotAvailable;
    r.member_id = req->member_id;
  } else {
    coord::JoinRequest jr;
    jr.group_id = req->group_id;
    jr.member_id = req->member_id;
    jr.instance_id = req->group_instance_id;
    jr.client_id = ctx.header.client_id.value_or("");
    jr.client_host = coord::client_host_of(ctx.conn.peer);
    jr.session_timeout_ms = req->session_timeout_ms;
    jr.rebalance_timeout_ms = v >= 1 ? req->rebalance_timeout_ms : req->session_timeout_ms;
    jr.protocol_type = req->protocol_type;
    for (auto& p : req->protocols) jr.protocols.push_back({p.name, p.metadata});
    jr.require_known_member_id = v >= 4;
    jr.supports_skip_assignment = v >= 9;
    broker::Pending<coord::JoinResult> done;
    gc->join_group(std::move(jr), done.setter());
    r = co_await done.wait();
  }
  resp.error_code = r.error;
  resp.generation_id = r.generation;
  resp.protocol_type = r.protocol_type;
  resp.protocol_name = r.protocol_name;
  if (v < 7 && !resp.protocol_name) resp.protocol_name = "";
  resp.leader = r.leader;
  resp.member_id = r.member_id;
  resp.skip_assignment = r.skip_assignment;
  for (auto& m : r.members) {
    auto& rm = resp.members.emplace_back();
    rm.member_id = m.member_id;
    rm.group_instance_id = m.instance_id;
    rm.metadata = m.metadata;
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kJoinGroup, handle_join_group, 0, 9);

}  // namespace shale::kafka
