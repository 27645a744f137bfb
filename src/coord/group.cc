#include "coord/group.h"

#include <algorithm>

namespace shale::coord {

const char* state_name(GroupState s) {
  switch (s) {
    case GroupState::kEmpty:
      return "Empty";
    case GroupState::kPreparingRebalance:
      return "PreparingRebalance";
    case GroupState::kCompletingRebalance:
      return "CompletingRebalance";
    case GroupState::kStable:
      return "Stable";
    case GroupState::kDead:
      return "Dead";
  }
  return "Unknown";
}

const Buf* Member::metadata_for(const std::string& protocol) const {
  for (const auto& p : protocols) {
    if (p.name == protocol) return &p.metadata;
  }
  return nullptr;
}

bool Group::is_fenced_static(const std::string& member_id,
                             const std::optional<std::string>& instance_id) const {
  if (!instance_id) return false;
  auto it = static_members.find(*instance_id);
  return it != static_members.end() && it->second != member_id;
}

std::optional<std::string> Group::select_protocol() const {
  if (members.empty()) return std::nullopt;
  // Candidates: protocols every member supports.
  std::vector<std::string> candidates;
  for (const auto& p : members.begin()->second.protocols) {
    bool all = std::all_of(members.begin(), members.end(),
                           [&](const auto& kv) { return kv.second.metadata_for(p.name); });
    if (all) candidates.push_back(p.name);
  }
  if (candidates.empty()) return std::nullopt;
  // Each member votes for its most preferred candidate; most votes wins (ties: first seen).
  std::map<std::string, int> votes;
  for (const auto& [id, m] : members) {
    for (const auto& p : m.protocols) {
      if (std::find(candidates.begin(), candidates.end(), p.name) != candidates.end()) {
        ++votes[p.name];
        break;
      }
    }
  }
  std::string best = candidates.front();
  for (const auto& c : candidates) {
    if (votes[c] > votes[best]) best = c;
  }
  return best;
}

bool Group::supports(const std::string& type, const std::vector<Protocol>& protos) const {
  if (protos.empty() || type.empty()) return false;
  if (members.empty()) return true;
  if (type != protocol_type) return false;
  for (const auto& p : protos) {
    bool all = std::all_of(members.begin(), members.end(),
                           [&](const auto& kv) { return kv.second.metadata_for(p.name); });
    if (all) return true;
  }
  return false;
}

int32_t Group::max_rebalance_timeout_ms() const {
  int32_t t = 0;
  for (const auto& [id, m] : members) t = std::max(t, m.rebalance_timeout_ms);
  return t;
}

GroupSnapshot Group::snapshot(int64_t now_ms) const {
  GroupSnapshot s;
  s.protocol_type = protocol_type;
  s.generation = generation;
  s.protocol_name = protocol_name;
  s.leader = leader;
  s.current_state_timestamp_ms = now_ms;
  for (const auto& [id, m] : members) {
    auto& ms = s.members.emplace_back();
    ms.member_id = id;
    ms.instance_id = m.instance_id;
    ms.client_id = m.client_id;
    ms.client_host = m.client_host;
    ms.rebalance_timeout_ms = m.rebalance_timeout_ms;
    ms.session_timeout_ms = m.session_timeout_ms;
    if (protocol_name) {
      if (const Buf* b = m.metadata_for(*protocol_name)) ms.subscription = *b;
    }
    ms.assignment = m.assignment;
  }
  return s;
}

}  // namespace shale::coord
