// Placement: the controller's decisions as a pure function of what it read, so they can be
// unit-tested without a store. Given the live brokers, the topics, and the current assignments,
// it returns the assignment writes that bring the cluster to a valid state:
//   - a partition without an assignment gets the least-loaded eligible broker, epoch 1;
//   - a partition whose owner is not live (lease expired) moves to the least-loaded eligible
//     broker at epoch + 1 (failover; the new owner opens the stream and fences the old one);
//   - a move whose target is not live (or decommissioned) is cancelled;
//   - a partition owned by a decommissioned broker gets a move target;
//   - with balance on, when the busiest eligible broker owns >= 2 more partitions than the
//     idlest and no move is in flight, one partition moves (hysteresis: one at a time, gap 2);
//   - assignments of deleted topics / partitions are deleted.
// Load is the number of partitions a broker owns or is the target of.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/ids.h"
#include "cluster/records.h"

namespace shale::cluster {

using PartitionKey = std::pair<std::string, int32_t>;

struct CurrentAssignment {
  Assignment a;
  Revision mod_revision{0};
};

struct PlacementInput {
  std::set<int32_t> live;                 // brokers with a live lease
  std::set<int32_t> decommissioned;       // live or not: never receive partitions
  std::map<std::string, int32_t> topics;  // name → partition count
  std::map<PartitionKey, CurrentAssignment> assignments;
  bool balance = true;
};

struct AssignmentWrite {
  PartitionKey partition;
  std::optional<Assignment> value;  // nullopt: delete the record
  Revision expected{0};             // CAS: the record's mod revision (0 = must be absent)
};

std::vector<AssignmentWrite> plan_assignments(const PlacementInput& in);

}  // namespace shale::cluster
