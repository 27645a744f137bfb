#include "broker/topic_manager.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "base/log.h"
#include "broker/async.h"
#include "broker/producer_recovery.h"

namespace shale::broker {

namespace {

constexpr size_t kMaxTopicNameLength = 249;

stream::RetentionPolicy retention_of(const TopicConfig& c) {
  return stream::RetentionPolicy{c.retention_ms, c.retention_bytes};
}

// Kafka's "a.b" / "a_b" collision rule: both map to the same metric name.
std::string collision_form(std::string_view name) {
  std::string s(name);
  std::replace(s.begin(), s.end(), '.', '_');
  return s;
}

// A topic change that did not commit: a definite compare failure, or an unknown outcome (the
// write is read back later; a retry sees its effect or redoes it).
ApiError write_error(const Error& e) {
  if (e.code == Errc::kConflict)
    return {kerr::kUnknownServerError, "topic changed concurrently; retry"};
  return {kerr::kRequestTimedOut, fmt::format("metadata store: {}", e.to_string())};
}

std::string range_end_of(const std::string& prefix) {
  std::string end = prefix;
  end.back() = static_cast<char>(end.back() + 1);
  return end;
}

}  // namespace

ApiError validate_topic_name(std::string_view name) {
  auto bad = [](std::string m) { return ApiError{kerr::kInvalidTopicException, std::move(m)}; };
  if (name.empty()) return bad("Topic name is illegal, it can't be empty");
  if (name == "." || name == "..") return bad("Topic name cannot be \".\" or \"..\"");
  if (name.size() > kMaxTopicNameLength) {
    return bad(
        fmt::format("Topic name is illegal, it can't be longer than {} characters, topic "
                    "name: {}",
                    kMaxTopicNameLength, name));
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      return bad(
          fmt::format("Topic name \"{}\" is illegal, it contains a character other than "
                      "ASCII alphanumerics, '.', '_' and '-'",
                      name));
    }
  }
  return {};
}

TopicManager::TopicManager(TopicManagerOptions opts, meta::MetaStore& meta,
                           stream::StreamStore& store, Clock& clock, asio::thread_pool& control)
    : opts_(std::move(opts)), meta_(meta), store_(store), clock_(clock), control_(control) {}

TopicManager::~TopicManager() = default;

// ---- persistence
// ---------------------------------------------------------------------------------

std::string TopicManager::encode(const Topic& t) const {
  nlohmann::json j;
  j["version"] = 1;
  j["id"] = t.info.id.to_hex();
  j["replication_factor"] = t.info.replication_factor;
  auto& streams = j["streams"] = nlohmann::json::array();
  for (StreamId s : t.streams) streams.push_back(s.value());
  j["configs"] = t.info.configs;
  return j.dump();
}

Result<TopicManager::TopicPtr> TopicManager::decode(const meta::KeyValue& kv) const {
  auto j = nlohmann::json::parse(kv.value, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Error{Errc::kCorruption, fmt::format("topic record {} is not JSON", kv.key)};
  }
  auto t = std::make_shared<Topic>();
  t->info.name = kv.key.substr(opts_.key_prefix.size());
  auto id = Uuid::from_hex(j.value("id", ""));
  if (!id) return Error{Errc::kCorruption, fmt::format("topic record {} has no id", kv.key)};
  t->info.id = *id;
  t->info.replication_factor = j.value("replication_factor", int16_t{1});
  for (const auto& s : j.value("streams", nlohmann::json::array())) {
    t->streams.push_back(StreamId(s.get<uint64_t>()));
  }
  t->info.partitions = static_cast<int32_t>(t->streams.size());
  t->info.configs = j.value("configs", ConfigMap{});
  t->info.internal = t->info.name.starts_with("__");
  t->rev = kv.mod_revision;
  t->config =
      std::make_shared<const TopicConfig>(TopicConfig::resolve(t->info.configs, opts_.defaults));
  return t;
}

Result<std::shared_ptr<Partition>> TopicManager::open_partition(const Topic& t, int32_t index) {
  StreamId id = t.streams[index];
  SHALE_ASSIGN_OR_RETURN(stream::StreamInfo before, store_.info(id));
  SHALE_ASSIGN_OR_RETURN(stream::StreamInfo opened,
                         store_.open(id, Epoch(before.epoch.value() + 1)));
  auto p = std::make_shared<Partition>(t.info.name, index, id, opened, store_, clock_, t.config);
  restore_producer_state(*p, opened);
  return p;
}

// Rebuilds the partition's idempotent-producer state (producer_recovery.h). A failure only
// weakens duplicate detection for retries across the restart, so the partition still opens.
void TopicManager::restore_producer_state(Partition& p, const stream::StreamInfo& opened) {
  const auto t0 = std::chrono::steady_clock::now();
  ProducerRecovery rec;
  if (auto r = recover_producer_state(meta_, store_, p.stream_id(), opened); r.ok()) {
    rec = std::move(*r);
  } else {
    SHALE_LOG_ERROR("broker", "{}-{}: cannot rebuild producer state: {}", p.topic(), p.index(),
                    r.error().to_string());
  }
  std::weak_ptr<Partition> weak = p.weak_from_this();
  p.restore_producers(std::move(rec.table), opts_.producer_id_expiration_ms, [this, weak] {
    asio::post(control_, [this, weak] {
      if (auto sp = weak.lock(); sp && !sp->deleted()) save_producer_state(*sp);
    });
  });
  if (rec.scanned_batches > 0) {
    SHALE_LOG_INFO(
        "broker", "{}-{}: producer state from snapshot@{} + {} batches ({} bytes) in {} ms",
        p.topic(), p.index(), rec.snapshot_offset, rec.scanned_batches, rec.scanned_bytes,
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count());
    save_producer_state(p);
  }
}

void TopicManager::save_producer_state(const Partition& p) {
  auto [offset, json] = p.producer_snapshot();
  Status st = save_producer_snapshot(meta_, p.stream_id(), offset, json);
  if (!st.ok()) {
    SHALE_LOG_WARN("broker", "{}-{}: producer snapshot: {}", p.topic(), p.index(), st.to_string());
  }
}

Status TopicManager::load() {
  std::lock_guard mlk(mutate_mu_);
  SHALE_ASSIGN_OR_RETURN(meta::RangeResult r,
                         meta_.get(opts_.key_prefix, range_end_of(opts_.key_prefix)));
  for (const auto& kv : r.kvs) {
    auto t = decode(kv);
    if (!t.ok()) {
      SHALE_LOG_ERROR("broker", "skipping topic record: {}", t.error().to_string());
      continue;
    }
    TopicPtr topic = *t;
    topic->parts.resize(topic->streams.size());
    for (int32_t i = 0; opts_.open_all && i < topic->info.partitions; ++i) {
      auto p = open_partition(*topic, i);
      if (!p.ok()) {
        SHALE_LOG_ERROR("broker", "cannot open {}-{} (stream {}): {}", topic->info.name, i,
                        topic->streams[i], p.error().to_string());
        continue;
      }
      topic->parts[i] = *p;
    }
    std::unique_lock lk(mu_);
    by_id_[topic->info.id] = topic;
    topics_[topic->info.name] = topic;
  }
  return {};
}

void TopicManager::unload() {
  std::lock_guard mlk(mutate_mu_);
  std::map<std::string, TopicPtr, std::less<>> all;
  {
    std::unique_lock lk(mu_);
    all.swap(topics_);
    by_id_.clear();
  }
  for (auto& [name, t] : all) close_parts(*t);
}

void TopicManager::close_parts(const Topic& t) {
  for (auto& p : t.parts) {
    if (!p) continue;
    save_producer_state(*p);
    Status st = store_.close(p->stream_id());
    if (!st.ok()) {
      SHALE_LOG_WARN("broker", "closing {}-{}: {}", t.info.name, p->index(), st.to_string());
    }
  }
}

// ---- reads
// ---------------------------------------------------------------------------------------

TopicManager::TopicPtr TopicManager::get(std::string_view name) const {
  std::shared_lock lk(mu_);
  auto it = topics_.find(name);
  return it == topics_.end() ? nullptr : it->second;
}

std::optional<TopicInfo> TopicManager::find(std::string_view name) const {
  auto t = get(name);
  if (!t) return std::nullopt;
  return t->info;
}

std::optional<TopicInfo> TopicManager::find(const Uuid& id) const {
  std::shared_lock lk(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second->info;
}

std::vector<TopicInfo> TopicManager::list() const {
  std::shared_lock lk(mu_);
  std::vector<TopicInfo> out;
  out.reserve(topics_.size());
  for (const auto& [_, t] : topics_) out.push_back(t->info);
  return out;
}

std::shared_ptr<Partition> TopicManager::partition(std::string_view topic, int32_t index) const {
  if (!serving()) return nullptr;
  std::shared_lock lk(mu_);
  auto it = topics_.find(topic);
  if (it == topics_.end() || index < 0 || index >= it->second->info.partitions) return nullptr;
  return it->second->parts[index];
}

std::shared_ptr<Partition> TopicManager::partition(const Uuid& id, int32_t index) const {
  if (!serving()) return nullptr;
  std::shared_lock lk(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end() || index < 0 || index >= it->second->info.partitions) return nullptr;
  return it->second->parts[index];
}

std::vector<std::shared_ptr<Partition>> TopicManager::partitions(std::string_view topic) const {
  std::shared_lock lk(mu_);
  auto it = topics_.find(topic);
  if (it == topics_.end()) return {};
  if (!serving()) return std::vector<std::shared_ptr<Partition>>(it->second->parts.size());
  return it->second->parts;
}

DescribeConfigsResult TopicManager::describe_configs(std::string_view topic,
                                                     const std::vector<std::string>& keys) const {
  DescribeConfigsResult out;
  auto t = get(topic);
  if (!t) {
    out.error = {kerr::kUnknownTopicOrPartition,
                 fmt::format("The topic '{}' does not exist.", topic)};
    return out;
  }
  out.entries = describe_topic_configs(t->info.configs, opts_.defaults, keys);
  return out;
}

// ---- mutations
// -----------------------------------------------------------------------------------

CreateTopicResult TopicManager::create_topic_blocking(const TopicSpec& spec, bool validate_only) {
  CreateTopicResult out;
  auto fail = [&](int16_t code, std::string msg) {
    out.error = {code, std::move(msg)};
    return out;
  };
  if (auto e = validate_topic_name(spec.name); !e.ok()) return fail(e.code, e.message);

  int32_t partitions = spec.num_partitions;
  int16_t rf = spec.replication_factor;
  if (!spec.assignments.empty()) {
    if (partitions != -1 || rf != -1) {
      return fail(kerr::kInvalidRequest,
                  "Both numPartitions or replicationFactor and replicasAssignments were set. "
                  "Both cannot be used at the same time.");
    }
    for (size_t i = 0; i < spec.assignments.size(); ++i) {
      auto a = spec.assignments[i];
      std::sort(a.begin(), a.end());
      if (a.empty() || std::adjacent_find(a.begin(), a.end()) != a.end()) {
        return fail(kerr::kInvalidReplicaAssignment,
                    fmt::format("Invalid replica assignment for partition {}: it must list "
                                "distinct broker ids",
                                i));
      }
    }
    partitions = static_cast<int32_t>(spec.assignments.size());
    rf = static_cast<int16_t>(spec.assignments[0].size());
  }
  if (partitions == -1) partitions = opts_.default_partitions;
  if (rf == -1) rf = opts_.default_replication_factor;
  if (partitions <= 0) {
    return fail(kerr::kInvalidPartitions,
                "Number of partitions was set to an invalid non-positive value.");
  }
  if (partitions > opts_.max_partitions_per_topic) {
    return fail(kerr::kInvalidPartitions,
                fmt::format("Number of partitions {} exceeds the broker's limit of {} per topic",
                            partitions, opts_.max_partitions_per_topic));
  }
  if (rf <= 0) {
    return fail(kerr::kInvalidReplicationFactor,
                "Replication factor must be larger than 0, or -1 to use the default value.");
  }
  if (auto e = validate_configs(spec.configs); !e.ok()) return fail(e.code, e.message);

  std::lock_guard mlk(mutate_mu_);
  retry_unsure_locked();
  {
    std::shared_lock lk(mu_);
    if (topics_.count(spec.name)) {
      return fail(kerr::kTopicAlreadyExists, fmt::format("Topic '{}' already exists.", spec.name));
    }
    std::string form = collision_form(spec.name);
    for (const auto& [name, _] : topics_) {
      if (collision_form(name) == form) {
        return fail(kerr::kInvalidTopicException,
                    fmt::format("Topic '{}' collides with existing topic: {}", spec.name, name));
      }
    }
  }

  auto topic = std::make_shared<Topic>();
  topic->info.name = spec.name;
  topic->info.id = Uuid::random();
  topic->info.partitions = partitions;
  topic->info.replication_factor = rf;
  topic->info.configs = spec.configs;
  topic->info.internal = spec.name.starts_with("__");
  topic->config =
      std::make_shared<const TopicConfig>(TopicConfig::resolve(spec.configs, opts_.defaults));
  out.topic = topic->info;
  out.configs = describe_topic_configs(spec.configs, opts_.defaults, {});
  if (validate_only) return out;

  // Another broker may have created it since this one last synced (clients race to create
  // __consumer_offsets): one read saves creating and removing a stream per partition.
  if (auto there = meta_.get(key(spec.name)); there.ok() && !there->kvs.empty()) {
    return fail(kerr::kTopicAlreadyExists, fmt::format("Topic '{}' already exists.", spec.name));
  }
  auto ids = store_.create_many(static_cast<size_t>(partitions), retention_of(*topic->config));
  if (!ids.ok()) {
    return fail(kerr::kUnknownServerError,
                fmt::format("cannot create the partitions' streams: {}", ids.error().to_string()));
  }
  topic->streams = std::move(*ids);
  auto committed = commit_write({topic, 0, Revision(0), encode(*topic)});
  if (!committed.ok()) {
    if (committed.error().code == Errc::kConflict) {
      return fail(kerr::kTopicAlreadyExists, fmt::format("Topic '{}' already exists.", spec.name));
    }
    // The write may have applied: a retry finds the topic (TOPIC_ALREADY_EXISTS) or creates it.
    return fail(kerr::kRequestTimedOut,
                fmt::format("metadata store: {}", committed.error().to_string()));
  }
  SHALE_LOG_INFO("broker", "created topic {} ({} partitions, id {})", spec.name, partitions,
                 topic->info.id.to_base64());
  return out;
}

void TopicManager::remove_streams(const std::vector<StreamId>& ids) {
  for (StreamId id : ids) {
    (void)store_.close(id);  // may not be open; remove() is what matters
    Status st = store_.remove(id);
    if (!st.ok()) SHALE_LOG_WARN("broker", "removing stream {}: {}", id, st.to_string());
    (void)meta_.del(producer_snapshot_key(id));
  }
}

ApiError TopicManager::delete_topic_blocking(const std::string& name) {
  std::lock_guard mlk(mutate_mu_);
  retry_unsure_locked();
  TopicPtr t = get(name);
  if (!t) {
    return {kerr::kUnknownTopicOrPartition,
            fmt::format("This server does not host this topic-partition: {}", name)};
  }
  auto r = meta_.del(key(name));
  if (!r.ok() && !record_gone(*t)) {  // else the answer was lost but the delete applied
    return {kerr::kUnknownServerError, fmt::format("metadata store: {}", r.error().to_string())};
  }
  {
    std::unique_lock lk(mu_);
    topics_.erase(name);
    by_id_.erase(t->info.id);
  }
  for (auto& p : t->parts) {
    if (p) p->mark_deleted();
  }
  remove_streams(t->streams);
  SHALE_LOG_INFO("broker", "deleted topic {}", name);
  return {};
}

ApiError TopicManager::create_partitions_blocking(const std::string& name, int32_t count,
                                                  bool validate_only) {
  std::lock_guard mlk(mutate_mu_);
  retry_unsure_locked();
  TopicPtr t = get(name);
  if (!t) {
    return {kerr::kUnknownTopicOrPartition, fmt::format("The topic '{}' does not exist.", name)};
  }
  int32_t cur = t->info.partitions;
  if (count < cur) {
    return {kerr::kInvalidPartitions,
            fmt::format("Topic currently has {} partitions, which is higher than the requested "
                        "{}.",
                        cur, count)};
  }
  if (count == cur) {
    return {kerr::kInvalidPartitions, fmt::format("Topic already has {} partitions.", cur)};
  }
  if (count > opts_.max_partitions_per_topic) {
    return {kerr::kInvalidPartitions,
            fmt::format("Number of partitions {} exceeds the broker's limit of {} per topic", count,
                        opts_.max_partitions_per_topic)};
  }
  if (validate_only) return {};

  auto next = std::make_shared<Topic>(*t);
  auto ids = store_.create_many(static_cast<size_t>(count - cur), retention_of(*t->config));
  if (!ids.ok()) return {kerr::kUnknownServerError, ids.error().to_string()};
  next->streams.insert(next->streams.end(), ids->begin(), ids->end());
  next->info.partitions = count;
  auto committed = commit_write({next, cur, t->rev, encode(*next)});
  if (!committed.ok()) return write_error(committed.error());
  return {};
}

ApiError TopicManager::write_configs(const std::string& name, const ConfigMap& configs,
                                     bool validate_only) {
  // Caller holds mutate_mu_ and has validated `configs`.
  TopicPtr t = get(name);
  if (!t) {
    return {kerr::kUnknownTopicOrPartition, fmt::format("The topic '{}' does not exist.", name)};
  }
  if (validate_only) return {};
  auto next = std::make_shared<Topic>(*t);
  next->info.configs = configs;
  next->config = std::make_shared<const TopicConfig>(TopicConfig::resolve(configs, opts_.defaults));
  auto committed = commit_write({next, next->info.partitions, t->rev, encode(*next)});
  if (!committed.ok()) return write_error(committed.error());
  return {};
}

ApiError TopicManager::alter_configs_blocking(const std::string& name, const ConfigMap& configs,
                                              bool validate_only) {
  if (auto e = validate_configs(configs); !e.ok()) return e;
  std::lock_guard mlk(mutate_mu_);
  retry_unsure_locked();
  return write_configs(name, configs, validate_only);
}

ApiError TopicManager::incremental_alter_configs_blocking(const std::string& name,
                                                          const std::vector<AlterOp>& ops,
                                                          bool validate_only) {
  std::lock_guard mlk(mutate_mu_);
  retry_unsure_locked();
  TopicPtr t = get(name);
  if (!t) {
    return {kerr::kUnknownTopicOrPartition, fmt::format("The topic '{}' does not exist.", name)};
  }
  ConfigMap next;
  if (auto e = apply_alter_ops(t->info.configs, ops, opts_.defaults, &next); !e.ok()) return e;
  return write_configs(name, next, validate_only);
}

// ---- awaitable wrappers
// --------------------------------------------------------------------------

asio::awaitable<CreateTopicResult> TopicManager::create_topic(const TopicSpec& spec,
                                                              bool validate_only) {
  return run_blocking(
      control_, [this, spec, validate_only] { return create_topic_blocking(spec, validate_only); });
}

asio::awaitable<ApiError> TopicManager::delete_topic(const std::string& name) {
  return run_blocking(control_, [this, name] { return delete_topic_blocking(name); });
}

asio::awaitable<ApiError> TopicManager::create_partitions(const std::string& name, int32_t count,
                                                          bool validate_only) {
  return run_blocking(control_, [this, name, count, validate_only] {
    return create_partitions_blocking(name, count, validate_only);
  });
}

asio::awaitable<ApiError> TopicManager::alter_configs(const std::string& name,
                                                      const ConfigMap& configs,
                                                      bool validate_only) {
  return run_blocking(control_, [this, name, configs, validate_only] {
    return alter_configs_blocking(name, configs, validate_only);
  });
}

asio::awaitable<ApiError> TopicManager::incremental_alter_configs(const std::string& name,
                                                                  const std::vector<AlterOp>& ops,
                                                                  bool validate_only) {
  return run_blocking(control_, [this, name, ops, validate_only] {
    return incremental_alter_configs_blocking(name, ops, validate_only);
  });
}

}  // namespace shale::broker
