// Record layout of the internal topic __consumer_offsets: Kafka's own key/value schemas, so
// tools that decode __consumer_offsets (kafka-console-consumer with the offsets formatter,
// kcat + a decoder) understand Shale's log. All integers big-endian; strings are int16 length +
// bytes (length -1 = null); bytes are int32 length + bytes.
//
//   OffsetCommitKey   v1: version int16 = 1, group string, topic string, partition int32
//   OffsetCommitValue v3: version int16 = 3, offset int64, leader_epoch int32, metadata string,
//                         commit_timestamp int64
//                     v1: version int16 = 1, offset int64, metadata string,
//                         commit_timestamp int64, expire_timestamp int64  (only when a
//                         retention was requested, OffsetCommit v2-4)
//   GroupMetadataKey  v2: version int16 = 2, group string
//   GroupMetadataValue v3: version int16 = 3, protocol_type string, generation int32,
//                         protocol nullable-string, leader nullable-string,
//                         current_state_timestamp int64, members int32 count x {member_id
//                         string, group_instance_id nullable-string, client_id string,
//                         client_host string, rebalance_timeout int32, session_timeout int32,
//                         subscription bytes, assignment bytes}
// A null record value is a tombstone (offset deleted / group deleted); the topic is compacted.
//
// Shale's own record (compaction, see offsets_replay.h), never written by Kafka:
//   SnapshotMarkerKey   version int16 = 0x7fff (far above Kafka's key versions 0-2 and the
//                       KIP-848 ones), nothing else
//   SnapshotMarkerValue version int16 = 0, base_offset int64, records int32, timestamp int64
// It is the first record of a snapshot batch; the `records` records after it in the same batch
// are the full live state of the partition's groups as of log offset `base_offset`.
// The partition of a group is (Java String.hashCode(group) & 0x7fffffff) % partitions, as in
// Kafka's GroupMetadataManager.partitionFor.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "base/buf.h"
#include "base/result.h"
#include "coord/group.h"

namespace shale::coord {

inline constexpr const char* kOffsetsTopic = "__consumer_offsets";
inline constexpr int32_t kDefaultOffsetsPartitions = 50;  // offsets.topic.num.partitions
inline constexpr int16_t kOffsetKeyVersion = 1;
inline constexpr int16_t kGroupKeyVersion = 2;
inline constexpr int16_t kOffsetValueVersion = 3;
inline constexpr int16_t kOffsetValueVersionWithExpiry = 1;
inline constexpr int16_t kGroupValueVersion = 3;
inline constexpr int16_t kSnapshotKeyVersion = 0x7fff;
inline constexpr int16_t kSnapshotValueVersion = 0;
static_assert(kOffsetKeyVersion < kGroupKeyVersion, "key versions 0-1 are offsets, 2 is groups");

// Java's String.hashCode over the UTF-16 code units of a UTF-8 string.
int32_t java_string_hash(std::string_view s);
// The __consumer_offsets partition of a group, as Kafka computes it; -1 when `partitions` <= 0
// (the topic is not known yet), never a division by zero.
int32_t partition_for_group(std::string_view group, int32_t partitions);

std::string encode_offset_key(const std::string& group, const TopicPartition& tp);
std::string encode_offset_value(const OffsetAndMetadata& om);
std::string encode_group_key(const std::string& group);
std::string encode_group_value(const GroupSnapshot& g);

struct OffsetRecordKey {
  std::string group;
  TopicPartition tp;
};
struct GroupRecordKey {
  std::string group;
};
using RecordKey = std::variant<OffsetRecordKey, GroupRecordKey>;

Result<RecordKey> decode_key(std::string_view key);

struct SnapshotMarker {
  int64_t base_offset = 0;  // state as of this log offset: replay resumes here after loading it
  int32_t records = 0;      // records following the marker in its batch
  int64_t timestamp_ms = 0;
};
std::string encode_snapshot_key();
std::string encode_snapshot_value(const SnapshotMarker& m);
bool is_snapshot_key(std::string_view key);
Result<SnapshotMarker> decode_snapshot_value(std::string_view value);
Result<OffsetAndMetadata> decode_offset_value(std::string_view value);
Result<GroupSnapshot> decode_group_value(std::string_view value);

}  // namespace shale::coord
