// Produce (key 0), v3-11. Splits each partition's `records` into batches (zero copy), applies
// Kafka's produce-request rules, starts every partition's append in request order (so pipelined
// requests on one connection land in order), then awaits them all.
//
// Rules (what Apache Kafka does): v3+ needs exactly one v2 batch per partition (INVALID_RECORD
// otherwise); zstd before v7 is UNSUPPORTED_COMPRESSION_TYPE; acks must be -1, 0 or 1
// (INVALID_REQUIRED_ACKS). Batch validation and its error codes: kafka/records/record_batch.h.
// acks=1 and acks=-1 both answer once the batch is durable in the WAL (the shared storage is
// the replication). acks=0 sends no response; the appends still run.
// Idempotent batches (producerId >= 0) are accepted without sequence checks for now (duplicate
// detection arrives with the idempotent-producer issue). Transactional batches are refused with
// INVALID_TXN_STATE (no transaction coordinator yet). timeout_ms is not enforced: appends
// complete at WAL speed or fail.
#include "kafka/protocol/gen/produce.h"

#include "broker/broker.h"
#include "kafka/protocol/errors.h"
#include "kafka/records/record_batch.h"
#include "kafka/server/handler.h"

namespace shale::kafka {
namespace {

namespace kerr = broker::kerr;
static_assert(kerr::kInvalidRecord == to_wire(ErrorCode::kInvalidRecord));
static_assert(kerr::kUnsupportedCompressionType == to_wire(ErrorCode::kUnsupportedCompressionType));
static_assert(kerr::kInvalidRequiredAcks == to_wire(ErrorCode::kInvalidRequiredAcks));
static_assert(kerr::kUnknownTopicOrPartition == to_wire(ErrorCode::kUnknownTopicOrPartition));
static_assert(kerr::kNotLeaderOrFollower == to_wire(ErrorCode::kNotLeaderOrFollower));
static_assert(kerr::kCorruptMessage == to_wire(ErrorCode::kCorruptMessage));
static_assert(kerr::kInvalidTxnState == to_wire(ErrorCode::kInvalidTxnState));
static_assert(kerr::kMessageTooLarge == to_wire(ErrorCode::kMessageTooLarge));

using PartitionResponse = ProduceResponse::PartitionProduceResponse;

void set_error(PartitionResponse& pr, int16_t version, int16_t code, std::string msg) {
  pr.error_code = code;
  pr.base_offset = -1;
  pr.log_append_time_ms = -1;
  pr.log_start_offset = -1;
  if (version >= 8) pr.error_message = std::move(msg);
}

// Kafka's ProduceRequest.validateRecords, plus our stricter framing check.
broker::ApiError check_records(const std::optional<Buf>& records, int16_t version,
                               std::vector<Buf>* out) {
  if (!records || records->empty()) {
    return {kerr::kInvalidRecord,
            fmt::format("Produce requests with version {} must have at least one record batch "
                        "per partition",
                        version)};
  }
  auto split = records::split_batches(*records);
  if (!split.error.ok()) return {kerr::kCorruptMessage, split.error.message};
  if (split.batches.size() > 1) {
    return {kerr::kInvalidRecord,
            fmt::format("Produce requests with version {} are only allowed to contain exactly "
                        "one record batch per partition",
                        version)};
  }
  const Buf& b = split.batches[0];
  if (b.size() > records::kMagicOffset && b[records::kMagicOffset] == records::kMagicV2 &&
      b.size() >= records::kHeaderSize && version < 7) {
    int16_t attrs = static_cast<int16_t>((b[records::kAttributesOffset] << 8) |
                                         b[records::kAttributesOffset + 1]);
    if ((attrs & records::kCompressionMask) == static_cast<int>(records::Compression::kZstd)) {
      return {kerr::kUnsupportedCompressionType,
              fmt::format("Produce requests with version {} are not allowed to use ZStandard "
                          "compression",
                          version)};
    }
  }
  *out = std::move(split.batches);
  return {};
}

asio::awaitable<Result<ResponseBody>> handle_produce(RequestContext& ctx) {
  auto req = decode_request<ProduceRequest>(ctx);
  if (!req.ok()) co_return req.error();
  const int16_t version = ctx.header.request_api_version;
  const bool acks_ok = req->acks == 0 || req->acks == 1 || req->acks == -1;
  auto& topics = ctx.broker.topics();

  ProduceResponse resp;
  struct Waiting {
    PartitionResponse* pr;
    broker::Pending<broker::ProduceResult> pending;
  };
  std::vector<Waiting> waiting;
  resp.responses.reserve(req->topic_data.size());
  // Phase 1: validate and start every append, without suspending, in request order.
  for (auto& td : req->topic_data) {
    auto& tr = resp.responses.emplace_back();
    tr.name = td.name;
    tr.partition_responses.reserve(td.partition_data.size());
    for (auto& pd : td.partition_data) {
      auto& pr = tr.partition_responses.emplace_back();
      pr.index = pd.index;
      if (!acks_ok) {
        set_error(pr, version, kerr::kInvalidRequiredAcks,
                  fmt::format("invalid acks {}: must be -1, 0 or 1", req->acks));
        continue;
      }
      auto part = topics.partition(td.name, pd.index);
      if (!part) {
        bool exists = topics.find(td.name).has_value();
        set_error(pr, version,
                  exists && pd.index >= 0 && pd.index < topics.find(td.name)->partitions
                      ? kerr::kNotLeaderOrFollower
                      : kerr::kUnknownTopicOrPartition,
                  fmt::format("{}-{} is not served here", td.name, pd.index));
        continue;
      }
      std::vector<Buf> batches;
      if (auto e = check_records(pd.records, version, &batches); !e.ok()) {
        set_error(pr, version, e.code, std::move(e.message));
        continue;
      }
      waiting.push_back({&pr, part->append(std::move(batches))});
    }
  }
  if (req->acks == 0) {
    ResponseBody none;
    none.no_response = true;
    co_return none;
  }
  // Phase 2: await durability.
  for (auto& w : waiting) {
    broker::ProduceResult r = co_await w.pending.wait();
    if (!r.error.ok()) {
      set_error(*w.pr, version, r.error.code, std::move(r.error.message));
      continue;
    }
    if (!topics.serving()) {  // cluster: the lease went into doubt while the append was in flight
      set_error(*w.pr, version, kerr::kNotLeaderOrFollower, "this broker's lease is in doubt");
      continue;
    }
    w.pr->base_offset = r.base_offset;
    w.pr->log_append_time_ms = r.log_append_time_ms;
    w.pr->log_start_offset = r.log_start_offset;
  }
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kProduce, handle_produce, 3, 11);

}  // namespace shale::kafka
