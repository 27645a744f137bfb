// OffsetFetch (key 9), v0-9. v0-7 fetch one group (topics null from v2 = every committed
// offset); v8+ fetch many groups at once. No committed offset reads as offset -1, metadata "".
#include "kafka/protocol/gen/offset_fetch.h"

#include "broker/broker.h"
#include "coord/broker_coordinator.h"
#include "kafka/server/handler.h"

namespace shale::kafka {
namespace {

// Groups (name, requested partitions or nullopt) -> per-topic rows, preserving request order.
template <typename TopicT, typename ReqTopics>
std::vector<TopicT> fetch_rows(coord::GroupCoordinator& gc, const std::string& group,
                               const std::optional<std::vector<ReqTopics>>& topics,
                               int16_t& error) {
  std::optional<std::vector<coord::TopicPartition>> want;
  if (topics) {
    want.emplace();
    for (const auto& t : *topics) {
      for (int32_t p : t.partition_indexes) want->push_back({t.name, p});
    }
  }
  coord::FetchResult fr = gc.fetch_offsets(group, want);
  error = fr.error;
  std::vector<TopicT> out;
  for (const auto& f : fr.offsets) {
    if (out.empty() || out.back().name != f.tp.topic) {
      out.emplace_back();
      out.back().name = f.tp.topic;
    }
    auto& p = out.back().partitions.emplace_back();
    p.partition_index = f.tp.partition;
    p.committed_offset = f.offset;
    p.committed_leader_epoch = f.leader_epoch;
    p.metadata = f.metadata;
    p.error_code = f.error;
  }
  return out;
}

asio::awaitable<Result<ResponseBody>> handle_offset_fetch(RequestContext& ctx) {
  auto req = decode_request<OffsetFetchRequest>(ctx);
  if (!req.ok()) co_return req.error();
  const int16_t v = ctx.header.request_api_version;
  auto gc = coord::coordinator_of(ctx.broker);
  OffsetFetchResponse resp;
  if (v >= 8) {
    for (const auto& g : req->groups) {
      auto& rg = resp.groups.emplace_back();
      rg.group_id = g.group_id;
      if (!gc) {
        rg.error_code = coord::err::kCoordinatorNotAvailable;
        continue;
      }
      rg.topics = fetch_rows<OffsetFetchResponse::OffsetFetchResponseTopics>(
          *gc, g.group_id, g.topics, rg.error_code);
    }
  } else if (!gc) {
    resp.error_code = coord::err::kCoordinatorNotAvailable;
  } else {
    resp.topics = fetch_rows<OffsetFetchResponse::OffsetFetchResponseTopic>(
        *gc, req->group_id, req->topics, resp.error_code);
    if (v < 2 && resp.error_code != coord::err::kNone) {
      co_return Error{Errc::kUnavailable, "OffsetFetch v0-1 cannot carry a group error"};
    }
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kOffsetFetch, handle_offset_fetch, 0, 9);

}  // namespace shale::kafka
