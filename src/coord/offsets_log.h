// OffsetsLog: the GroupStore over the internal compacted topic __consumer_offsets (one stream
// per partition, Kafka's record layout: see offsets_codec.h). Each write is one uncompressed
// record batch appended to the group's partition; `done` runs once the store acknowledged it
// (durable in the WAL). load_blocking() creates the topic if missing and replays every partition
// into a GroupCoordinator, last record per key winning (what compaction would keep).
//
// Ownership: borrows the Broker (must outlive it). Threading: write_* are thread-safe and never
// block (completions are awaited on the broker's control pool); load_blocking() blocks and runs
// on the control pool, before the coordinator serves requests.
// Ordering: two writes for one group issued concurrently from different threads may reach the
// log in either order; the coordinator serialises writes per group only through its callers.
#pragma once

#include <cstdint>
#include <memory>

#include "base/result.h"
#include "coord/group_coordinator.h"

namespace shale::broker {
class Broker;
class Partition;
}  // namespace shale::broker

namespace shale::coord {

class OffsetsLog final : public GroupStore {
 public:
  OffsetsLog(broker::Broker& broker, int32_t partitions);

  // Creates __consumer_offsets (compacted, `partitions` partitions) unless it exists, then
  // restores every group and offset into `gc`. Returns the number of records replayed.
  // In a cluster (broker.cluster() set) only the partitions this broker owns are replayed.
  Result<int64_t> load_blocking(GroupCoordinator& gc);
  // Cluster hook: replays one partition this broker just gained (its groups move here).
  Result<int64_t> load_partition_blocking(GroupCoordinator& gc,
                                          std::shared_ptr<broker::Partition> part);

  void write_offsets(
      const std::string& group,
      std::vector<std::pair<TopicPartition, std::optional<OffsetAndMetadata>>> entries,
      std::function<void(bool ok)> done) override;
  void write_group(const std::string& group, std::optional<GroupSnapshot> snapshot,
                   std::function<void(bool ok)> done) override;

 private:
  void append(const std::string& group, Buf batch, std::function<void(bool)> done);

  broker::Broker& broker_;
  int32_t partitions_;
};

}  // namespace shale::coord
