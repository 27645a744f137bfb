// DescribeGroups (key 15), v0-5. Unknown groups are reported in state "Dead" without error
// (Kafka before v6). Member metadata and assignments are only filled in while Stable.
#include "kafka/protocol/gen/describe_groups.h"

#include "broker/broker.h"
#include "coord/broker_coordinator.h"
#include "kafka/server/handler.h"

namespace shale::kafka {
namespace {

asio::awaitable<Result<ResponseBody>> handle_describe_groups(RequestContext& ctx) {
  auto req = decode_request<DescribeGroupsRequest>(ctx);
  if (!req.ok()) co_return req.error();
  auto gc = coord::coordinator_of(ctx.broker);
  DescribeGroupsResponse resp;
  for (const auto& id : req->groups) {
    auto& g = resp.groups.emplace_back();
    g.group_id = id;
    if (!gc) {
      g.error_code = coord::err::kCoordinatorNotAvailable;
      continue;
    }
    coord::GroupDescription d = gc->describe_group(id);
    g.error_code = d.error;
    g.group_state = d.state;
    g.protocol_type = d.protocol_type;
    g.protocol_data = d.protocol_data;
    for (auto& m : d.members) {
      auto& rm = g.members.emplace_back();
      rm.member_id = m.member_id;
      rm.group_instance_id = m.instance_id;
      rm.client_id = m.client_id;
      rm.client_host = m.client_host;
      rm.member_metadata = m.metadata;
      rm.member_assignment = m.assignment;
    }
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kDescribeGroups, handle_describe_groups, 0, 5);

}  // namespace shale::kafka
