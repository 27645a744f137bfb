// Produce (key 0), v3-11. Splits each partition's `records` into batches (zero copy), applies
// Kafka's produce-request rules, starts every partition's append in request order (so pipelined
// requests on one connection land in order), then awaits them all.
//
// Rules (what Apache Kafka does): v3+ needs exactly one v2 batch per partition (INVALID_RECORD
// otherwise); zstd before v7 is UNSUPPORTED_COMPRESSION_TYPE; acks must be -1, 0 or 1
// (INVALID_REQUIRED_ACKS). Batch validation and its error codes: kafka/records/record_batch.h.
// acks=1 and acks=-1 both answer once the batch is durable in the WAL (the shared storage is
// the replication). acks=0 sends no response; the appends still run.
// Idempotent batches (producerId >= 0) go through the partition's producer state
// (broker/producer_state.h): a duplicate of one of the producer's last five batches answers NONE
// with the original base offset; a sequence gap OUT_OF_ORDER_SEQUENCE_NUMBER; a stale epoch
// INVALID_PRODUCER_EPOCH. Transactional batches are refused with INVALID_TXN_STATE (no
// transaction coordinator yet).
// timeout_ms (acks=-1 only, as in Kafka): a partition whose append is not durable within
// timeout_ms answers REQUEST_TIMED_OUT (7). The append is not cancelled and may still land, as
// with Kafka (an idempotent producer's retry is then recognised as a duplicate). timeout_ms <= 0
// is not enforced (Kafka's single-replica local write never times out either).
#include "kafka/protocol/gen/produce.h"

#include "base/endian.h"
#include "base/log.h"
#include "broker/broker.h"
#include "kafka/protocol/errors.h"
#include "kafka/records/record_batch.h"
#include "kafka/server/handler.h"
#include "kafka/server/handlers/await_all.h"
#include "kafka/server/topic_metrics.h"

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
static_assert(kerr::kRequestTimedOut == to_wire(ErrorCode::kRequestTimedOut));
static_assert(kerr::kOutOfOrderSequenceNumber == to_wire(ErrorCode::kOutOfOrderSequenceNumber));
static_assert(kerr::kInvalidProducerEpoch == to_wire(ErrorCode::kInvalidProducerEpoch));

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

// Per-topic metrics (kafka/server/topic_metrics.h) of one appended partition.
struct Accounted {
  const TopicMetrics::Topic* topic = nullptr;  // null: metrics off
  uint64_t bytes = 0;
  int64_t records = 0;
  void count() const {
    if (!topic) return;
    topic->bytes_in->inc(bytes);
    topic->messages_in->inc(static_cast<uint64_t>(records));
  }
};

Accounted account(RequestContext& ctx, const std::string& topic, const std::vector<Buf>& batches,
                  bool first_of_topic) {
  Accounted a;
  if (!ctx.topic_metrics) return a;
  a.topic = &ctx.topic_metrics->topic(topic);
  if (first_of_topic) a.topic->produce_requests->inc();
  for (const Buf& b : batches) {
    a.bytes += b.size();
    if (b.size() >= records::kHeaderSize)
      a.records += load_be<int32_t>(b.data() + records::kRecordCountOffset);
  }
  return a;
}

// Counts the partitions answered with an error, by topic ("(unknown)" for topics that do not
// exist: client-chosen names must not create series).
void count_errors(RequestContext& ctx, const ProduceResponse& resp) {
  if (!ctx.topic_metrics) return;
  for (const auto& tr : resp.responses) {
    for (const auto& pr : tr.partition_responses) {
      if (pr.error_code == kerr::kNone) continue;
      const bool known = ctx.broker.topics().find(tr.name).has_value();
      ctx.topic_metrics->error(known ? tr.name : "(unknown)", "Produce", pr.error_code);
    }
  }
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
    Accounted metrics;
  };
  std::vector<Waiting> waiting;
  resp.responses.reserve(req->topic_data.size());
  // Phase 1: validate and start every append, without suspending, in request order.
  for (auto& td : req->topic_data) {
    auto& tr = resp.responses.emplace_back();
    tr.name = td.name;
    tr.partition_responses.reserve(td.partition_data.size());
    bool topic_counted = false;
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
      Accounted a = account(ctx, td.name, batches, !topic_counted);
      topic_counted = true;
      waiting.push_back({&pr, part->append(std::move(batches)), a});
    }
  }
  if (req->acks == 0) {
    for (const auto& w : waiting) w.metrics.count();  // nobody learns the outcome: count now
    count_errors(ctx, resp);
    ResponseBody none;
    none.no_response = true;
    co_return none;
  }
  // Phase 2: await durability (at most timeout_ms with acks=all).
  std::vector<broker::Pending<broker::ProduceResult>> pendings;
  pendings.reserve(waiting.size());
  for (auto& w : waiting) pendings.push_back(w.pending);
  std::optional<std::chrono::milliseconds> timeout;
  if (req->acks == -1 && req->timeout_ms > 0) timeout = std::chrono::milliseconds(req->timeout_ms);
  auto results = co_await await_all(std::move(pendings), timeout);
  for (size_t i = 0; i < waiting.size(); ++i) {
    auto& w = waiting[i];
    if (!results[i]) {
      SHALE_LOG_WARN("kafka", "produce: partition {} not durable within timeout_ms={}", w.pr->index,
                     req->timeout_ms);
      set_error(*w.pr, version, kerr::kRequestTimedOut,
                fmt::format("not durable within timeout_ms={}; the append may still land",
                            req->timeout_ms));
      continue;
    }
    broker::ProduceResult r = std::move(*results[i]);
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
    w.metrics.count();
  }
  count_errors(ctx, resp);
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kProduce, handle_produce, 3, 11);

}  // namespace shale::kafka
