// Not a request handler: the per-partition gauges of /metrics (see kafka/server/topic_metrics.h),
// rendered at scrape time from the broker's live partitions. It lives in the handlers library
// because that library links the broker; it registers itself like the handlers do.
//
// Cost per scrape: one TopicManager listing plus one StreamStore::info() (a map lookup under the
// store's mutex) per partition. Topic names need no label escaping: Kafka restricts them to
// [a-zA-Z0-9._-] (topic creation enforces it).
#include <fmt/format.h>

#include "broker/broker.h"
#include "kafka/server/topic_metrics.h"

namespace shale::kafka {
namespace {

std::string render_partitions(broker::Broker& b) {
  struct Row {
    std::string labels;
    int64_t hw, start;
    uint64_t size;
    broker::ProducerStateCounters producers;  // idempotent-producer outcomes since open
  };
  std::vector<Row> rows;
  for (const auto& t : b.topics().list()) {
    for (const auto& p : b.topics().partitions(t.name)) {
      if (!p) continue;
      auto info = b.store().info(p->stream_id());
      rows.push_back({fmt::format("{{topic=\"{}\",partition=\"{}\"}}", t.name, p->index()),
                      p->high_watermark(), p->log_start_offset(), info.ok() ? info->size_bytes : 0,
                      p->producer_counters()});
    }
  }
  std::string out;
  auto family = [&](const char* name, const char* help, auto value, const char* type = "gauge") {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    for (const auto& r : rows) out += fmt::format("{}{} {}\n", name, r.labels, value(r));
  };
  family("kafka_partition_high_watermark", "High watermark (next offset) of each partition",
         [](const Row& r) { return r.hw; });
  family("kafka_partition_log_start_offset", "Log start offset of each partition",
         [](const Row& r) { return r.start; });
  family("kafka_partition_size_bytes",
         "Stored bytes between log start and end of each partition (WAL and objects)",
         [](const Row& r) { return r.size; });
  // Idempotent producers (broker/producer_state.h). Counted since the partition was opened on
  // this broker (a restart or a move starts them again, as Prometheus counters may).
  family(
      "kafka_partition_producer_duplicates_total",
      "Idempotent batches answered as duplicates of an acknowledged batch",
      [](const Row& r) { return r.producers.duplicates; }, "counter");
  family(
      "kafka_partition_producer_out_of_order_total",
      "Idempotent batches refused with OUT_OF_ORDER_SEQUENCE_NUMBER",
      [](const Row& r) { return r.producers.out_of_order; }, "counter");
  family(
      "kafka_partition_producer_fenced_epochs_total",
      "Idempotent batches refused with INVALID_PRODUCER_EPOCH",
      [](const Row& r) { return r.producers.fenced_epochs; }, "counter");
  family(
      "kafka_partition_producer_expired_total",
      "Producer ids dropped after producer.id.expiration.ms without writes",
      [](const Row& r) { return r.producers.expired; }, "counter");
  return out;
}

[[maybe_unused]] const bool registered = register_partition_renderer(&render_partitions);

}  // namespace
}  // namespace shale::kafka
