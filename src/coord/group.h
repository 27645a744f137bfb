// Plain data of the group coordinator: one classic consumer group, its members and committed
// offsets, plus the Kafka error codes it answers with. No locking here: GroupCoordinator guards
// every Group with its mutex.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/buf.h"

namespace shale::coord {

// Kafka error codes (org.apache.kafka.common.protocol.Errors); fixed by the protocol.
namespace err {
inline constexpr int16_t kNone = 0;
inline constexpr int16_t kUnknownTopicOrPartition = 3;
inline constexpr int16_t kOffsetMetadataTooLarge = 12;
inline constexpr int16_t kCoordinatorLoadInProgress = 14;
inline constexpr int16_t kCoordinatorNotAvailable = 15;
inline constexpr int16_t kNotCoordinator = 16;
inline constexpr int16_t kIllegalGeneration = 22;
inline constexpr int16_t kInconsistentGroupProtocol = 23;
inline constexpr int16_t kInvalidGroupId = 24;
inline constexpr int16_t kUnknownMemberId = 25;
inline constexpr int16_t kInvalidSessionTimeout = 26;
inline constexpr int16_t kRebalanceInProgress = 27;
inline constexpr int16_t kInvalidRequest = 42;
inline constexpr int16_t kNonEmptyGroup = 68;
inline constexpr int16_t kGroupIdNotFound = 69;
inline constexpr int16_t kMemberIdRequired = 79;
inline constexpr int16_t kGroupMaxSizeReached = 81;
inline constexpr int16_t kFencedInstanceId = 82;
inline constexpr int16_t kGroupSubscribedToTopic = 86;
}  // namespace err

enum class GroupState { kEmpty, kPreparingRebalance, kCompletingRebalance, kStable, kDead };
// Kafka's display names ("Empty", "PreparingRebalance", ...), used by Describe/ListGroups.
const char* state_name(GroupState s);

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
};

struct OffsetAndMetadata {
  int64_t offset = -1;
  int32_t leader_epoch = -1;
  std::optional<std::string> metadata;
  int64_t commit_timestamp_ms = 0;
  int64_t expire_timestamp_ms = -1;  // only when the client asked for a retention (v2-4)
};

struct Protocol {
  std::string name;
  Buf metadata;
};

using Deadline = std::chrono::steady_clock::time_point;
struct JoinResult;  // group_coordinator.h
struct SyncResult;

struct Member {
  std::string id;
  std::optional<std::string> instance_id;
  std::string client_id;
  std::string client_host;
  int32_t session_timeout_ms = 0;
  int32_t rebalance_timeout_ms = 0;
  std::string protocol_type;
  std::vector<Protocol> protocols;
  Buf assignment;
  std::function<void(JoinResult)> awaiting_join;  // set while a JoinGroup is parked
  std::function<void(SyncResult)> awaiting_sync;  // set while a SyncGroup is parked
  bool is_new = false;  // joined during the current rebalance (expires on rebalance timeout)
  bool supports_skip_assignment = false;
  Deadline heartbeat_deadline{};

  const Buf* metadata_for(const std::string& protocol) const;
};

// What GroupStore persists about a group after a rebalance (Kafka's GroupMetadataValue).
struct GroupSnapshot {
  std::string protocol_type;
  int32_t generation = 0;
  std::optional<std::string> protocol_name;
  std::optional<std::string> leader;
  int64_t current_state_timestamp_ms = -1;
  struct MemberSnapshot {
    std::string member_id;
    std::optional<std::string> instance_id;
    std::string client_id;
    std::string client_host;
    int32_t rebalance_timeout_ms = 0;
    int32_t session_timeout_ms = 0;
    Buf subscription;
    Buf assignment;
  };
  std::vector<MemberSnapshot> members;
};

struct Group {
  std::string id;
  GroupState state = GroupState::kEmpty;
  std::string protocol_type;  // empty until the first member joins ("consumer" for consumers)
  std::optional<std::string> protocol_name;
  int32_t generation = 0;
  std::optional<std::string> leader;
  std::map<std::string, Member> members;              // by member id
  std::map<std::string, std::string> static_members;  // instance id -> member id
  std::map<std::string, Deadline> pending_members;    // KIP-394 ids handed out, not joined
  std::optional<Deadline> rebalance_deadline;         // PreparingRebalance only
  std::optional<Deadline> initial_delay_deadline;     // delayed first join (Empty start)
  Deadline initial_delay_cap{};                       // the delay never extends past this
  int64_t empty_since_ms = -1;                        // wall clock when it became Empty
  std::map<TopicPartition, OffsetAndMetadata> offsets;
  // What the store holds for this group's metadata (last write_group / restore_group); what
  // snapshots of __consumer_offsets copy, so a replay rebuilds exactly what was persisted.
  std::optional<GroupSnapshot> persisted;
  // Non-zero while the leader's assignment is being made durable (the id of that write): the
  // group stays CompletingRebalance and every SyncGroup waits until the write completes.
  uint64_t sync_write = 0;

  bool has_member(const std::string& id) const { return members.count(id) != 0; }
  // True when the request's instance id maps to another member id (KIP-345 fencing).
  bool is_fenced_static(const std::string& member_id,
                        const std::optional<std::string>& instance_id) const;
  // The protocol every member supports, preferring members' first choices (Kafka's vote).
  std::optional<std::string> select_protocol() const;
  // Would a member with these protocols be compatible with the current members?
  bool supports(const std::string& protocol_type, const std::vector<Protocol>& protos) const;
  int32_t max_rebalance_timeout_ms() const;
  GroupSnapshot snapshot(int64_t now_ms) const;
};

}  // namespace shale::coord
