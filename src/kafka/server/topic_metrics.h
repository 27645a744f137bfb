// Per-topic and per-partition Kafka metrics on the shared MetricsRegistry (Prometheus text):
//
//   kafka_topic_bytes_in_total{topic}            record-batch bytes appended by Produce
//   kafka_topic_messages_in_total{topic}         records appended by Produce
//   kafka_topic_bytes_out_total{topic}           record-batch bytes returned by Fetch
//   kafka_topic_requests_total{topic,api}        Produce/Fetch requests naming the topic
//   kafka_topic_errors_total{topic,api,error}    partitions answered with a Kafka error code
//   kafka_partition_high_watermark{topic,partition}, kafka_partition_log_start_offset{...},
//   kafka_partition_size_bytes{...}              gauges read at scrape time (a collector)
//
// The partition gauges are rendered by a collector that walks the broker's partitions when
// /metrics is scraped: this library does not link the broker, so the handlers library (which
// does) registers the renderer at static-initialisation time (register_partition_renderer), and
// the Server installs it as a collector for its lifetime.
//
// Thread-safety: every method may be called from any thread. topic() takes a mutex for the
// lookup (one per topic per request); the counters themselves are relaxed atomics.
// Ownership: owned by the Server; borrows the registry, which must outlive it. Series of deleted
// topics stay until the process exits (as Kafka's JMX beans do until the topic is removed).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "kafka/server/metrics.h"

namespace shale::broker {
class Broker;
}  // namespace shale::broker

namespace shale::kafka {

class TopicMetrics {
 public:
  struct Topic {
    Counter* bytes_in = nullptr;
    Counter* messages_in = nullptr;
    Counter* bytes_out = nullptr;
    Counter* produce_requests = nullptr;
    Counter* fetch_requests = nullptr;
  };

  explicit TopicMetrics(MetricsRegistry& registry) : registry_(registry) {}
  // The topic's counters, registered on first use; the reference stays valid.
  const Topic& topic(const std::string& name);
  // Counts one partition answered with Kafka error `code` (non-zero) for `api` ("Produce"...).
  void error(const std::string& topic, std::string_view api, int16_t code);

 private:
  MetricsRegistry& registry_;
  std::mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<Topic>> topics_;  // guarded by mu_
};

// Renders the per-partition gauges of `b` in Prometheus text (HELP/TYPE lines included).
using PartitionRenderer = std::string (*)(broker::Broker& b);
// Called once by the handlers library during static initialisation; returns true.
bool register_partition_renderer(PartitionRenderer fn);
// nullptr when no renderer is linked in (e.g. a unit test of the bare server).
PartitionRenderer partition_renderer();

}  // namespace shale::kafka
