#include "meta/embedded_meta_store.h"

#include "base/log.h"

namespace shale::meta {

std::string prefix_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    unsigned char c = static_cast<unsigned char>(end.back());
    if (c < 0xff) {
      end.back() = static_cast<char>(c + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // no upper bound: every key >= prefix
}

EmbeddedMetaStore::EmbeddedMetaStore(Clock& clock, EmbeddedMetaOptions opts)
    : clock_(clock), opts_(opts), state_(opts.watch_history_events) {}

EmbeddedMetaStore::~EmbeddedMetaStore() {
  {
    std::lock_guard<std::mutex> l(lease_mu_);
    lease_stop_ = true;
  }
  lease_cv_.notify_all();
  if (lease_thread_.joinable()) lease_thread_.join();
  {
    std::lock_guard<std::mutex> l(watch_mu_);
    stop_ = true;
  }
  watch_cv_.notify_all();
  if (watch_thread_.joinable()) watch_thread_.join();
}

Status EmbeddedMetaStore::open_journal(io::Filesystem& fs, std::string dir) {
  // Runs before any other thread exists; locks taken in the usual order anyway.
  std::lock_guard<std::mutex> c(commit_mu_);
  std::lock_guard<std::mutex> w(write_mu_);
  std::unique_lock<std::shared_mutex> s(state_mu_);
  SHALE_ASSIGN_OR_RETURN(journal_, Journal::recover(fs, std::move(dir), &state_, &recovery_));
  tip_ = state_.clone_without_history();
  const auto now = clock_.now();
  for (int64_t id : state_.lease_ids()) {
    deadlines_[id] = now + std::chrono::milliseconds(state_.lease_ttl_ms(id));
  }
  return Status();
}

void EmbeddedMetaStore::start() {
  watch_thread_ = std::thread([this] { watch_loop(); });
  lease_thread_ = std::thread([this] { lease_loop(); });
}

Result<std::unique_ptr<EmbeddedMetaStore>> open_embedded_meta(io::Filesystem& fs, std::string dir,
                                                              Clock& clock,
                                                              EmbeddedMetaOptions opts) {
  std::unique_ptr<EmbeddedMetaStore> s(new EmbeddedMetaStore(clock, opts));
  SHALE_RETURN_IF_ERROR(s->open_journal(fs, std::move(dir)));
  const RecoveryStats& r = s->recovery_stats();
  SHALE_LOG_INFO("meta", "recovered revision {} (snapshot {}, {} records, {} torn bytes dropped)",
                 s->revision().value(), r.snapshot_seq, r.records_replayed, r.torn_bytes_dropped);
  s->start();
  return s;
}

std::unique_ptr<EmbeddedMetaStore> make_mem_meta(Clock& clock, EmbeddedMetaOptions opts) {
  std::unique_ptr<EmbeddedMetaStore> s(new EmbeddedMetaStore(clock, opts));
  s->start();
  return s;
}

Revision EmbeddedMetaStore::revision() const {
  std::shared_lock<std::shared_mutex> l(state_mu_);
  return Revision(state_.revision());
}

Revision EmbeddedMetaStore::compacted_revision() const {
  std::shared_lock<std::shared_mutex> l(state_mu_);
  return Revision(state_.compacted());
}

Result<uint64_t> EmbeddedMetaStore::enqueue_locked(Batch b) {
  if (failed_from_.load() != UINT64_MAX) {
    return Status(Errc::kIoError, "meta journal failed earlier; reopen the store");
  }
  if (b.effects.empty()) return last_seq_;
  const size_t size = encoded_batch_size(b);
  if (size > kMaxRecordPayload) {
    return Status(Errc::kInvalidArgument, fmt::format("meta batch of {} bytes too large", size));
  }
  Status st = tip_.apply(b);
  if (!st.ok()) {  // plans are made against tip_; failing here is a bug
    SHALE_LOG_ERROR("meta", "planned batch does not apply: {}", st.to_string());
    std::abort();
  }
  queue_.push_back(Pending{++last_seq_, std::move(b)});
  return last_seq_;
}

Status EmbeddedMetaStore::wait_durable(uint64_t ticket) {
  if (ticket == 0 || durable_seq_.load() >= ticket) return Status();
  std::lock_guard<std::mutex> c(commit_mu_);
  while (durable_seq_.load() < ticket) {
    if (ticket >= failed_from_.load()) return failure_;
    std::vector<Pending> group;
    {
      std::lock_guard<std::mutex> w(write_mu_);
      group.swap(queue_);
    }
    if (group.empty()) return Status(Errc::kInternal, "meta: queued batch vanished");
    if (journal_) {
      std::vector<const Batch*> batches;
      for (const auto& p : group) batches.push_back(&p.batch);
      Status st = journal_->append(batches);
      if (!st.ok()) {
        failure_ = st;
        failed_from_ = group.front().seq;
        SHALE_LOG_ERROR("meta", "journal write failed; store is read-only until reopened: {}",
                        st.to_string());
        return st;
      }
    }
    bool keys = false;
    {
      std::unique_lock<std::shared_mutex> l(state_mu_);
      for (const auto& p : group) {
        Status st = state_.apply(p.batch);
        if (!st.ok()) {
          SHALE_LOG_ERROR("meta", "apply failed after journaling: {}", st.to_string());
          std::abort();
        }
        keys = keys || p.batch.changes_keys();
      }
    }
    durable_seq_ = group.back().seq;
    if (keys) {
      std::lock_guard<std::mutex> l(watch_mu_);
      ++generation_;
      watch_cv_.notify_all();
    }
    if (journal_ && journal_->size() > opts_.snapshot_journal_bytes) {
      Status st = journal_->snapshot(state_);  // state_ == the journal while commit_mu_ is held
      if (!st.ok()) SHALE_LOG_WARN("meta", "snapshot failed: {}", st.to_string());
    }
  }
  return Status();
}

Result<TxnPlan> EmbeddedMetaStore::mutate(const Txn& t) {
  TxnPlan plan;
  uint64_t ticket;
  {
    std::lock_guard<std::mutex> l(write_mu_);
    SHALE_ASSIGN_OR_RETURN(plan, tip_.plan_txn(t));
    SHALE_ASSIGN_OR_RETURN(ticket, enqueue_locked(plan.batch));
  }
  SHALE_RETURN_IF_ERROR(wait_durable(ticket));
  return plan;
}

Result<RangeResult> EmbeddedMetaStore::get(const std::string& key, const std::string& range_end,
                                           int64_t limit) {
  if (key.empty() && range_end.empty()) return Status(Errc::kInvalidArgument, "get: empty key");
  std::shared_lock<std::shared_mutex> l(state_mu_);
  return state_.range(key, range_end, limit);
}

Result<Revision> EmbeddedMetaStore::put(const std::string& key, const std::string& value,
                                        LeaseId lease) {
  Txn t;
  t.success.push_back(PutOp{key, value, lease});
  SHALE_ASSIGN_OR_RETURN(TxnPlan plan, mutate(t));
  return plan.result.revision;
}

Result<int64_t> EmbeddedMetaStore::del(const std::string& key, const std::string& range_end) {
  if (key.empty() && range_end.empty()) return Status(Errc::kInvalidArgument, "del: empty key");
  Txn t;
  t.success.push_back(DeleteOp{key, range_end});
  SHALE_ASSIGN_OR_RETURN(TxnPlan plan, mutate(t));
  return plan.deleted.at(0);
}

Result<TxnResult> EmbeddedMetaStore::txn(const Txn& t) {
  SHALE_ASSIGN_OR_RETURN(TxnPlan plan, mutate(t));
  return std::move(plan.result);
}

Result<LeaseId> EmbeddedMetaStore::grant_lease(std::chrono::seconds ttl) {
  if (ttl.count() <= 0) return Status(Errc::kInvalidArgument, "lease ttl must be positive");
  const int64_t ttl_ms = std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count();
  int64_t id;
  uint64_t ticket;
  {
    std::lock_guard<std::mutex> l(write_mu_);
    Batch b = tip_.plan_grant(ttl_ms);
    id = b.effects[0].lease;
    SHALE_ASSIGN_OR_RETURN(ticket, enqueue_locked(std::move(b)));
    deadlines_[id] = clock_.now() + std::chrono::milliseconds(ttl_ms);
  }
  Status st = wait_durable(ticket);
  if (!st.ok()) {
    std::lock_guard<std::mutex> l(write_mu_);
    deadlines_.erase(id);
    return st;
  }
  return LeaseId(id);
}

Status EmbeddedMetaStore::keep_alive(LeaseId id) {
  uint64_t ticket;
  {
    std::lock_guard<std::mutex> l(write_mu_);
    auto it = deadlines_.find(id.value());
    if (it == deadlines_.end()) {
      return Status(Errc::kNotFound, fmt::format("lease {} not found", id.value()));
    }
    const auto now = clock_.now();
    if (it->second > now) {
      it->second = now + std::chrono::milliseconds(tip_.lease_ttl_ms(id.value()));
      return Status();
    }
    // Expired but not yet collected: collect it now, as etcd would have.
    deadlines_.erase(it);
    SHALE_ASSIGN_OR_RETURN(ticket, enqueue_locked(tip_.plan_revoke(id.value())));
  }
  (void)wait_durable(ticket);
  return Status(Errc::kNotFound, fmt::format("lease {} expired", id.value()));
}

Status EmbeddedMetaStore::revoke_lease(LeaseId id) {
  uint64_t ticket;
  {
    std::lock_guard<std::mutex> l(write_mu_);
    if (!tip_.lease_exists(id.value())) {
      return Status(Errc::kNotFound, fmt::format("lease {} not found", id.value()));
    }
    SHALE_ASSIGN_OR_RETURN(ticket, enqueue_locked(tip_.plan_revoke(id.value())));
    deadlines_.erase(id.value());
  }
  return wait_durable(ticket);
}

void EmbeddedMetaStore::expire_leases_now() {
  uint64_t ticket = 0;
  {
    std::lock_guard<std::mutex> l(write_mu_);
    const auto now = clock_.now();
    for (auto it = deadlines_.begin(); it != deadlines_.end();) {
      if (it->second > now) {
        ++it;
        continue;
      }
      auto t = enqueue_locked(tip_.plan_revoke(it->first));
      if (!t.ok()) {
        SHALE_LOG_WARN("meta", "expiring lease {}: {}", it->first, t.error().to_string());
        return;
      }
      ticket = *t;
      it = deadlines_.erase(it);
    }
  }
  Status st = wait_durable(ticket);
  if (!st.ok()) SHALE_LOG_WARN("meta", "expiring leases: {}", st.to_string());
}

Status EmbeddedMetaStore::snapshot_now() {
  std::lock_guard<std::mutex> c(commit_mu_);
  if (!journal_) return Status();
  return journal_->snapshot(state_);
}

void EmbeddedMetaStore::lease_loop() {
  std::unique_lock<std::mutex> l(lease_mu_);
  while (!lease_stop_) {
    lease_cv_.wait_for(l, opts_.lease_check_interval, [&] { return lease_stop_; });
    if (lease_stop_) break;
    l.unlock();
    expire_leases_now();
    l.lock();
  }
}

Result<WatchId> EmbeddedMetaStore::watch(const std::string& key, const std::string& range_end,
                                         Revision start_revision, WatchCallback cb) {
  if (!cb) return Status(Errc::kInvalidArgument, "watch: no callback");
  auto w = std::make_shared<Watcher>();
  w->key = key;
  w->range_end = range_end;
  w->cb = std::move(cb);
  {
    std::shared_lock<std::shared_mutex> s(state_mu_);
    w->next_rev = start_revision.value() > 0 ? start_revision.value() : state_.revision() + 1;
  }
  std::lock_guard<std::mutex> l(watch_mu_);
  w->id = next_watch_++;
  watchers_[w->id] = w;
  ++generation_;
  watch_cv_.notify_all();
  return w->id;
}

void EmbeddedMetaStore::cancel_watch(WatchId id) {
  std::unique_lock<std::mutex> l(watch_mu_);
  watchers_.erase(id);
  if (std::this_thread::get_id() == watch_thread_.get_id()) return;  // from a callback
  watch_cv_.wait(l, [&] { return delivering_ != id; });
}

bool EmbeddedMetaStore::deliver_pass(std::unique_lock<std::mutex>& l) {
  bool progress = false;
  std::vector<std::shared_ptr<Watcher>> ws;
  for (const auto& [id, w] : watchers_) ws.push_back(w);
  for (const auto& w : ws) {
    if (stop_) break;
    if (!watchers_.count(w->id)) continue;  // cancelled meanwhile
    WatchUpdate u;
    bool end = false;
    l.unlock();
    {
      std::shared_lock<std::shared_mutex> s(state_mu_);
      if (w->next_rev <= state_.compacted()) {
        u.compacted = true;
        u.compact_revision = Revision(state_.compacted() + 1);
        end = true;
      } else if (w->next_rev <= state_.revision()) {
        int64_t scanned = state_.events_since(w->next_rev, w->key, w->range_end,
                                              opts_.max_events_per_update, &u.events);
        w->next_rev = scanned + 1;  // only this thread touches next_rev after registration
        progress = true;
      }
    }
    l.lock();
    if (!watchers_.count(w->id)) continue;
    if (end) watchers_.erase(w->id);
    if (u.events.empty() && !u.compacted) continue;
    delivering_ = w->id;
    l.unlock();
    w->cb(u);
    l.lock();
    delivering_ = 0;
    watch_cv_.notify_all();
  }
  return progress;
}

void EmbeddedMetaStore::watch_loop() {
  std::unique_lock<std::mutex> l(watch_mu_);
  uint64_t seen = 0;
  while (true) {
    watch_cv_.wait(l, [&] { return stop_ || generation_ != seen; });
    if (stop_) break;
    seen = generation_;
    while (!stop_ && deliver_pass(l)) {
    }
  }
}

}  // namespace shale::meta
