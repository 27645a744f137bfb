// TopicManager: the topics this cluster has and the partitions this broker serves.
//
// A topic lives in the metadata store under `shale/topics/<name>` (JSON: topic id, one stream
// id per partition, explicit config overrides; see README.md). Each partition is one stream of
// the StreamStore, opened here at (stored epoch + 1); that epoch is the leader epoch clients
// see. Every failure maps to the Kafka error code Apache Kafka returns (see topic_manager.cc).
//
// API shape: reads (find/list/partition/describe_configs) are in-memory and non-blocking, safe
// on an event loop. Mutations block on the metadata store and the stream store: call the
// awaitable wrappers from handlers (they run the *_blocking version on the broker's control
// pool and resume on the caller's executor), or the *_blocking versions from a control thread.
//
// Ownership: owned by Broker; owns the Partition objects (shared_ptr). Borrows MetaStore,
// StreamStore, Clock and the control pool.
// Threading: all methods are thread-safe. Mutations are serialised by mutate_mu_; the in-memory
// view is guarded by a shared_mutex held only for map lookups.
// Durability: a mutation that returns without error is durable in the metadata store. One that
// returns an error may still have applied (the store's answer was lost): it is read back, and
// its new streams are removed only once it is known not to have landed (README "Lost answers").
// Ownership: on a single broker (open_all, the default) this broker opens every partition. In a
// cluster (open_all = false) partitions are opened only by acquire() and closed by release(),
// driven by the cluster agent (src/cluster) from the controller's assignments; sync_topics()
// learns topics created, changed or deleted by other brokers. A partition not open here looks
// absent to partition(), so produce answers NOT_LEADER_OR_FOLLOWER. While serving_guard returns
// false (this broker's lease is in doubt) partition() returns nullptr for every partition.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/ids.h"
#include "base/result.h"
#include "broker/kafka_error.h"
#include "broker/partition.h"
#include "broker/topic_config.h"
#include "broker/uuid.h"
#include "meta/meta_store.h"
#include "stream/stream_store.h"

namespace shale::broker {

struct TopicManagerOptions {
  NodeId node_id{0};
  int32_t default_partitions = 1;            // num.partitions, used for -1
  int16_t default_replication_factor = 1;    // reported for -1
  int32_t max_partitions_per_topic = 10000;  // sanity bound: INVALID_PARTITIONS above it
  TopicDefaults defaults;                    // broker-level topic config defaults
  std::string key_prefix = "shale/topics/";
  int64_t producer_id_expiration_ms = 86'400'000;  // producer.id.expiration.ms (broker-wide)
  // false: a cluster member; partitions open only through acquire().
  bool open_all = true;
  // Cluster: false while this broker must not serve (its lease is in doubt). Must be cheap.
  std::function<bool()> serving_guard;
  // A topic write whose answer was lost and that had not landed when read back: how long its
  // new streams are kept in case it still applies (README "Lost answers").
  std::chrono::milliseconds lost_write_grace{30'000};
};

struct TopicSpec {
  std::string name;
  int32_t num_partitions = -1;      // -1: default_partitions
  int16_t replication_factor = -1;  // -1: default; 1..32767 accepted (storage is durable)
  // Manual assignment (CreateTopics `assignments`): one broker-id list per partition, in
  // partition order. When given, num_partitions and replication_factor must be -1.
  std::vector<std::vector<int32_t>> assignments;
  ConfigMap configs;
};

// A topic as clients see it.
struct TopicInfo {
  std::string name;
  Uuid id;
  int32_t partitions = 0;
  int16_t replication_factor = 1;  // what was asked (reported back); data is in shared storage
  ConfigMap configs;               // explicit overrides only
  bool internal = false;           // name starts with "__"
};

struct CreateTopicResult {
  ApiError error;
  TopicInfo topic;                   // filled on success and for validate_only
  std::vector<ConfigEntry> configs;  // resolved configs (CreateTopics v5+ reports them)
};

struct DescribeConfigsResult {
  ApiError error;
  std::vector<ConfigEntry> entries;
};

// Kafka's topic name rules: [a-zA-Z0-9._-], 1..249 chars, not "." or "..".
// INVALID_TOPIC_EXCEPTION with Kafka's message when broken.
ApiError validate_topic_name(std::string_view name);

class TopicManager {
 public:
  TopicManager(TopicManagerOptions opts, meta::MetaStore& meta, stream::StreamStore& store,
               Clock& clock, asio::thread_pool& control);
  ~TopicManager();

  // Loads every topic from the metadata store and opens its partitions. Blocking.
  Status load();
  // Closes every partition's stream (uploads, releases ownership). Blocking.
  void unload();

  // ---- cluster ownership (blocking: the cluster agent's thread) -----------------------------
  // Re-reads every topic record: adds topics created elsewhere (partitions not open), applies
  // partition-count and config changes, drops deleted topics (closing their open partitions).
  Status sync_topics();
  // Opens the partition's stream at `epoch` (> its stored epoch, else Errc::kFenced) and serves
  // it. Already open at `epoch`: no-op.
  Result<Epoch> acquire(const std::string& topic, int32_t index, Epoch epoch);
  // Stops serving the partition, uploads its un-uploaded data and releases the stream.
  Status release(const std::string& topic, int32_t index);
  // The stream's stored epoch (as of the last open attempt) and id; kNotFound if unknown.
  Result<stream::StreamInfo> stream_info(const std::string& topic, int32_t index) const;
  // Partitions open here: (topic, index, epoch).
  struct Owned {
    std::string topic;
    int32_t index = 0;
    Epoch epoch{0};
    LoadCounters load;    // the partition's totals since it opened here
    bool broken = false;  // its stream refuses appends until reopened (StreamInfo::broken)
  };
  std::vector<Owned> owned() const;
  // Called (on the cluster agent's thread, must not block) after acquire() opened a partition;
  // the group coordinator uses it to load the groups of a __consumer_offsets partition it gains.
  using AcquireListener =
      std::function<void(const std::string& topic, int32_t index, std::shared_ptr<Partition>)>;
  void set_acquire_listener(AcquireListener l);
  // Called (on the releasing thread, must not block) by release() right after the partition
  // stopped being served, before its upload; the group coordinator drops the groups of a
  // __consumer_offsets partition it lost.
  using ReleaseListener = std::function<void(const std::string& topic, int32_t index)>;
  void set_release_listener(ReleaseListener l);

  // ---- non-blocking reads --------------------------------------------------------------------
  std::optional<TopicInfo> find(std::string_view name) const;
  std::optional<TopicInfo> find(const Uuid& id) const;
  std::vector<TopicInfo> list() const;  // ordered by name
  // nullptr if the topic or partition does not exist here.
  std::shared_ptr<Partition> partition(std::string_view topic, int32_t index) const;
  std::shared_ptr<Partition> partition(const Uuid& topic_id, int32_t index) const;
  std::vector<std::shared_ptr<Partition>> partitions(std::string_view topic) const;
  // `keys` empty = all. UNKNOWN_TOPIC_OR_PARTITION if the topic does not exist.
  DescribeConfigsResult describe_configs(std::string_view topic,
                                         const std::vector<std::string>& keys) const;
  const TopicManagerOptions& options() const { return opts_; }
  // False while this broker must not serve (cluster: its lease is in doubt). Always true on a
  // single broker. Produce re-checks it before acknowledging an append that was in flight.
  bool serving() const { return !opts_.serving_guard || opts_.serving_guard(); }

  // ---- mutations (awaitable: run on the control pool) ----------------------------------------
  // Arguments are taken by const reference and copied into the work item: a by-value argument
  // would be a temporary of the caller's co_await full-expression, which GCC 12 destroys twice.
  asio::awaitable<CreateTopicResult> create_topic(const TopicSpec& spec, bool validate_only);
  asio::awaitable<ApiError> delete_topic(const std::string& name);
  // Grows the topic to `count` partitions (increase only).
  asio::awaitable<ApiError> create_partitions(const std::string& name, int32_t count,
                                              bool validate_only);
  // AlterConfigs: replaces all overrides with `configs`.
  asio::awaitable<ApiError> alter_configs(const std::string& name, const ConfigMap& configs,
                                          bool validate_only);
  asio::awaitable<ApiError> incremental_alter_configs(const std::string& name,
                                                      const std::vector<AlterOp>& ops,
                                                      bool validate_only);

  // ---- mutations (blocking: control threads only) ------------------------------------------
  CreateTopicResult create_topic_blocking(const TopicSpec& spec, bool validate_only);
  ApiError delete_topic_blocking(const std::string& name);
  ApiError create_partitions_blocking(const std::string& name, int32_t count, bool validate_only);
  ApiError alter_configs_blocking(const std::string& name, const ConfigMap& configs,
                                  bool validate_only);
  ApiError incremental_alter_configs_blocking(const std::string& name,
                                              const std::vector<AlterOp>& ops, bool validate_only);

 private:
  struct Topic {
    TopicInfo info;
    std::vector<StreamId> streams;
    std::vector<std::shared_ptr<Partition>> parts;  // null where the stream failed to open
    Revision rev{0};                                // mod revision of the metadata key
    std::shared_ptr<const TopicConfig> config;
  };
  using TopicPtr = std::shared_ptr<Topic>;

  TopicPtr get(std::string_view name) const;
  std::string key(const std::string& name) const { return opts_.key_prefix + name; }
  std::string encode(const Topic& t) const;
  Result<TopicPtr> decode(const meta::KeyValue& kv) const;
  Result<std::shared_ptr<Partition>> open_partition(const Topic& t, int32_t index);
  void restore_producer_state(Partition& p, const stream::StreamInfo& opened);
  void save_producer_state(const Partition& p);
  ApiError write_configs(const std::string& name, const ConfigMap& configs, bool validate_only);
  void remove_streams(const std::vector<StreamId>& ids);
  void close_parts(const Topic& t);

  // Lost answers (topic_manager_lost.cc; README "Lost answers"). A topic write: `next` as the
  // txn put it, under a compare on `expected` (0 = absent). Partitions [from, count) are new
  // streams it names (from == count: a config change, no new streams).
  struct TopicWrite {
    TopicPtr next;
    int32_t from = 0;
    Revision expected{0};
    std::string value;  // the record put
    std::chrono::steady_clock::time_point lost_at{};
  };
  enum class Landed { kYes, kNotYet, kNever, kUnknown };
  // Reads the record back after the write's txn returned an error; *rev = its mod revision.
  Landed write_landed(const TopicWrite& w, Revision* rev);
  // Runs w's txn. OK: committed at the returned revision, installed here. kConflict: a definite
  // compare failure (new streams removed). Other errors: the outcome is unknown; w is kept in
  // unsure_ and its streams stay until it is known (retry_unsure_locked).
  Result<Revision> commit_write(TopicWrite w);
  // After a delete whose answer was lost: true if t's record is gone (or is another topic's).
  bool record_gone(const Topic& t);
  // Makes a committed write the in-memory view (opens new partitions when open_all).
  void install(const TopicWrite& w, Revision rev);
  // Re-reads each unsure write: landed → installed; never landed (or not yet, lost_write_grace
  // after the error) → its new streams are removed. Caller holds mutate_mu_.
  void retry_unsure_locked();

  const TopicManagerOptions opts_;
  meta::MetaStore& meta_;
  stream::StreamStore& store_;
  Clock& clock_;
  asio::thread_pool& control_;

  std::mutex mutate_mu_;  // serialises mutations (held across blocking calls)
  mutable std::shared_mutex mu_;
  std::map<std::string, TopicPtr, std::less<>> topics_;
  std::unordered_map<Uuid, TopicPtr, UuidHash> by_id_;
  std::vector<TopicWrite> unsure_;  // guarded by mutate_mu_
  std::mutex listener_mu_;
  AcquireListener on_acquire_;  // guarded by listener_mu_
  ReleaseListener on_release_;  // guarded by listener_mu_
};

}  // namespace shale::broker
