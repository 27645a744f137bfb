#include "broker/topic_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>

namespace shale::broker {

namespace {

constexpr const char* kMaxLong = "9223372036854775807";

// Kafka's defaults (Kafka 3.x/4.x TopicConfig / LogConfig). `has_effect` is false for configs
// that are accepted for compatibility (tools and Terraform set them) but change nothing yet.
const std::vector<ConfigDef> kDefs = {
    {"cleanup.policy", ConfigType::kList, "delete", true,
     "delete only; compact is not supported yet"},
    {"compression.type", ConfigType::kString, "producer", false,
     "stored; batches are kept as the producer compressed them"},
    {"delete.retention.ms", ConfigType::kLong, "86400000", false, "stored; no compaction yet"},
    {"file.delete.delay.ms", ConfigType::kLong, "60000", false, "stored; no local segments"},
    {"flush.messages", ConfigType::kLong, kMaxLong, false, "stored; every ack is durable"},
    {"flush.ms", ConfigType::kLong, kMaxLong, false, "stored; every ack is durable"},
    {"index.interval.bytes", ConfigType::kInt, "4096", false, "stored; no local segments"},
    {"max.compaction.lag.ms", ConfigType::kLong, kMaxLong, false, "stored; no compaction yet"},
    {"max.message.bytes", ConfigType::kInt, "1048588", true,
     "largest record batch a producer may send"},
    {"message.timestamp.after.max.ms", ConfigType::kLong, kMaxLong, false, "stored"},
    {"message.timestamp.before.max.ms", ConfigType::kLong, kMaxLong, false, "stored"},
    {"message.timestamp.difference.max.ms", ConfigType::kLong, kMaxLong, false, "stored"},
    {"message.timestamp.type", ConfigType::kString, "CreateTime", true,
     "CreateTime or LogAppendTime"},
    {"min.cleanable.dirty.ratio", ConfigType::kDouble, "0.5", false, "stored; no compaction"},
    {"min.compaction.lag.ms", ConfigType::kLong, "0", false, "stored; no compaction yet"},
    {"min.insync.replicas", ConfigType::kInt, "1", false,
     "stored; durability comes from the shared storage"},
    {"preallocate", ConfigType::kBoolean, "false", false, "stored; no local segments"},
    {"retention.bytes", ConfigType::kLong, "-1", true, "size retention per partition"},
    {"retention.ms", ConfigType::kLong, "604800000", true, "time retention"},
    {"segment.bytes", ConfigType::kInt, "1073741824", false, "stored; no local segments"},
    {"segment.index.bytes", ConfigType::kInt, "10485760", false, "stored; no local segments"},
    {"segment.jitter.ms", ConfigType::kLong, "0", false, "stored; no local segments"},
    {"segment.ms", ConfigType::kLong, "604800000", false, "stored; no local segments"},
    {"unclean.leader.election.enable", ConfigType::kBoolean, "false", false,
     "stored; there are no replicas to elect from"},
};

bool parse_long(const std::string& s, int64_t* out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && !s.empty();
}

std::string trim(std::string s) {
  auto b = s.find_first_not_of(" \t");
  auto e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::vector<std::string> split_list(const std::string& v) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= v.size()) {
    size_t c = v.find(',', pos);
    if (c == std::string::npos) c = v.size();
    std::string item = trim(v.substr(pos, c - pos));
    if (!item.empty()) out.push_back(item);
    pos = c + 1;
  }
  return out;
}

std::string join_list(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + v[i];
  return s;
}

ApiError invalid(std::string msg) {
  return ApiError{kerr::kInvalidConfig, std::move(msg)};
}

}  // namespace

const std::vector<ConfigDef>& topic_config_defs() {
  return kDefs;
}

const ConfigDef* find_config_def(const std::string& name) {
  for (const auto& d : kDefs) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

ApiError validate_config(const std::string& name, const std::string& value) {
  const ConfigDef* d = find_config_def(name);
  if (!d) return invalid(fmt::format("Unknown topic config name: {}", name));
  auto bad = [&](const char* why) {
    return invalid(fmt::format("Invalid value {} for configuration {}: {}", value, name, why));
  };
  int64_t n = 0;
  switch (d->type) {
    case ConfigType::kLong:
    case ConfigType::kInt:
    case ConfigType::kShort:
      if (!parse_long(value, &n)) return bad("not a number");
      if (d->type == ConfigType::kInt &&
          (n < std::numeric_limits<int32_t>::min() || n > std::numeric_limits<int32_t>::max())) {
        return bad("out of range for an int");
      }
      break;
    case ConfigType::kBoolean:
      if (value != "true" && value != "false") return bad("must be true or false");
      break;
    case ConfigType::kDouble: {
      char* end = nullptr;
      std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0') return bad("not a number");
      break;
    }
    default:
      break;
  }
  if (name == "cleanup.policy") {
    auto items = split_list(value);
    for (const auto& i : items) {
      if (i == "compact") {
        return invalid("cleanup.policy=compact is not supported yet");
      }
      if (i != "delete") return bad("allowed values are delete (compact is not supported yet)");
    }
  } else if (name == "retention.ms" || name == "retention.bytes") {
    if (n < -1) return bad("must be -1 (unlimited) or >= 0");
  } else if (name == "max.message.bytes") {
    if (n < 0) return bad("must be >= 0");
  } else if (name == "message.timestamp.type") {
    if (value != "CreateTime" && value != "LogAppendTime") {
      return bad("must be CreateTime or LogAppendTime");
    }
  } else if (name == "segment.bytes") {
    if (n < 14) return bad("must be >= 14");
  } else if (name == "segment.ms" || name == "min.insync.replicas") {
    if (n < 1) return bad("must be >= 1");
  } else if (name == "compression.type") {
    static const char* kOk[] = {"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"};
    if (std::find_if(std::begin(kOk), std::end(kOk), [&](const char* s) { return value == s; }) ==
        std::end(kOk)) {
      return bad("must be one of producer, uncompressed, gzip, snappy, lz4, zstd");
    }
  } else if (d->type == ConfigType::kLong || d->type == ConfigType::kInt) {
    if (n < 0) return bad("must be >= 0");
  }
  return {};
}

ApiError validate_configs(const ConfigMap& m) {
  for (const auto& [k, v] : m) {
    if (auto e = validate_config(k, v); !e.ok()) return e;
  }
  return {};
}

std::string TopicDefaults::get(const std::string& name) const {
  if (auto it = values.find(name); it != values.end()) return it->second;
  const ConfigDef* d = find_config_def(name);
  return d ? d->kafka_default : "";
}

TopicConfig TopicConfig::resolve(const ConfigMap& o, const TopicDefaults& defaults) {
  auto get = [&](const char* n) {
    auto it = o.find(n);
    return it != o.end() ? it->second : defaults.get(n);
  };
  TopicConfig c;
  int64_t v = 0;
  if (parse_long(get("retention.ms"), &v)) c.retention_ms = v;
  if (parse_long(get("retention.bytes"), &v)) c.retention_bytes = v;
  if (parse_long(get("max.message.bytes"), &v)) c.max_message_bytes = static_cast<int32_t>(v);
  c.log_append_time = get("message.timestamp.type") == "LogAppendTime";
  return c;
}

std::vector<ConfigEntry> describe_topic_configs(const ConfigMap& overrides,
                                                const TopicDefaults& defaults,
                                                const std::vector<std::string>& keys) {
  std::vector<ConfigEntry> out;
  for (const auto& d : kDefs) {
    if (!keys.empty() && std::find(keys.begin(), keys.end(), d.name) == keys.end()) continue;
    ConfigEntry e;
    e.name = d.name;
    e.type = d.type;
    e.doc = d.doc;
    if (auto it = overrides.find(d.name); it != overrides.end()) {
      e.value = it->second;
      e.source = ConfigSource::kTopicConfig;
    } else {
      e.value = defaults.get(d.name);
      e.source = defaults.is_broker_set(d.name) ? ConfigSource::kStaticBrokerConfig
                                                : ConfigSource::kDefaultConfig;
    }
    out.push_back(std::move(e));
  }
  return out;
}

ApiError apply_alter_ops(const ConfigMap& current, const std::vector<AlterOp>& ops,
                         const TopicDefaults& defaults, ConfigMap* out) {
  ConfigMap m = current;
  for (const auto& op : ops) {
    const ConfigDef* d = find_config_def(op.name);
    if (!d) return invalid(fmt::format("Unknown topic config name: {}", op.name));
    switch (op.type) {
      case AlterOp::Type::kSet:
        if (!op.value) return invalid(fmt::format("Null value not supported for {}", op.name));
        m[op.name] = *op.value;
        break;
      case AlterOp::Type::kDelete:
        m.erase(op.name);
        break;
      case AlterOp::Type::kAppend:
      case AlterOp::Type::kSubtract: {
        if (d->type != ConfigType::kList) {
          return ApiError{
              kerr::kInvalidRequest,
              fmt::format("Config value {} is not allowed for config key: {}",
                          op.type == AlterOp::Type::kAppend ? "append" : "subtract", op.name)};
        }
        auto it = m.find(op.name);
        auto items = split_list(it != m.end() ? it->second : defaults.get(op.name));
        for (const auto& v : split_list(op.value.value_or(""))) {
          auto pos = std::find(items.begin(), items.end(), v);
          if (op.type == AlterOp::Type::kAppend && pos == items.end()) items.push_back(v);
          if (op.type == AlterOp::Type::kSubtract && pos != items.end()) items.erase(pos);
        }
        m[op.name] = join_list(items);
        break;
      }
      default:
        return ApiError{kerr::kInvalidRequest, "unknown alter config operation"};
    }
  }
  if (auto e = validate_configs(m); !e.ok()) return e;
  *out = std::move(m);
  return {};
}

}  // namespace shale::broker
