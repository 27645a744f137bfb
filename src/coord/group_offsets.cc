// Offsets half of GroupCoordinator: commit, fetch, delete, expiry, plus Describe/List/Delete
// groups and the restore path used when replaying __consumer_offsets.
#include <algorithm>
#include <cctype>
#include <set>

#include "base/endian.h"
#include "coord/group_coordinator.h"

namespace shale::coord {
namespace {

// Topics of a ConsumerProtocolSubscription (any version: they all start with
// int16 version, int32 count, count x (int16 length, bytes)). nullopt if unparseable.
std::optional<std::set<std::string>> subscribed_topics(const Buf& b) {
  std::set<std::string> out;
  const uint8_t* p = b.data();
  size_t n = b.size(), pos = 2;
  if (n < 6) return std::nullopt;
  int32_t count = static_cast<int32_t>(load_be<uint32_t>(p + pos));
  pos += 4;
  if (count < 0) return std::nullopt;
  for (int32_t i = 0; i < count; ++i) {
    if (pos + 2 > n) return std::nullopt;
    size_t len = load_be<uint16_t>(p + pos);
    pos += 2;
    if (pos + len > n) return std::nullopt;
    out.emplace(reinterpret_cast<const char*>(p + pos), len);
    pos += len;
  }
  return out;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

void GroupCoordinator::commit_offsets(CommitRequest req, CommitCallback cb) {
  std::vector<int16_t> errors(req.offsets.size(), err::kNone);
  const uint64_t accepted_gen = load_gen_ ? load_gen_(req.group_id) : 0;
  int16_t all = unavailable(req.group_id);
  {
    std::lock_guard lk(mu_);
    Group* g = find(req.group_id);
    if (all != err::kNone) {
      // not served here (now)
    } else if (req.group_id.empty()) {
      all = err::kInvalidGroupId;
    } else if (!g) {
      if (req.generation < 0) {
        g = &get_or_create(req.group_id);  // a standalone consumer's group
      } else {
        all = err::kIllegalGeneration;  // it thinks it is in a group we do not know
      }
    } else if (g->state == GroupState::kDead) {
      all = err::kCoordinatorNotAvailable;
    } else if (req.generation < 0 && g->state == GroupState::kEmpty) {
      // standalone commit into an empty group: allowed
    } else if (g->is_fenced_static(req.member_id, req.instance_id)) {
      all = err::kFencedInstanceId;
    } else if (!req.member_id.empty() && !g->has_member(req.member_id)) {
      all = err::kUnknownMemberId;
    } else if (req.generation != g->generation) {
      all = err::kIllegalGeneration;
    } else if (g->state == GroupState::kCompletingRebalance) {
      all = err::kRebalanceInProgress;
    } else if (g->has_member(req.member_id)) {
      Member& m = g->members.at(req.member_id);
      m.heartbeat_deadline = now() + std::chrono::milliseconds(m.session_timeout_ms);
    }
    if (all == err::kNone) {
      const int64_t now_ms = clock_.wall_ms();
      for (size_t i = 0; i < req.offsets.size(); ++i) {
        auto& om = req.offsets[i].second;
        if (om.metadata && om.metadata->size() > opts_.max_metadata_bytes) {
          errors[i] = err::kOffsetMetadataTooLarge;
          continue;
        }
        if (om.commit_timestamp_ms < 0) om.commit_timestamp_ms = now_ms;
        if (req.retention_ms >= 0)
          om.expire_timestamp_ms = om.commit_timestamp_ms + req.retention_ms;
      }
    }
  }
  if (all != err::kNone) {
    std::fill(errors.begin(), errors.end(), all);
    cb(std::move(errors));
    return;
  }
  std::vector<std::pair<TopicPartition, std::optional<OffsetAndMetadata>>> entries;
  for (size_t i = 0; i < req.offsets.size(); ++i) {
    if (errors[i] == err::kNone) entries.emplace_back(req.offsets[i].first, req.offsets[i].second);
  }
  // Runs once the offsets are durable.
  auto apply = [this, group = req.group_id, entries, accepted_gen] {
    if (gate_ && gate_(group) == err::kNotCoordinator) return;  // moved away meanwhile
    if (load_gen_ && load_gen_(group) != accepted_gen) return;  // moved and came back meanwhile
    std::lock_guard lk(mu_);
    Group& g = get_or_create(group);
    for (auto& [tp, om] : entries) g.offsets[tp] = *om;
  };
  if (!store_ || entries.empty()) {
    apply();
    cb(std::move(errors));
    return;
  }
  auto done = [life = life_, apply = std::move(apply), errors = std::move(errors),
               cb = std::move(cb)](bool ok) mutable {
    if (!ok) {
      for (auto& e : errors) {
        if (e == err::kNone) e = err::kCoordinatorNotAvailable;
      }
    } else {
      // A coordinator destroyed meanwhile is not updated; replay will have the offsets.
      std::lock_guard lk(life->mu);
      if (life->gc) apply();
    }
    cb(std::move(errors));
  };
  store_->write_offsets(req.group_id, std::move(entries), std::move(done));
}

FetchResult GroupCoordinator::fetch_offsets(
    const std::string& group_id, const std::optional<std::vector<TopicPartition>>& partitions) {
  FetchResult r;
  if (int16_t e = unavailable(group_id); e != err::kNone) {
    r.error = e;
    return r;
  }
  std::lock_guard lk(mu_);
  Group* g = find(group_id);
  if (!partitions) {
    if (g) {
      for (const auto& [tp, om] : g->offsets) {
        r.offsets.push_back({tp, om.offset, om.leader_epoch, om.metadata, err::kNone});
      }
    }
    return r;
  }
  for (const auto& tp : *partitions) {
    FetchedOffset f;
    f.tp = tp;
    f.metadata = "";
    if (g) {
      auto it = g->offsets.find(tp);
      if (it != g->offsets.end()) {
        f.offset = it->second.offset;
        f.leader_epoch = it->second.leader_epoch;
        f.metadata = it->second.metadata;
      }
    }
    r.offsets.push_back(std::move(f));
  }
  return r;
}

std::pair<int16_t, std::vector<int16_t>> GroupCoordinator::delete_offsets(
    const std::string& group_id, const std::vector<TopicPartition>& partitions) {
  std::vector<std::pair<TopicPartition, std::optional<OffsetAndMetadata>>> tombstones;
  std::pair<int16_t, std::vector<int16_t>> res{err::kNone, {}};
  {
    if (int16_t e = unavailable(group_id); e != err::kNone) return {e, {}};
    std::lock_guard lk(mu_);
    Group* g = find(group_id);
    if (!g || g->state == GroupState::kDead) return {err::kGroupIdNotFound, {}};
    std::optional<std::set<std::string>> subscribed;  // nullopt = treat every topic as in use
    if (g->members.empty()) {
      subscribed.emplace();
    } else if (g->protocol_type == "consumer" && g->protocol_name) {
      subscribed.emplace();
      for (const auto& [id, m] : g->members) {
        const Buf* md = m.metadata_for(*g->protocol_name);
        auto t = md ? subscribed_topics(*md) : std::nullopt;
        if (!t) {
          subscribed.reset();
          break;
        }
        subscribed->insert(t->begin(), t->end());
      }
    } else {
      return {err::kNonEmptyGroup, {}};
    }
    for (const auto& tp : partitions) {
      if (!subscribed || subscribed->count(tp.topic)) {
        res.second.push_back(err::kGroupSubscribedToTopic);
        continue;
      }
      res.second.push_back(err::kNone);
      if (g->offsets.erase(tp)) tombstones.emplace_back(tp, std::nullopt);
    }
  }
  if (store_ && !tombstones.empty()) {
    store_->write_offsets(group_id, std::move(tombstones), [](bool) {});
  }
  return res;
}

void GroupCoordinator::expire_offsets(Group& g, Actions& out) {
  const int64_t now_ms = clock_.wall_ms();
  const bool empty = g.state == GroupState::kEmpty;
  std::vector<std::pair<TopicPartition, std::optional<OffsetAndMetadata>>> gone;
  for (auto it = g.offsets.begin(); it != g.offsets.end();) {
    const auto& om = it->second;
    bool expire = om.expire_timestamp_ms >= 0
                      ? om.expire_timestamp_ms <= now_ms
                      : empty && std::max(g.empty_since_ms, om.commit_timestamp_ms) +
                                         opts_.offsets_retention_ms <=
                                     now_ms;
    if (expire) {
      gone.emplace_back(it->first, std::nullopt);
      it = g.offsets.erase(it);
    } else {
      ++it;
    }
  }
  if (store_ && !gone.empty()) {
    out.push_back([store = store_, id = g.id, gone = std::move(gone)]() mutable {
      store->write_offsets(id, std::move(gone), [](bool) {});
    });
  }
}

GroupDescription GroupCoordinator::describe_group(const std::string& group_id) {
  GroupDescription d;
  d.group_id = group_id;
  if (int16_t e = unavailable(group_id); e != err::kNone) {
    d.error = e;
    return d;
  }
  std::lock_guard lk(mu_);
  Group* g = find(group_id);
  if (group_id.empty()) {
    d.error = err::kInvalidGroupId;
    return d;
  }
  if (!g) return d;  // Kafka: state "Dead", no error
  d.state = state_name(g->state);
  d.protocol_type = g->protocol_type;
  const bool stable = g->state == GroupState::kStable;
  if (stable && g->protocol_name) d.protocol_data = *g->protocol_name;
  for (const auto& [id, m] : g->members) {
    auto& dm = d.members.emplace_back();
    dm.member_id = id;
    dm.instance_id = m.instance_id;
    dm.client_id = m.client_id;
    dm.client_host = m.client_host;
    if (stable) {
      const Buf* md = m.metadata_for(*g->protocol_name);
      if (md) dm.metadata = *md;
      dm.assignment = m.assignment;
    }
  }
  return d;
}

std::vector<GroupListing> GroupCoordinator::list_groups(
    const std::vector<std::string>& states_filter) {
  std::set<std::string> want;
  for (const auto& s : states_filter) want.insert(lower(s));
  std::lock_guard lk(mu_);
  std::vector<GroupListing> out;
  for (const auto& [id, g] : groups_) {
    std::string st = state_name(g->state);
    if (!want.empty() && !want.count(lower(st))) continue;
    out.push_back({id, g->protocol_type, st});
  }
  return out;
}

int16_t GroupCoordinator::delete_group(const std::string& group_id) {
  std::vector<std::pair<TopicPartition, std::optional<OffsetAndMetadata>>> tombstones;
  {
    if (int16_t e = unavailable(group_id); e != err::kNone) return e;
    std::lock_guard lk(mu_);
    if (group_id.empty()) return err::kInvalidGroupId;
    Group* g = find(group_id);
    if (!g || g->state == GroupState::kDead) return err::kGroupIdNotFound;
    if (g->state != GroupState::kEmpty || !g->members.empty()) return err::kNonEmptyGroup;
    for (const auto& [tp, om] : g->offsets) tombstones.emplace_back(tp, std::nullopt);
    groups_.erase(group_id);
  }
  if (store_) {
    if (!tombstones.empty()) store_->write_offsets(group_id, std::move(tombstones), [](bool) {});
    store_->write_group(group_id, std::nullopt, [](bool) {});
  }
  return err::kNone;
}

void GroupCoordinator::restore_offsets(const std::string& group, const TopicPartition& tp,
                                       std::optional<OffsetAndMetadata> value) {
  std::lock_guard lk(mu_);
  if (value) {
    get_or_create(group).offsets[tp] = *value;
  } else if (Group* g = find(group)) {
    g->offsets.erase(tp);
  }
}

void GroupCoordinator::restore_group(const std::string& group, std::optional<GroupSnapshot> snap) {
  std::lock_guard lk(mu_);
  if (!snap) {
    if (Group* g = find(group)) {
      g->persisted.reset();
      if (g->offsets.empty()) groups_.erase(group);
    }
    return;
  }
  Group& g = get_or_create(group);
  g.persisted = snap;
  g.protocol_type = snap->protocol_type;
  g.generation = snap->generation;
  g.protocol_name = snap->protocol_name;
  g.leader = snap->leader;
  g.members.clear();
  g.static_members.clear();
  for (auto& ms : snap->members) {
    Member m;
    m.id = ms.member_id;
    m.instance_id = ms.instance_id;
    m.client_id = ms.client_id;
    m.client_host = ms.client_host;
    m.session_timeout_ms = ms.session_timeout_ms;
    m.rebalance_timeout_ms = ms.rebalance_timeout_ms;
    m.protocol_type = snap->protocol_type;
    if (snap->protocol_name) m.protocols.push_back({*snap->protocol_name, ms.subscription});
    m.assignment = ms.assignment;
    // Restored members get a fresh session: they expire unless they heartbeat.
    m.heartbeat_deadline = now() + std::chrono::milliseconds(m.session_timeout_ms);
    if (m.instance_id) g.static_members[*m.instance_id] = m.id;
    g.members[m.id] = std::move(m);
  }
  if (g.members.empty()) {
    g.state = GroupState::kEmpty;
    g.empty_since_ms =
        snap->current_state_timestamp_ms >= 0 ? snap->current_state_timestamp_ms : clock_.wall_ms();
  } else {
    g.state = GroupState::kStable;
  }
}

}  // namespace shale::coord

namespace shale::coord {

std::vector<GroupExport> GroupCoordinator::export_state(
    const std::function<bool(const std::string&)>& want) {
  std::lock_guard lk(mu_);
  std::vector<GroupExport> out;
  for (const auto& [id, g] : groups_) {
    if ((!g->persisted && g->offsets.empty()) || (want && !want(id))) continue;
    out.push_back({id, g->persisted, g->offsets});
  }
  return out;
}

}  // namespace shale::coord
