// Compaction of __consumer_offsets by snapshots, and the replay that rebuilds state from it.
// Pure logic over record batches (no broker): OffsetsLog feeds it partition reads, unit tests
// feed it an in-memory log.
//
// Snapshot protocol (per partition, see OffsetsLog::maintain):
//   1. With no write of this partition in flight, read P = high watermark: every record below P
//      is already applied to the coordinator's memory, in log order (OffsetsLog delivers write
//      completions in log order and, while a snapshot is due, holds new writes back).
//   2. Capture the durable state of the partition's groups (GroupCoordinator::export_state).
//   3. Append one batch: a SnapshotMarker{base_offset = P} record, then one record per live key
//      (group metadata, offsets). It lands at some S >= P.
//   4. Once durable, trim the partition's log start to P (never further: [P, S) is still needed).
// Replay: find the last snapshot batch; load it; then apply, in log order, every ordinary record
// from max(P, log start) to the end, skipping snapshot batches. Records in [P, S) were written
// after the capture's cut-off, so re-applying them on top of the snapshot is exact; a crash
// between 3 and 4 leaves records below P, which replay ignores. Without a snapshot, replay applies
// everything: last record per key wins, a null value deletes the key (what compaction keeps).
//
// Thread-safety: value types, single-threaded.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/buf.h"
#include "base/result.h"
#include "coord/group_coordinator.h"
#include "coord/offsets_codec.h"

namespace shale::coord {

using OffsetEntries = std::vector<std::pair<TopicPartition, std::optional<OffsetAndMetadata>>>;

// The batches OffsetsLog appends (base offset 0: the partition assigns offsets).
Buf build_offsets_batch(const std::string& group, const OffsetEntries& entries, int64_t now_ms);
Buf build_group_batch(const std::string& group, const std::optional<GroupSnapshot>& snapshot,
                      int64_t now_ms);
// A snapshot batch: the marker, then every group's metadata and offsets.
Buf build_snapshot_batch(int64_t base_offset, const std::vector<GroupExport>& groups,
                         int64_t now_ms);
// The marker of a snapshot batch (nullopt: an ordinary batch). An error if the batch starts with
// a marker that is malformed or whose record count does not match.
Result<std::optional<SnapshotMarker>> snapshot_marker_of(const Buf& batch);

class PartitionReplay {
 public:
  // Calls on_batch with every batch holding records of [from, to), in log order. Batches may
  // start before `from`; records outside [from, to) are ignored by the caller.
  using OnBatch = std::function<Status(const Buf& batch)>;
  using ReadFn = std::function<Status(int64_t from, int64_t to, const OnBatch& on_batch)>;

  // Rebuilds the live keys of the partition whose log is [start, end).
  Status run(int64_t start, int64_t end, const ReadFn& read);
  // Restores the live keys into `gc` (group metadata first, then offsets).
  Status apply_to(GroupCoordinator& gc) const;

  int64_t records() const { return records_; }       // ordinary records applied
  size_t live_keys() const { return live_.size(); }  // keys alive at the end
  std::optional<int64_t> snapshot_offset() const { return snapshot_at_; }

 private:
  Status apply_batch(const Buf& batch, int64_t from, int64_t to);
  std::map<std::string, std::string> live_;  // key bytes -> value bytes
  int64_t records_ = 0;
  std::optional<int64_t> snapshot_at_;
};

}  // namespace shale::coord
