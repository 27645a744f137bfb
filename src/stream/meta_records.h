// Metadata records of the stream store and their compact binary encoding (see README.md,
// "Metadata layout"). Every value starts with a one-byte record version; integers are
// little-endian. Decoding is strict: a wrong version or a short value is Errc::kCorruption.
//
// Keys (ids zero-padded to 20 digits so that key order == id order):
//   /shale/streams/<id>      StreamRecord
//   /shale/objects/<id>      ObjectRecord (one per committed object; the object index)
//   /shale/gc/<id>           PendingDelete (object to delete from object storage after a deadline)
//   /shale/ids/stream        next stream id  (decimal; CAS counter)
//   /shale/ids/object        next object id  (decimal; CAS counter)
//   /shale/nodes/<node>/incarnation  per-node start counter (decimal), part of object keys
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/ids.h"
#include "base/result.h"

namespace shale::stream {

inline constexpr uint8_t kStreamRecordVersion = 1;
inline constexpr uint8_t kObjectRecordVersion = 1;
inline constexpr uint8_t kPendingDeleteVersion = 1;

enum class StreamState : uint8_t { kActive = 0, kDeleted = 1 };

struct StreamRecord {
  StreamState state = StreamState::kActive;
  Epoch epoch{0};
  Offset start{0};          // first readable offset
  Offset committed_end{0};  // end of the uploaded (object-indexed) prefix
  int64_t retention_ms = -1;
  int64_t retention_bytes = -1;
};
// version u8, state u8, epoch i64, start i64, committed_end i64, retention_ms i64, retention_bytes
// i64
inline constexpr size_t kStreamRecordSize = 2 + 5 * 8;
static_assert(kStreamRecordSize == 42);

enum class ObjectKind : uint8_t { kStreamSet = 0, kStream = 1 };

// One stream's contiguous offsets inside an object.
struct ObjectRange {
  StreamId stream{0};
  Offset start{0};
  Offset end{0};        // exclusive
  uint64_t bytes = 0;   // payload bytes of the range (for size retention)
  int64_t max_ts = -1;  // max batch timestamp in the range (for time retention)
};
// stream u64, start i64, end i64, bytes u64, max_ts i64
inline constexpr size_t kObjectRangeSize = 40;

struct ObjectRecord {
  ObjectId id{0};  // from the key, not encoded in the value
  std::string key;
  uint64_t size = 0;
  ObjectKind kind = ObjectKind::kStreamSet;
  int64_t data_time_ms = 0;         // when the object was written (ages for compaction)
  std::vector<ObjectRange> ranges;  // sorted by (stream, start)
};
// version u8, kind u8, size u64, data_time i64, key_len u16, key, range_count u32, ranges

struct PendingDelete {
  std::string key;
  int64_t deadline_ms = 0;
};

std::string stream_key(StreamId id);
std::string object_key(ObjectId id);
std::string gc_key(ObjectId id);
inline constexpr std::string_view kStreamsPrefix = "/shale/streams/";
inline constexpr std::string_view kObjectsPrefix = "/shale/objects/";
inline constexpr std::string_view kGcPrefix = "/shale/gc/";
inline constexpr std::string_view kStreamIdCounter = "/shale/ids/stream";
inline constexpr std::string_view kObjectIdCounter = "/shale/ids/object";
std::string node_incarnation_key(NodeId node);
// The id at the end of a key built by stream_key/object_key/gc_key.
Result<uint64_t> id_from_key(std::string_view key);

std::string encode(const StreamRecord& r);
Result<StreamRecord> decode_stream(std::string_view v);
std::string encode(const ObjectRecord& r);
Result<ObjectRecord> decode_object(ObjectId id, std::string_view v);
std::string encode(const PendingDelete& r);
Result<PendingDelete> decode_pending_delete(std::string_view v);

}  // namespace shale::stream
