// Timeouts half of GroupCoordinator: tick() (sessions, pending members, rebalance deadlines,
// offset retention), the ticker thread, and group-metadata persistence.
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
