// DeleteGroups (key 42), v0-2: GROUP_ID_NOT_FOUND for unknown groups, NON_EMPTY_GROUP while
// members remain; otherwise the group and its offsets are removed (tombstoned in the log).
#include "kafka/protocol/gen/delete_groups.h"

#include "broker/broker.h"
#include "coord/broker_coordinator.h"
#include "kafka/server/handler.h"

namespace shale::kafka {
namespace {

asio::awaitable<Result<ResponseBody>> handle_delete_groups(RequestContext& ctx) {
  auto req = decode_request<DeleteGroupsRequest>(ctx);
  if (!req.ok()) co_return req.error();
  auto gc = coord::coordinator_of(ctx.broker);
  DeleteGroupsResponse resp;
  for (const auto& id : req->groups_names) {
    auto& r = resp.results.emplace_back();
    r.group_id = id;
    r.error_code = gc ? gc->delete_group(id) : coord::err::kCoordinatorNotAvailable;
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kDeleteGroups, handle_delete_groups, 0, 2);

}  // namespace shale::kafka
