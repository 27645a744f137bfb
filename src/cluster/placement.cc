#include "cluster/placement.h"

#include <algorithm>

namespace shale::cluster {
namespace {

// Load per eligible broker; picks the least loaded (lowest id on ties).
class Loads {
 public:
  explicit Loads(const std::set<int32_t>& eligible) {
    for (int32_t b : eligible) load_[b] = 0;
  }
  void add(int32_t b, int delta) {
    auto it = load_.find(b);
    if (it != load_.end()) it->second += delta;
  }
  std::optional<int32_t> least() const {
    std::optional<int32_t> best;
    for (const auto& [b, l] : load_) {
      if (!best || l < load_.at(*best)) best = b;
    }
    return best;
  }
  std::optional<int32_t> most() const {
    std::optional<int32_t> best;
    for (const auto& [b, l] : load_) {
      if (!best || l > load_.at(*best)) best = b;
    }
    return best;
  }
  int of(int32_t b) const { return load_.count(b) ? load_.at(b) : 0; }

 private:
  std::map<int32_t, int> load_;
};

}  // namespace

std::vector<AssignmentWrite> plan_assignments(const PlacementInput& in) {
  std::set<int32_t> eligible;
  for (int32_t b : in.live) {
    if (!in.decommissioned.count(b)) eligible.insert(b);
  }
  std::vector<AssignmentWrite> out;
  Loads loads(eligible);
  bool moving = false;
  // Pass 1: drop records of deleted partitions; count the load of valid ones.
  for (const auto& [key, cur] : in.assignments) {
    auto t = in.topics.find(key.first);
    if (t == in.topics.end() || key.second >= t->second) {
      out.push_back({key, std::nullopt, cur.mod_revision});
      continue;
    }
    if (!in.live.count(cur.a.node)) continue;  // reassigned below
    if (cur.a.target >= 0 && eligible.count(cur.a.target)) {
      loads.add(cur.a.target, 1);
      moving = true;
    } else {
      loads.add(cur.a.node, 1);
    }
  }
  if (eligible.empty()) return out;  // nobody to give anything to: change nothing else
  // Pass 2: every partition gets a live owner; stale move targets are cancelled.
  for (const auto& [topic, count] : in.topics) {
    for (int32_t i = 0; i < count; ++i) {
      PartitionKey key{topic, i};
      auto it = in.assignments.find(key);
      if (it == in.assignments.end()) {
        int32_t b = *loads.least();
        loads.add(b, 1);
        out.push_back({key, Assignment{b, 1, -1}, Revision(0)});
        continue;
      }
      const CurrentAssignment& cur = it->second;
      if (!in.live.count(cur.a.node)) {
        int32_t b =
            cur.a.target >= 0 && eligible.count(cur.a.target) ? cur.a.target : *loads.least();
        loads.add(b, 1);
        out.push_back({key, Assignment{b, cur.a.epoch + 1, -1, cur.a.moved_ms}, cur.mod_revision});
        continue;
      }
      if (cur.a.target >= 0 && !eligible.count(cur.a.target)) {
        out.push_back(
            {key, Assignment{cur.a.node, cur.a.epoch, -1, cur.a.moved_ms}, cur.mod_revision});
        continue;
      }
      if (cur.a.target < 0 && in.decommissioned.count(cur.a.node)) {
        int32_t b = *loads.least();
        loads.add(b, 1);
        moving = true;
        out.push_back(
            {key, Assignment{cur.a.node, cur.a.epoch, b, cur.a.moved_ms}, cur.mod_revision});
      }
    }
  }
  if (!in.balance || moving) return out;
  // Pass 3: one balancing move when the gap is at least 2.
  std::set<PartitionKey> touched;
  for (const auto& w : out) touched.insert(w.partition);
  auto hi = loads.most();
  auto lo = loads.least();
  if (!hi || !lo || loads.of(*hi) - loads.of(*lo) < 2) return out;
  for (const auto& [key, cur] : in.assignments) {
    if (touched.count(key) || cur.a.node != *hi || cur.a.target >= 0) continue;
    auto t = in.topics.find(key.first);
    if (t == in.topics.end() || key.second >= t->second) continue;
    out.push_back(
        {key, Assignment{cur.a.node, cur.a.epoch, *lo, cur.a.moved_ms}, cur.mod_revision});
    break;
  }
  return out;
}

}  // namespace shale::cluster
