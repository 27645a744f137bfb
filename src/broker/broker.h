// Broker: the per-process broker core the Kafka handlers talk to. It owns the TopicManager
// (topics and this broker's partitions), the fetch-session cache and the control pool on which
// blocking metadata/control work runs.
//
//   Broker broker(cfg, meta, store, clock);
//   broker.start();                  // loads topics, opens partition streams (blocking)
//   co_await broker.topics().create_topic(spec, false);
//   auto p = broker.topics().partition("t", 0);
//   ...
//   broker.stop();                   // closes streams (blocking)
//
// Ownership: borrows MetaStore, StreamStore and Clock (they must outlive the Broker; the
// StreamStore must be started before start()). Owns the control thread pool.
// Threading: thread-safe; handlers on any event loop may call it concurrently. Nothing reachable
// from an event loop blocks except the *_blocking methods, which handlers must not call.
#pragma once

#include <asio/thread_pool.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "base/clock.h"
#include "base/ids.h"
#include "base/result.h"
#include "broker/cluster_view.h"
#include "broker/fetch_session.h"
#include "broker/partition.h"
#include "broker/producer_ids.h"
#include "broker/topic_manager.h"
#include "meta/meta_store.h"
#include "stream/stream_store.h"

namespace shale::broker {

struct BrokerConfig {
  NodeId node_id{0};
  TopicManagerOptions topics;
  FetchSessionCache::Options fetch_sessions;
  size_t control_threads = 2;
};

class Broker {
 public:
  Broker(BrokerConfig cfg, meta::MetaStore& meta, stream::StreamStore& store, Clock& clock);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  Status start();
  // Closes partition streams and joins the control pool. Idempotent.
  void stop();

  const BrokerConfig& config() const { return cfg_; }
  NodeId node_id() const { return cfg_.node_id; }
  TopicManager& topics() { return *topics_; }
  const TopicManager& topics() const { return *topics_; }
  FetchSessionCache& fetch_sessions() { return sessions_; }
  asio::thread_pool& control_pool() { return control_; }
  Clock& clock() { return clock_; }
  stream::StreamStore& store() { return store_; }
  // Idempotent-producer ids (InitProducerId), unique across brokers sharing the metadata store.
  ProducerIdAllocator& producer_ids() { return producer_ids_; }

  // The cluster this broker belongs to; nullptr on a single (embedded) broker, which then leads
  // every partition. Set once by the wiring before the Kafka server starts; not owned.
  void set_cluster_view(ClusterView* view) { cluster_ = view; }
  ClusterView* cluster() const { return cluster_; }

  // Extension slot for subsystems layered above the broker (src/coord attaches its group
  // coordinator here on first use, see coord/broker_coordinator.h). Type-erased so the broker
  // does not depend on them. Returns the object attached under `key`, creating it with make()
  // the first time (make() runs under a lock and must not block). Thread-safe. Attachments are
  // released at the start of stop(), before partitions close.
  std::shared_ptr<void> attachment(const std::string& key,
                                   const std::function<std::shared_ptr<void>()>& make);

 private:
  const BrokerConfig cfg_;
  stream::StreamStore& store_;
  Clock& clock_;
  asio::thread_pool control_;
  FetchSessionCache sessions_;
  ProducerIdAllocator producer_ids_;
  std::unique_ptr<TopicManager> topics_;
  ClusterView* cluster_ = nullptr;
  bool started_ = false;
  bool stopped_ = false;
  std::mutex attachments_mu_;
  std::map<std::string, std::shared_ptr<void>> attachments_;  // guarded by attachments_mu_
  bool attachments_closed_ = false;                           // guarded by attachments_mu_
};

}  // namespace shale::broker
