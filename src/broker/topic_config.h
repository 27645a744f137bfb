// Topic configuration: the table of topic configs Shale knows (name, type, Kafka default,
// validation, whether it has an effect yet), broker-level defaults, and the resolved
// per-topic view the data path reads.
//
// Which configs act today: retention.ms, retention.bytes (passed to the stream store),
// max.message.bytes (Produce), message.timestamp.type (Produce). Accepted and stored with no
// effect (a shared-storage broker has no local segments or replicas): segment.bytes,
// segment.ms, min.insync.replicas and the other names listed in topic_config.cc.
// cleanup.policy accepts "delete" only; compact is refused with INVALID_CONFIG until the
// compactor exists.
//
// Thread-safety: TopicConfig is an immutable value once built; share it by shared_ptr<const>.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "broker/kafka_error.h"

namespace shale::broker {

// Kafka's DescribeConfigs enums (ConfigSource, ConfigType), same numbering as the protocol.
enum class ConfigSource : int8_t { kTopicConfig = 1, kStaticBrokerConfig = 4, kDefaultConfig = 5 };
enum class ConfigType : int8_t {
  kBoolean = 1,
  kString = 2,
  kInt = 3,
  kShort = 4,
  kLong = 5,
  kDouble = 6,
  kList = 7,
};

struct ConfigDef {
  const char* name;
  ConfigType type;
  const char* kafka_default;
  bool has_effect;  // false: accepted and stored, no effect yet
  const char* doc;
};
// All topic configs Shale accepts, ordered by name.
const std::vector<ConfigDef>& topic_config_defs();
const ConfigDef* find_config_def(const std::string& name);

// Explicit per-topic overrides, as stored in the metadata store.
using ConfigMap = std::map<std::string, std::string>;

// Validates one name/value pair: INVALID_CONFIG with a clear message if the name is unknown or
// the value does not parse/validate.
ApiError validate_config(const std::string& name, const std::string& value);
// Validates a whole override map.
ApiError validate_configs(const ConfigMap& m);

// Broker-wide defaults for topic configs (from the broker's config file / flags). Only names in
// topic_config_defs() may appear; values override Kafka's defaults.
struct TopicDefaults {
  ConfigMap values;
  std::string get(const std::string& name) const;  // broker value, else Kafka default
  bool is_broker_set(const std::string& name) const { return values.count(name) > 0; }
};

// The resolved configuration the data path reads.
struct TopicConfig {
  int64_t retention_ms = 604800000;
  int64_t retention_bytes = -1;
  int32_t max_message_bytes = 1048588;
  bool log_append_time = false;

  static TopicConfig resolve(const ConfigMap& overrides, const TopicDefaults& defaults);
};

struct ConfigEntry {
  std::string name;
  std::string value;
  ConfigSource source = ConfigSource::kDefaultConfig;
  ConfigType type = ConfigType::kString;
  bool read_only = false;
  bool sensitive = false;
  std::string doc;
};
// Every known config for a topic with its effective value and source; `keys` empty = all.
std::vector<ConfigEntry> describe_topic_configs(const ConfigMap& overrides,
                                                const TopicDefaults& defaults,
                                                const std::vector<std::string>& keys);

// IncrementalAlterConfigs operation (protocol values: SET 0, DELETE 1, APPEND 2, SUBTRACT 3).
struct AlterOp {
  enum class Type : int8_t { kSet = 0, kDelete = 1, kAppend = 2, kSubtract = 3 };
  std::string name;
  Type type = Type::kSet;
  std::optional<std::string> value;
};
// Applies `ops` to `current`, producing the new override map, or an error (INVALID_CONFIG /
// INVALID_REQUEST as Kafka: APPEND/SUBTRACT on a non-list config is INVALID_REQUEST).
ApiError apply_alter_ops(const ConfigMap& current, const std::vector<AlterOp>& ops,
                         const TopicDefaults& defaults, ConfigMap* out);

}  // namespace shale::broker
