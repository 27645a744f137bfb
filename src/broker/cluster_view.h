// ClusterView: what a broker knows about the other brokers of its cluster, as the Kafka handlers
// need it (Metadata, DescribeCluster, FindCoordinator). Implemented by cluster::ClusterNode
// (src/cluster) when the metadata store is etcd; absent (nullptr) on a single embedded broker,
// where this broker leads everything.
//
// Threading: every method is thread-safe. The views are non-blocking (an in-memory snapshot
// refreshed by the cluster agent), safe on an event loop; request_move blocks on the metadata
// store (call it from the control pool).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace shale::broker {

struct BrokerEndpoint {
  int32_t id = -1;
  std::string host;
  int32_t port = -1;
  std::string rack;  // empty: none
};

// The owner (Kafka "leader") of one partition and its epoch (the leader epoch clients see).
struct PartitionOwner {
  int32_t node = -1;
  int32_t epoch = -1;
};

// A partition move in progress: `node` still owns it and will hand it to `target`.
struct PartitionMove {
  std::string topic;
  int32_t index = 0;
  int32_t node = -1;
  int32_t target = -1;
};

class ClusterView {
 public:
  virtual ~ClusterView() = default;
  // Every broker whose registration lease is alive, ordered by id.
  virtual std::vector<BrokerEndpoint> live_brokers() const = 0;
  // The elected controller, -1 while there is none.
  virtual int32_t controller_id() const = 0;
  // The assigned owner, nullopt while the partition has no assignment yet.
  virtual std::optional<PartitionOwner> owner(std::string_view topic, int32_t index) const = 0;
  // Moves in progress.
  virtual std::vector<PartitionMove> moves() const = 0;
  // Asks the owner to move the partition to `target` (-1 cancels). Errc::kNotFound: no such
  // partition/assignment; Errc::kInvalidArgument: target is not a live broker.
  virtual Status request_move(const std::string& topic, int32_t index, int32_t target) = 0;
};

}  // namespace shale::broker
