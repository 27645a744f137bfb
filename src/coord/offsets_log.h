// OffsetsLog: the GroupStore over the internal topic __consumer_offsets (one stream per
// partition, Kafka's record layout: see offsets_codec.h). Each write is one uncompressed record
// batch appended to the group's partition; `done` runs once the store acknowledged it (durable in
// the WAL). load_blocking() creates the topic if missing and replays every partition into a
// GroupCoordinator (offsets_replay.h).
//
// Compaction: maintain() (the coordinator's ticker) snapshots a partition once
// `compact_min_records` records and at least as many as it had live keys were appended since its
// last snapshot, then trims the partition below the snapshot's base offset. A snapshot needs a
// moment with no write of the partition in flight: when one is due, new writes of that partition
// are held (queued, in order) until those in flight complete — at most one WAL round trip plus a
// tick (50 ms), once per threshold — so steady commit traffic cannot postpone compaction forever.
// The protocol and why a crash anywhere in it is safe are in offsets_replay.h; the log therefore
// stays around (live keys + records since the last snapshot) per partition instead of growing
// forever.
//
// Ownership: borrows the Broker (must outlive it). Writes in flight and snapshots running on the
// control pool hold the shared per-partition counters, never `this`, so the log may be destroyed
// while they complete. Threading: write_* and maintain() are thread-safe and never block
// (completions and trims run on the broker's control pool); load_blocking() blocks and runs on
// the control pool, before the coordinator serves requests.
// Ordering: two writes for one group issued concurrently from different threads may reach the
// log in either order, but their `done` callbacks run in log order (one thread at a time per
// partition), so the coordinator's memory ends as replay of the log would: a snapshot of memory
// is then exactly what the log says.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "base/result.h"
#include "coord/group_coordinator.h"

namespace shale::broker {
class Broker;
class Partition;
}  // namespace shale::broker

namespace shale::coord {

class OffsetsLog final : public GroupStore {
 public:
  static constexpr int64_t kDefaultCompactMinRecords = 1000;
  OffsetsLog(broker::Broker& broker, int32_t partitions,
             int64_t compact_min_records = kDefaultCompactMinRecords);
  ~OffsetsLog() override;  // fails writes still held by a drain (done(false))

  // Creates __consumer_offsets (`partitions` partitions) unless it exists, then restores every
  // group and offset into `gc`. Returns the number of records replayed.
  // In a cluster (broker.cluster() set) only the partitions this broker owns are replayed; their
  // indexes go to `replayed` when given.
  Result<int64_t> load_blocking(GroupCoordinator& gc, std::vector<int32_t>* replayed = nullptr);
  // Partitions of __consumer_offsets (final once load_blocking() returned).
  int32_t partitions() const { return partitions_.load(); }
  // Cluster hook: replays one partition this broker just gained (its groups move here).
  Result<int64_t> load_partition_blocking(GroupCoordinator& gc,
                                          std::shared_ptr<broker::Partition> part);

  void write_offsets(
      const std::string& group,
      std::vector<std::pair<TopicPartition, std::optional<OffsetAndMetadata>>> entries,
      std::function<void(bool ok)> done) override;
  void write_group(const std::string& group, std::optional<GroupSnapshot> snapshot,
                   std::function<void(bool ok)> done) override;
  void maintain(GroupCoordinator& gc) override;

  // Cluster hook: a partition is compacted only while `guard(index)` returns the same non-zero
  // token before and after its state is captured, and its snapshot's trim runs only if the token
  // is still the same then. broker_coordinator returns the partition's generation while its
  // replay is complete, 0 otherwise: a snapshot of a partition this broker has not loaded (being
  // replayed, or its replay failed) would hold no or part of its groups and, once trimmed below,
  // lose the rest for good. Unset (a single broker): every partition is compacted once the
  // whole topic is loaded. Set before the ticker starts; called without any lock of this log.
  using CompactionGuard = std::function<uint64_t(int32_t index)>;
  void set_compaction_guard(CompactionGuard guard) { guard_ = std::move(guard); }

  // A write held back while its partition drains for a snapshot.
  struct Queued {
    Buf batch;
    int64_t records = 0;
    std::function<void(bool)> done;
  };
  // One write in flight; completions are delivered in the order the writes reached the log.
  struct Slot {
    bool completed = false;
    bool ok = false;
    std::function<void(bool)> done;
  };
  // Per-partition bookkeeping shared with in-flight completions.
  struct PartState {
    int inflight = 0;            // writes appended and not yet completed
    int64_t since_snapshot = 0;  // records appended since the last snapshot's capture
    int64_t live = 0;            // live keys at the last snapshot (or replay)
    bool draining = false;       // a snapshot is due: new writes wait in `held`
    bool compacting = false;     // a snapshot is being written / trimmed
    std::vector<Queued> held;
    std::deque<std::shared_ptr<Slot>> order;  // in log order
    bool delivering = false;                  // a thread is running completions of `order`
  };
  struct State {
    std::mutex mu;
    std::vector<PartState> parts;  // guarded by mu
    int64_t snapshots = 0;         // guarded by mu; completed snapshot + trim rounds
  };

 private:
  void append(const std::string& group, Buf batch, int64_t records, std::function<void(bool)> done);
  void issue(int32_t index, Buf batch, std::function<void(bool)> done);  // counted in inflight
  // Ends a drain: issues the held writes, in order.
  void release_held(int32_t index);
  // Ends a drain of a partition that is not loaded here: fails the held writes.
  void fail_held(int32_t index);
  // Marks `slot` done and runs every completed write at the head of the partition's queue.
  static void complete(const std::shared_ptr<State>& state, int32_t index,
                       const std::shared_ptr<Slot>& slot, bool ok);

  broker::Broker& broker_;
  std::atomic<int32_t> partitions_;
  const int64_t compact_min_records_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
  CompactionGuard guard_;
};

}  // namespace shale::coord
