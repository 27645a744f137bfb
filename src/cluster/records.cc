#include "cluster/records.h"

#include <fmt/format.h>

#include <charconv>
#include <nlohmann/json.hpp>

namespace shale::cluster {

std::string broker_key(int32_t id) {
  return fmt::format("{}{}", kBrokersPrefix, id);
}

std::string assignment_key(std::string_view topic, int32_t index) {
  return fmt::format("{}{}/{}", kAssignmentsPrefix, topic, index);
}

std::string decommission_key(int32_t id) {
  return fmt::format("{}{}", kDecommissionPrefix, id);
}

std::string encode_broker(const broker::BrokerEndpoint& b) {
  nlohmann::json j{{"id", b.id}, {"host", b.host}, {"port", b.port}, {"rack", b.rack}};
  return j.dump();
}

Result<broker::BrokerEndpoint> decode_broker(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("id") || !j["id"].is_number_integer()) {
    return Error{Errc::kCorruption, fmt::format("bad broker record: {}", json)};
  }
  broker::BrokerEndpoint b;
  b.id = j["id"].get<int32_t>();
  b.host = j.value("host", "");
  b.port = j.value("port", -1);
  b.rack = j.value("rack", "");
  return b;
}

std::string encode_assignment(const Assignment& a) {
  nlohmann::json j{{"node", a.node}, {"epoch", a.epoch}, {"target", a.target}};
  if (a.moved_ms != 0) j["moved_ms"] = a.moved_ms;
  return j.dump();
}

Result<Assignment> decode_assignment(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("node") || !j["node"].is_number_integer()) {
    return Error{Errc::kCorruption, fmt::format("bad assignment record: {}", json)};
  }
  Assignment a;
  a.node = j["node"].get<int32_t>();
  a.epoch = j.value("epoch", 0);
  a.target = j.value("target", -1);
  a.moved_ms = j.value("moved_ms", int64_t{0});
  return a;
}

bool parse_assignment_key(std::string_view key, std::string* topic, int32_t* index) {
  if (!key.starts_with(kAssignmentsPrefix)) return false;
  key.remove_prefix(kAssignmentsPrefix.size());
  size_t slash = key.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return false;
  std::string_view num = key.substr(slash + 1);
  auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), *index);
  if (ec != std::errc() || ptr != num.data() + num.size() || *index < 0) return false;
  *topic = std::string(key.substr(0, slash));
  return true;
}

}  // namespace shale::cluster
