// ListGroups (key 16), v0-5: state filter (v4+, case-insensitive) and type filter (v5+; every
// group here is "classic").
#include "kafka/protocol/gen/list_groups.h"

#include <algorithm>
#include <cctype>

#include "broker/broker.h"
#include "coord/broker_coordinator.h"
#include "kafka/server/handler.h"

namespace shale::kafka {
namespace {

asio::awaitable<Result<ResponseBody>> handle_list_groups(RequestContext& ctx) {
  auto req = decode_request<ListGroupsRequest>(ctx);
  if (!req.ok()) co_return req.error();
  auto gc = coord::coordinator_of(ctx.broker);
  ListGroupsResponse resp;
  if (!gc || gc->loading()) {
    resp.error_code =
        gc ? coord::err::kCoordinatorLoadInProgress : coord::err::kCoordinatorNotAvailable;
    co_return encode_response(ctx, resp);
  }
  bool classic_wanted = req->types_filter.empty();
  for (auto t : req->types_filter) {
    std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
    if (t == "classic") classic_wanted = true;
  }
  if (!classic_wanted) co_return encode_response(ctx, resp);
  for (auto& g : gc->list_groups(req->states_filter)) {
    auto& lg = resp.groups.emplace_back();
    lg.group_id = g.group_id;
    lg.protocol_type = g.protocol_type;
    lg.group_state = g.state;
    lg.group_type = "classic";
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kListGroups, handle_list_groups, 0, 5);

}  // namespace shale::kafka
