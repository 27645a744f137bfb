// DeleteRecords (key 21), v0-2: moves each partition's log start offset (StreamStore::trim).
// offset -1 means "up to the high watermark"; beyond it is OFFSET_OUT_OF_RANGE; below the
// current start is a no-op that reports the current low watermark (as Kafka does). The trims
// block on metadata, so they run on the broker's control pool.
#include "kafka/protocol/gen/delete_records.h"

#include "broker/async.h"
#include "broker/broker.h"
#include "kafka/server/handler.h"

namespace shale::kafka {
namespace {

namespace kerr = broker::kerr;

asio::awaitable<Result<ResponseBody>> handle_delete_records(RequestContext& ctx) {
  auto req = decode_request<DeleteRecordsRequest>(ctx);
  if (!req.ok()) co_return req.error();
  auto& b = ctx.broker;
  DeleteRecordsResponse resp;
  for (const auto& t : req->topics) {
    auto& tr = resp.topics.emplace_back();
    tr.name = t.name;
    for (const auto& p : t.partitions) {
      auto& pr = tr.partitions.emplace_back();
      pr.partition_index = p.partition_index;
      pr.low_watermark = -1;
      auto part = b.topics().partition(t.name, p.partition_index);
      if (!part) {
        pr.error_code = kerr::kUnknownTopicOrPartition;
        continue;
      }
      // The awaitable is a named local: GCC 12 destroys non-trivial temporaries of a co_await
      // full-expression twice (here: the lambda's shared_ptr), so none may appear in one.
      auto trim = broker::run_blocking(b.control_pool(),
                                       [part, off = p.offset] { return part->trim_blocking(off); });
      broker::OffsetResult r = co_await std::move(trim);
      pr.error_code = r.error.code;
      if (r.error.ok()) pr.low_watermark = r.offset;
    }
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kDeleteRecords, handle_delete_records, 0, 2);

}  // namespace shale::kafka
