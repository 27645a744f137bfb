// Timeouts half of GroupCoordinator: tick() (sessions, pending members, rebalance deadlines,
// offset retention), the ticker thread, and group-metadata persistence (SyncGroup answered once
// the generation is durable).
#include "base/log.h"
#include "coord/group_coordinator.h"

namespace shale::coord {

void GroupCoordinator::persist_group(Group& g, Actions& out) {
  g.persisted = g.snapshot(clock_.wall_ms());
  if (!store_) return;
  out.push_back([store = store_, id = g.id, snap = g.persisted]() mutable {
    store->write_group(id, std::move(snap), [](bool) {});
  });
}

// Kafka answers SyncGroup only once the group record (generation, members, assignment) is
// durable: a member must never hold a generation that the next coordinator, replaying the log
// after a move, has not heard of (it would restore the previous generation and, rebalancing from
// there, hand the same generation number out again with another assignment). The group stays
// CompletingRebalance meanwhile: SyncGroups park, commits answer REBALANCE_IN_PROGRESS.
void GroupCoordinator::set_assignment_and_stabilise(Group& g, Actions& out) {
  if (!store_) {
    g.persisted = g.snapshot(clock_.wall_ms());
    stabilise(g, out);
    return;
  }
  const uint64_t write = g.sync_write = ++next_sync_write_;
  GroupSnapshot snap = g.snapshot(clock_.wall_ms());
  out.push_back([life = life_, store = store_, id = g.id, write, snap]() mutable {
    GroupSnapshot copy = snap;
    store->write_group(id, std::move(snap),
                       [life, id, write, copy = std::move(copy)](bool ok) mutable {
                         // A coordinator destroyed meanwhile answered its parked syncs already.
                         std::lock_guard lk(life->mu);
                         if (life->gc) life->gc->assignment_written(id, write, std::move(copy), ok);
                       });
  });
}

void GroupCoordinator::assignment_written(const std::string& group, uint64_t write,
                                          GroupSnapshot snap, bool ok) {
  // Kafka's storeGroup error mapping, with what our store tells: a group whose partition left
  // answers NOT_COORDINATOR, any other failure COORDINATOR_NOT_AVAILABLE (both make the client
  // find the coordinator again and rejoin).
  const int16_t gate = unavailable(group);
  Actions out;
  {
    std::lock_guard lk(mu_);
    Group* g = find(group);
    if (ok && g && (!g->persisted || g->persisted->generation <= snap.generation)) {
      g->persisted = snap;  // durable, even if the group moved on meanwhile
    }
    // Dropped (moved away), rebalancing again, or replaced by a replay meanwhile: its parked
    // syncs were answered by whatever changed it.
    if (!g || g->sync_write != write) return;
    g->sync_write = 0;
    if (ok) {
      stabilise(*g, out);
    } else {
      const int16_t e =
          gate == err::kNotCoordinator ? err::kNotCoordinator : err::kCoordinatorNotAvailable;
      SHALE_LOG_WARN("coord",
                     "group {} generation {}: persisting the assignment failed; syncs "
                     "answer {}",
                     group, g->generation, e);
      for (auto& [id, m] : g->members) {
        m.assignment = Buf();
        if (!m.awaiting_sync) continue;
        SyncResult r;
        r.error = e;
        out.push_back([f = std::move(m.awaiting_sync), r] { f(r); });
        m.awaiting_sync = nullptr;
      }
      prepare_rebalance(*g, out);
    }
  }
  run(out);
}

void GroupCoordinator::stabilise(Group& g, Actions& out) {
  g.state = GroupState::kStable;
  for (auto& [id, m] : g.members) {
    if (!m.awaiting_sync) continue;
    SyncResult r;
    r.protocol_type = g.protocol_type;
    r.protocol_name = g.protocol_name;
    r.assignment = m.assignment;
    out.push_back([f = std::move(m.awaiting_sync), r] { f(r); });
    m.awaiting_sync = nullptr;
  }
}

void GroupCoordinator::tick() {
  Actions out;
  {
    std::lock_guard lk(mu_);
    const auto t = now();
    // offsets.retention.check.interval.ms: offsets expire on this cadence, not every tick.
    const int64_t now_ms = clock_.wall_ms();
    const bool check_expiry = now_ms >= next_expiry_check_ms_;
    if (check_expiry) next_expiry_check_ms_ = now_ms + opts_.offsets_retention_check_interval_ms;
    for (auto it = groups_.begin(); it != groups_.end();) {
      Group& g = *it->second;
      for (auto p = g.pending_members.begin(); p != g.pending_members.end();) {
        p = p->second <= t ? g.pending_members.erase(p) : std::next(p);
      }
      std::vector<std::string> expired;
      for (const auto& [id, m] : g.members) {
        if (!m.awaiting_join && !m.awaiting_sync && m.heartbeat_deadline <= t) {
          expired.push_back(id);
        }
      }
      for (const auto& id : expired) {
        SHALE_LOG_INFO("coord", "group {} member {} session expired", g.id, id);
        remove_member(g, id, out);
      }
      if (g.initial_delay_deadline && *g.initial_delay_deadline <= t) {
        g.initial_delay_deadline.reset();
      }
      if (g.state == GroupState::kPreparingRebalance && !g.initial_delay_deadline &&
          g.rebalance_deadline && *g.rebalance_deadline <= t) {
        g.pending_members.clear();
        complete_join(g, out);
      }
      maybe_complete_join(g, out);
      if (check_expiry) expire_offsets(g, out);
      if (g.state == GroupState::kEmpty && g.offsets.empty() && g.pending_members.empty()) {
        if (g.generation > 0 && store_) {
          out.push_back(
              [store = store_, id = g.id] { store->write_group(id, std::nullopt, [](bool) {}); });
        }
        it = groups_.erase(it);
      } else {
        ++it;
      }
    }
  }
  run(out);
}

void GroupCoordinator::start_ticker() {
  std::lock_guard lk(ticker_mu_);
  if (ticker_.joinable()) return;
  ticker_stop_ = false;
  ticker_ = std::thread([this] {
    std::unique_lock lk(ticker_mu_);
    while (!ticker_stop_) {
      ticker_cv_.wait_for(lk, opts_.tick_interval, [this] { return ticker_stop_; });
      if (ticker_stop_) break;
      lk.unlock();
      tick();
      if (store_) store_->maintain(*this);
      lk.lock();
    }
  });
}

void GroupCoordinator::stop_ticker() {
  {
    std::lock_guard lk(ticker_mu_);
    ticker_stop_ = true;
  }
  ticker_cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
}

}  // namespace shale::coord
