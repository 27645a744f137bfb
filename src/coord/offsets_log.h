// OffsetsLog: the GroupStore over the internal topic __consumer_offsets (one stream per
// partition, Kafka's record layout: see offsets_codec.h). Each write is one uncompressed record
// batch appended to the group's partition; `done` runs once the store acknowledged it (durable in
// the WAL). load_blocking() creates the topic if missing and replays every partition into a
// GroupCoordinator (offsets_replay.h).
//
// Compaction: maintain() (the coordinator's ticker) snapshots a partition once
// `compact_min_records` records and at least as many as it had live keys were appended since its
// last snapshot, then trims the partition below the snapshot's base offset. The protocol and why
// a crash anywhere in it is safe are in offsets_replay.h; the log therefore stays around
// (live keys + records since the last snapshot) per partition instead of growing forever.
//
// Ownership: borrows the Broker (must outlive it). Writes in flight and snapshots running on the
// control pool hold the shared per-partition counters, never `this`, so the log may be destroyed
// while they complete. Threading: write_* and maintain() are thread-safe and never block
// (completions and trims run on the broker's control pool); load_blocking() blocks and runs on
// the control pool, before the coordinator serves requests.
// Ordering: two writes for one group issued concurrently from different threads may reach the
// log in either order; the coordinator serialises writes per group only through its callers.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "base/result.h"
#include "coord/group_coordinator.h"

namespace shale::broker {
class Broker;
}  // namespace shale::broker

namespace shale::coord {

class OffsetsLog final : public GroupStore {
 public:
  static constexpr int64_t kDefaultCompactMinRecords = 1000;
  OffsetsLog(broker::Broker& broker, int32_t partitions,
             int64_t compact_min_records = kDefaultCompactMinRecords);

  // Creates __consumer_offsets (`partitions` partitions) unless it exists, then restores every
  // group and offset into `gc`. Returns the number of records replayed.
  Result<int64_t> load_blocking(GroupCoordinator& gc);

  void write_offsets(
      const std::string& group,
      std::vector<std::pair<TopicPartition, std::optional<OffsetAndMetadata>>> entries,
      std::function<void(bool ok)> done) override;
  void write_group(const std::string& group, std::optional<GroupSnapshot> snapshot,
                   std::function<void(bool ok)> done) override;
  void maintain(GroupCoordinator& gc) override;

  // Per-partition bookkeeping shared with in-flight completions.
  struct PartState {
    int inflight = 0;            // writes appended and not yet completed
    int64_t since_snapshot = 0;  // records appended since the last snapshot's capture
    int64_t live = 0;            // live keys at the last snapshot (or replay)
    bool compacting = false;     // a snapshot is being written / trimmed
  };
  struct State {
    std::mutex mu;
    std::vector<PartState> parts;  // guarded by mu
    int64_t snapshots = 0;         // guarded by mu; completed snapshot + trim rounds
  };

 private:
  void append(const std::string& group, Buf batch, int64_t records, std::function<void(bool)> done);

  broker::Broker& broker_;
  int32_t partitions_;
  const int64_t compact_min_records_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace shale::coord
