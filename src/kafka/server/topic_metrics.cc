#include "kafka/server/topic_metrics.h"

#include <atomic>

namespace shale::kafka {

const TopicMetrics::Topic& TopicMetrics::topic(const std::string& name) {
  std::lock_guard lk(mu_);
  auto& slot = topics_[name];
  if (!slot) {
    auto t = std::make_unique<Topic>();
    const Labels l = {{"topic", name}};
    t->bytes_in = &registry_.counter("kafka_topic_bytes_in_total",
                                     "Record-batch bytes appended by Produce, by topic", l);
    t->messages_in = &registry_.counter("kafka_topic_messages_in_total",
                                        "Records appended by Produce, by topic", l);
    t->bytes_out = &registry_.counter("kafka_topic_bytes_out_total",
                                      "Record-batch bytes returned by Fetch, by topic", l);
    const char* help = "Produce and Fetch requests naming the topic, by topic and API";
    t->produce_requests = &registry_.counter("kafka_topic_requests_total", help,
                                             {{"topic", name}, {"api", "Produce"}});
    t->fetch_requests =
        &registry_.counter("kafka_topic_requests_total", help, {{"topic", name}, {"api", "Fetch"}});
    slot = std::move(t);
  }
  return *slot;
}

void TopicMetrics::error(const std::string& topic, std::string_view api, int16_t code) {
  // Errors are rare: the registry lookup (a mutex and a scan of the family) is fine here.
  registry_
      .counter("kafka_topic_errors_total",
               "Partitions answered with a Kafka error code, by topic, API and error code",
               {{"topic", topic}, {"api", std::string(api)}, {"error", std::to_string(code)}})
      .inc();
}

namespace {
std::atomic<PartitionRenderer> g_renderer{nullptr};
}  // namespace

bool register_partition_renderer(PartitionRenderer fn) {
  g_renderer.store(fn);
  return true;
}

PartitionRenderer partition_renderer() {
  return g_renderer.load();
}

}  // namespace shale::kafka
