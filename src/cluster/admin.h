// Operator actions on the cluster's records, for `shale cluster ...` and admin APIs. Each talks
// only to the metadata store, so it works from any host that reaches etcd.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>

#include "cluster/placement.h"
#include "meta/meta_store.h"

namespace shale::cluster {

// Every assignment, read from the store.
Result<std::map<PartitionKey, CurrentAssignment>> read_assignments(meta::MetaStore& meta);

// Marks broker `id` decommissioned (the controller moves its partitions away and gives it no
// new ones), then waits up to `wait` until it owns nothing, calling progress(owned) on every
// change. kTimeout if partitions remain (the mark stays: the moves continue).
Status decommission_broker(meta::MetaStore& meta, int32_t id, std::chrono::milliseconds wait,
                           const std::function<void(int owned)>& progress);
// Removes the mark: the broker may receive partitions again.
Status recommission_broker(meta::MetaStore& meta, int32_t id);

}  // namespace shale::cluster
