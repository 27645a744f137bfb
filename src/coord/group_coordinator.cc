// Membership half of GroupCoordinator: join, sync, heartbeat, leave, rebalance and session
// timeouts. The offsets half is in group_offsets.cc. Mirrors Kafka's classic GroupCoordinator.
#include "coord/group_coordinator.h"

#include <algorithm>
#include <cstdlib>
#include <random>

#include "base/log.h"

namespace shale::coord {
namespace {

std::string random_suffix() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard lk(mu);
  uint64_t a = rng(), b = rng();
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", uint32_t(a >> 32),
                uint32_t((a >> 16) & 0xffff), uint32_t(a & 0xffff), uint32_t(b >> 48),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

bool same_protocols(const std::vector<Protocol>& a, const std::vector<Protocol>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || !(a[i].metadata == b[i].metadata)) return false;
  }
  return true;
}

JoinResult join_error(int16_t e, const std::string& member_id) {
  JoinResult r;
  r.error = e;
  r.member_id = member_id;
  return r;
}

}  // namespace

GroupCoordinator::GroupCoordinator(CoordinatorOptions opts, Clock& clock, GroupStore* store)
    : opts_(opts), clock_(clock), store_(store) {
  life_->gc = this;
}

GroupCoordinator::~GroupCoordinator() {
  stop_ticker();
  // Waits only for a completion running right now (it holds life_->mu briefly), never for I/O.
  std::lock_guard lk(life_->mu);
  life_->gc = nullptr;
}

void GroupCoordinator::run(Actions& a) {
  for (auto& f : a) f();
  a.clear();
}

Group* GroupCoordinator::find(const std::string& id) {
  auto it = groups_.find(id);
  return it == groups_.end() ? nullptr : it->second.get();
}

Group& GroupCoordinator::get_or_create(const std::string& id) {
  auto& slot = groups_[id];
  if (!slot) {
    slot = std::make_unique<Group>();
    slot->id = id;
    slot->empty_since_ms = clock_.wall_ms();
  }
  return *slot;
}

size_t GroupCoordinator::group_count() {
  std::lock_guard lk(mu_);
  return groups_.size();
}

int16_t GroupCoordinator::unavailable(const std::string& group_id) const {
  if (loading()) return err::kCoordinatorLoadInProgress;
  if (!gate_ || group_id.empty()) return err::kNone;  // an empty id gets INVALID_GROUP_ID
  return gate_(group_id);
}

size_t GroupCoordinator::drop_groups(const std::function<bool(const std::string&)>& which) {
  Actions out;
  size_t dropped = 0;
  {
    std::lock_guard lk(mu_);
    for (auto it = groups_.begin(); it != groups_.end();) {
      if (!which(it->first)) {
        ++it;
        continue;
      }
      for (auto& [id, m] : it->second->members) {
        if (m.awaiting_join) {
          out.push_back([cb = std::move(m.awaiting_join),
                         r = join_error(err::kNotCoordinator, id)] { cb(r); });
        }
        if (m.awaiting_sync) {
          SyncResult r;
          r.error = err::kNotCoordinator;
          out.push_back([cb = std::move(m.awaiting_sync), r] { cb(r); });
        }
      }
      it = groups_.erase(it);
      ++dropped;
    }
  }
  run(out);
  return dropped;
}

int16_t GroupCoordinator::check_session_timeouts(const CoordinatorOptions& o,
                                                 const JoinRequest& r) {
  if (r.session_timeout_ms < o.min_session_timeout_ms ||
      r.session_timeout_ms > o.max_session_timeout_ms) {
    return err::kInvalidSessionTimeout;
  }
  return err::kNone;
}

void GroupCoordinator::join_group(JoinRequest req, JoinCallback cb) {
  Actions out;
  const int16_t gate = unavailable(req.group_id);
  {
    std::lock_guard lk(mu_);
    if (req.rebalance_timeout_ms < 0) req.rebalance_timeout_ms = req.session_timeout_ms;
    int16_t e = err::kNone;
    Group* g = nullptr;
    if (gate != err::kNone) {
      e = gate;
    } else if (req.group_id.empty()) {
      e = err::kInvalidGroupId;
    } else if ((e = check_session_timeouts(opts_, req)) != err::kNone) {
    } else if ((g = find(req.group_id)) == nullptr && !req.member_id.empty()) {
      e = err::kUnknownMemberId;
    } else {
      if (!g) g = &get_or_create(req.group_id);
      if (!g->supports(req.protocol_type, req.protocols)) e = err::kInconsistentGroupProtocol;
    }
    if (e != err::kNone) {
      out.push_back([cb, r = join_error(e, req.member_id)] { cb(r); });
    } else if (req.member_id.empty()) {
      join_new_member(*g, req, cb, out);
    } else {
      join_known_member(*g, req, cb, out);
    }
  }
  run(out);
}

void GroupCoordinator::join_new_member(Group& g, JoinRequest& req, JoinCallback& cb, Actions& out) {
  if (req.instance_id && g.static_members.count(*req.instance_id)) {
    join_static_rejoin(g, req, cb, out);
    return;
  }
  if (static_cast<int32_t>(g.members.size()) >= opts_.max_group_size) {
    out.push_back([cb, r = join_error(err::kGroupMaxSizeReached, "")] { cb(r); });
    return;
  }
  std::string id = (req.client_id.empty() ? "member" : req.client_id) + "-" + random_suffix();
  if (!req.instance_id && req.require_known_member_id) {
    // KIP-394: hand out the id first; the member must come back with it.
    g.pending_members[id] = now() + std::chrono::milliseconds(req.session_timeout_ms);
    out.push_back([cb, r = join_error(err::kMemberIdRequired, id)] { cb(r); });
    return;
  }
  add_member_and_rebalance(g, req, id, std::move(cb), out);
}

void GroupCoordinator::join_known_member(Group& g, JoinRequest& req, JoinCallback& cb,
                                         Actions& out) {
  const std::string& id = req.member_id;
  if (g.pending_members.erase(id)) {
    add_member_and_rebalance(g, req, id, std::move(cb), out);
    return;
  }
  int16_t e = err::kNone;
  if (g.is_fenced_static(id, req.instance_id)) {
    e = err::kFencedInstanceId;
  } else if (!g.has_member(id) || g.state == GroupState::kEmpty || g.state == GroupState::kDead) {
    e = err::kUnknownMemberId;
  }
  if (e != err::kNone) {
    out.push_back([cb, r = join_error(e, id)] { cb(r); });
    return;
  }
  Member& m = g.members.at(id);
  const bool changed = !same_protocols(m.protocols, req.protocols);
  switch (g.state) {
    case GroupState::kPreparingRebalance:
      update_member_and_rebalance(g, m, req, std::move(cb), out);
      return;
    case GroupState::kCompletingRebalance:
      if (changed) break;
      // A retried join of this generation (the response was lost): answer it again.
      out.push_back([cb, r = join_result_for(g, m)] { cb(r); });
      return;
    case GroupState::kStable:
      if (changed || g.leader == id) break;  // the leader rejoining forces a new assignment
      out.push_back([cb, r = join_result_for(g, m)] { cb(r); });
      return;
    default:
      return;
  }
  update_member_and_rebalance(g, m, req, std::move(cb), out);
}

void GroupCoordinator::join_static_rejoin(Group& g, JoinRequest& req, JoinCallback& cb,
                                          Actions& out) {
  const std::string old_id = g.static_members.at(*req.instance_id);
  const std::string new_id =
      (req.client_id.empty() ? "member" : req.client_id) + "-" + random_suffix();
  auto node = g.members.extract(old_id);
  if (node.empty()) {  // inconsistent map; treat as a brand-new static member
    g.static_members.erase(*req.instance_id);
    add_member_and_rebalance(g, req, new_id, std::move(cb), out);
    return;
  }
  Member m = std::move(node.mapped());
  // The old incarnation is fenced: its parked requests fail.
  if (m.awaiting_join) {
    out.push_back(
        [f = std::move(m.awaiting_join), r = join_error(err::kFencedInstanceId, old_id)] { f(r); });
    m.awaiting_join = nullptr;
  }
  if (m.awaiting_sync) {
    SyncResult r;
    r.error = err::kFencedInstanceId;
    out.push_back([f = std::move(m.awaiting_sync), r] { f(r); });
    m.awaiting_sync = nullptr;
  }
  const bool changed = !same_protocols(m.protocols, req.protocols);
  m.id = new_id;
  m.client_id = req.client_id;
  m.client_host = req.client_host;
  m.session_timeout_ms = req.session_timeout_ms;
  m.rebalance_timeout_ms = req.rebalance_timeout_ms;
  m.heartbeat_deadline = now() + std::chrono::milliseconds(m.session_timeout_ms);
  auto& slot = g.members[new_id];
  slot = std::move(m);
  g.static_members[*req.instance_id] = new_id;
  if (g.leader == old_id) g.leader = new_id;
  Member& nm = slot;
  if (g.state == GroupState::kStable && !changed) {
    if (g.leader != new_id) {
      out.push_back([cb, r = join_result_for(g, nm)] { cb(r); });
      persist_group(g, out);
      return;
    }
    if (req.supports_skip_assignment) {
      // KIP-814: the static leader gets the members but must not recompute the assignment.
      JoinResult r = join_result_for(g, nm);
      r.skip_assignment = true;
      out.push_back([cb, r] { cb(r); });
      persist_group(g, out);
      return;
    }
  }
  update_member_and_rebalance(g, nm, req, std::move(cb), out);
}

void GroupCoordinator::add_member_and_rebalance(Group& g, JoinRequest& req, const std::string& id,
                                                JoinCallback cb, Actions& out) {
  Member m;
  m.id = id;
  m.instance_id = req.instance_id;
  m.client_id = req.client_id;
  m.client_host = req.client_host;
  m.session_timeout_ms = req.session_timeout_ms;
  m.rebalance_timeout_ms = req.rebalance_timeout_ms;
  m.protocol_type = req.protocol_type;
  m.protocols = std::move(req.protocols);
  m.supports_skip_assignment = req.supports_skip_assignment;
  m.awaiting_join = std::move(cb);
  m.is_new = true;
  m.heartbeat_deadline = now() + std::chrono::milliseconds(m.session_timeout_ms);
  if (g.members.empty()) g.protocol_type = req.protocol_type;
  if (req.instance_id) g.static_members[*req.instance_id] = id;
  g.members[id] = std::move(m);
  if (!g.leader) g.leader = id;
  if (g.state == GroupState::kPreparingRebalance && g.initial_delay_deadline) {
    // Another member arrived during the initial delay: wait a little longer (bounded).
    g.initial_delay_deadline = std::min(
        now() + std::chrono::milliseconds(opts_.initial_rebalance_delay_ms), g.initial_delay_cap);
  }
  if (g.state != GroupState::kPreparingRebalance) prepare_rebalance(g, out);
  maybe_complete_join(g, out);
}

void GroupCoordinator::update_member_and_rebalance(Group& g, Member& m, JoinRequest& req,
                                                   JoinCallback cb, Actions& out) {
  if (m.awaiting_join) {
    // A duplicate join while one is parked: the older request is answered with a retriable
    // error and the newer one waits.
    out.push_back([f = std::move(m.awaiting_join),
                   r = join_error(err::kRebalanceInProgress, m.id)] { f(r); });
  }
  m.protocols = std::move(req.protocols);
  m.session_timeout_ms = req.session_timeout_ms;
  m.rebalance_timeout_ms = req.rebalance_timeout_ms;
  m.supports_skip_assignment = req.supports_skip_assignment;
  m.awaiting_join = std::move(cb);
  if (g.state != GroupState::kPreparingRebalance) prepare_rebalance(g, out);
  maybe_complete_join(g, out);
}

void GroupCoordinator::prepare_rebalance(Group& g, Actions& out) {
  g.sync_write = 0;  // an assignment still being persisted is superseded
  if (g.state == GroupState::kCompletingRebalance) {
    for (auto& [id, m] : g.members) {
      if (!m.awaiting_sync) continue;
      SyncResult r;
      r.error = err::kRebalanceInProgress;
      out.push_back([f = std::move(m.awaiting_sync), r] { f(r); });
      m.awaiting_sync = nullptr;
    }
  }
  const auto rebalance_timeout = std::chrono::milliseconds(g.max_rebalance_timeout_ms());
  if (g.state == GroupState::kEmpty && opts_.initial_rebalance_delay_ms > 0) {
    auto delay =
        std::min(std::chrono::milliseconds(opts_.initial_rebalance_delay_ms), rebalance_timeout);
    g.initial_delay_deadline = now() + delay;
    g.initial_delay_cap = now() + rebalance_timeout;
  }
  g.rebalance_deadline = now() + rebalance_timeout;
  g.state = GroupState::kPreparingRebalance;
  SHALE_LOG_INFO("coord", "group {} preparing rebalance (generation {}, {} members)", g.id,
                 g.generation, g.members.size());
}

void GroupCoordinator::maybe_complete_join(Group& g, Actions& out) {
  if (g.state != GroupState::kPreparingRebalance || g.initial_delay_deadline) return;
  bool all = g.pending_members.empty() &&
             std::all_of(g.members.begin(), g.members.end(),
                         [](const auto& kv) { return bool(kv.second.awaiting_join); });
  if (all) complete_join(g, out);
}

void GroupCoordinator::complete_join(Group& g, Actions& out) {
  // Dynamic members that did not rejoin in time are dropped; static ones keep their slot
  // until their session expires (KIP-345).
  for (auto it = g.members.begin(); it != g.members.end();) {
    if (!it->second.awaiting_join && !it->second.instance_id) {
      if (g.leader == it->first) g.leader.reset();
      it = g.members.erase(it);
    } else {
      ++it;
    }
  }
  g.rebalance_deadline.reset();
  g.initial_delay_deadline.reset();
  ++g.generation;
  if (g.members.empty()) {
    g.state = GroupState::kEmpty;
    g.protocol_name.reset();
    g.leader.reset();
    g.empty_since_ms = clock_.wall_ms();
    persist_group(g, out);
    return;
  }
  g.protocol_name = g.select_protocol();
  if (!g.leader || !g.members.at(*g.leader).awaiting_join) {
    g.leader.reset();
    for (const auto& [id, m] : g.members) {
      if (m.awaiting_join) {
        g.leader = id;
        break;
      }
    }
    if (!g.leader) g.leader = g.members.begin()->first;
  }
  g.state = GroupState::kCompletingRebalance;
  SHALE_LOG_INFO("coord", "group {} generation {} protocol {} leader {} ({} members)", g.id,
                 g.generation, g.protocol_name.value_or("-"), *g.leader, g.members.size());
  for (auto& [id, m] : g.members) {
    m.is_new = false;
    m.heartbeat_deadline = now() + std::chrono::milliseconds(m.session_timeout_ms);
    if (!m.awaiting_join) continue;
    out.push_back([f = std::move(m.awaiting_join), r = join_result_for(g, m)] { f(r); });
    m.awaiting_join = nullptr;
  }
}

JoinResult GroupCoordinator::join_result_for(const Group& g, const Member& m) const {
  JoinResult r;
  r.generation = g.generation;
  r.protocol_type = g.protocol_type;
  r.protocol_name = g.protocol_name;
  r.leader = g.leader.value_or("");
  r.member_id = m.id;
  if (g.leader == m.id && g.protocol_name) {
    for (const auto& [id, o] : g.members) {
      const Buf* md = o.metadata_for(*g.protocol_name);
      r.members.push_back({id, o.instance_id, md ? *md : Buf()});
    }
  }
  return r;
}

void GroupCoordinator::sync_group(SyncRequest req, SyncCallback cb) {
  Actions out;
  const int16_t gate = unavailable(req.group_id);
  {
    std::lock_guard lk(mu_);
    SyncResult r;
    Group* g = find(req.group_id);
    if (gate != err::kNone) {
      r.error = gate;
    } else if (!g) {
      r.error = err::kUnknownMemberId;
    } else if (g->is_fenced_static(req.member_id, req.instance_id)) {
      r.error = err::kFencedInstanceId;
    } else if (!g->has_member(req.member_id)) {
      r.error = err::kUnknownMemberId;
    } else if (req.generation != g->generation) {
      r.error = err::kIllegalGeneration;
    } else if ((req.protocol_type && *req.protocol_type != g->protocol_type) ||
               (req.protocol_name && req.protocol_name != g->protocol_name)) {
      r.error = err::kInconsistentGroupProtocol;
    } else if (g->state == GroupState::kPreparingRebalance) {
      r.error = err::kRebalanceInProgress;
    } else if (g->state != GroupState::kCompletingRebalance && g->state != GroupState::kStable) {
      r.error = err::kUnknownMemberId;
    }
    if (r.error != err::kNone) {
      out.push_back([cb, r] { cb(r); });
    } else {
      Member& m = g->members.at(req.member_id);
      m.heartbeat_deadline = now() + std::chrono::milliseconds(m.session_timeout_ms);
      if (g->state == GroupState::kStable) {
        r.protocol_type = g->protocol_type;
        r.protocol_name = g->protocol_name;
        r.assignment = m.assignment;
        out.push_back([cb, r] { cb(r); });
      } else {
        m.awaiting_sync = std::move(cb);
        if (g->leader == req.member_id && !g->sync_write) {  // (a retry while durable: waits)
          for (auto& [id, mm] : g->members) mm.assignment = Buf();
          for (auto& [id, a] : req.assignments) {
            auto it = g->members.find(id);
            if (it != g->members.end()) it->second.assignment = a;
          }
          set_assignment_and_stabilise(*g, out);
        }
      }
    }
  }
  run(out);
}

int16_t GroupCoordinator::heartbeat(const std::string& group_id, const std::string& member_id,
                                    const std::optional<std::string>& instance_id,
                                    int32_t generation) {
  if (int16_t e = unavailable(group_id); e != err::kNone) return e;
  std::lock_guard lk(mu_);
  Group* g = find(group_id);
  if (!g) return err::kUnknownMemberId;
  if (g->state == GroupState::kDead) return err::kCoordinatorNotAvailable;
  if (g->is_fenced_static(member_id, instance_id)) return err::kFencedInstanceId;
  if (!g->has_member(member_id)) return err::kUnknownMemberId;
  if (generation != g->generation) return err::kIllegalGeneration;
  Member& m = g->members.at(member_id);
  m.heartbeat_deadline = now() + std::chrono::milliseconds(m.session_timeout_ms);
  if (g->state == GroupState::kPreparingRebalance) return err::kRebalanceInProgress;
  return err::kNone;
}

LeaveResult GroupCoordinator::leave_group(const std::string& group_id,
                                          const std::vector<LeaveMember>& members) {
  Actions out;
  LeaveResult res;
  if (int16_t e = unavailable(group_id); e != err::kNone) {
    res.error = e;
    res.member_errors.assign(members.size(), e);
    return res;
  }
  {
    std::lock_guard lk(mu_);
    Group* g = find(group_id);
    for (const auto& lm : members) {
      if (!g) {
        res.member_errors.push_back(err::kUnknownMemberId);
        continue;
      }
      std::string id = lm.member_id;
      if (id.empty() && lm.instance_id) {
        auto it = g->static_members.find(*lm.instance_id);
        if (it != g->static_members.end()) id = it->second;
      }
      if (g->is_fenced_static(id, lm.instance_id)) {
        res.member_errors.push_back(err::kFencedInstanceId);
      } else if (g->pending_members.erase(id)) {
        res.member_errors.push_back(err::kNone);
        maybe_complete_join(*g, out);
      } else if (!g->has_member(id)) {
        res.member_errors.push_back(err::kUnknownMemberId);
      } else {
        SHALE_LOG_INFO("coord", "group {} member {} left", group_id, id);
        remove_member(*g, id, out);
        res.member_errors.push_back(err::kNone);
      }
    }
  }
  run(out);
  return res;
}

void GroupCoordinator::remove_member(Group& g, const std::string& id, Actions& out) {
  auto node = g.members.extract(id);
  if (node.empty()) return;
  Member& m = node.mapped();
  if (m.awaiting_join) {
    out.push_back(
        [f = std::move(m.awaiting_join), r = join_error(err::kUnknownMemberId, id)] { f(r); });
  }
  if (m.awaiting_sync) {
    SyncResult r;
    r.error = err::kUnknownMemberId;
    out.push_back([f = std::move(m.awaiting_sync), r] { f(r); });
  }
  if (m.instance_id) g.static_members.erase(*m.instance_id);
  if (g.leader == id) {
    g.leader.reset();
    if (!g.members.empty()) g.leader = g.members.begin()->first;
  }
  if (g.state == GroupState::kStable || g.state == GroupState::kCompletingRebalance) {
    prepare_rebalance(g, out);
  }
  maybe_complete_join(g, out);
}

}  // namespace shale::coord
