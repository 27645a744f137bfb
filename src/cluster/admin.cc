#include "cluster/admin.h"

#include <fmt/format.h>

#include <thread>

#include "base/log.h"
#include "cluster/records.h"

namespace shale::cluster {

Result<std::map<PartitionKey, CurrentAssignment>> read_assignments(meta::MetaStore& meta) {
  const std::string pre(kAssignmentsPrefix);
  SHALE_ASSIGN_OR_RETURN(meta::RangeResult r, meta.get(pre, meta::prefix_end(pre)));
  std::map<PartitionKey, CurrentAssignment> out;
  for (const auto& kv : r.kvs) {
    PartitionKey key;
    auto a = decode_assignment(kv.value);
    if (!parse_assignment_key(kv.key, &key.first, &key.second) || !a.ok()) {
      SHALE_LOG_WARN("cluster", "ignoring malformed assignment {}", kv.key);
      continue;
    }
    out[key] = CurrentAssignment{*a, kv.mod_revision};
  }
  return out;
}

Status decommission_broker(meta::MetaStore& meta, int32_t id, std::chrono::milliseconds wait,
                           const std::function<void(int owned)>& progress) {
  SHALE_ASSIGN_OR_RETURN(Revision rev, meta.put(decommission_key(id), ""));
  (void)rev;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  int last = -1;
  for (;;) {
    SHALE_ASSIGN_OR_RETURN(auto all, read_assignments(meta));
    int owned = 0;
    for (const auto& [k, c] : all) owned += c.a.node == id;
    if (owned != last && progress) progress(owned);
    last = owned;
    if (owned == 0) return {};
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status(Errc::kTimeout,
                    fmt::format("broker {} still owns {} partitions (moves continue)", id, owned));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Status recommission_broker(meta::MetaStore& meta, int32_t id) {
  auto r = meta.del(decommission_key(id));
  if (!r.ok()) return r.error();
  return {};
}

}  // namespace shale::cluster
