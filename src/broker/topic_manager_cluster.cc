// TopicManager: the cluster side. Ownership of partitions is decided by the controller
// (src/cluster); the cluster agent calls these to follow it. See topic_manager.h.
#include <fmt/format.h>

#include "base/log.h"
#include "broker/topic_manager.h"

namespace shale::broker {

Status TopicManager::sync_topics() {
  std::lock_guard mlk(mutate_mu_);
  const std::string& pre = opts_.key_prefix;
  SHALE_ASSIGN_OR_RETURN(meta::RangeResult r, meta_.get(pre, meta::prefix_end(pre)));
  std::map<std::string, TopicPtr, std::less<>> seen;
  for (const auto& kv : r.kvs) {
    TopicPtr cur = get(kv.key.substr(pre.size()));
    if (cur && cur->rev == kv.mod_revision) {
      seen[cur->info.name] = cur;
      continue;
    }
    auto t = decode(kv);
    if (!t.ok()) {
      SHALE_LOG_ERROR("broker", "skipping topic record: {}", t.error().to_string());
      continue;
    }
    TopicPtr next = *t;
    next->parts.resize(next->streams.size());
    if (cur && cur->info.id == next->info.id) {  // changed elsewhere: keep what is open here
      for (size_t i = 0; i < next->parts.size() && i < cur->parts.size(); ++i) {
        next->parts[i] = cur->parts[i];
        if (next->parts[i]) next->parts[i]->set_config(next->config);
      }
    } else if (cur) {  // deleted and re-created elsewhere under the same name
      for (auto& p : cur->parts) {
        if (p) p->mark_deleted();
      }
      close_parts(*cur);
    }
    seen[next->info.name] = next;
  }
  std::vector<TopicPtr> gone;
  {
    std::unique_lock lk(mu_);
    for (auto& [name, t] : topics_) {
      if (!seen.count(name)) gone.push_back(t);
    }
    topics_ = seen;
    by_id_.clear();
    for (auto& [name, t] : topics_) by_id_[t->info.id] = t;
  }
  for (auto& t : gone) {  // deleted elsewhere (its streams are removed by the deleter)
    for (auto& p : t->parts) {
      if (p) p->mark_deleted();
    }
    close_parts(*t);
    SHALE_LOG_INFO("broker", "topic {} was deleted by another broker", t->info.name);
  }
  retry_unsure_locked();  // after the view is current: a landed write is known by now
  return {};
}

Result<Epoch> TopicManager::acquire(const std::string& topic, int32_t index, Epoch epoch) {
  std::lock_guard mlk(mutate_mu_);
  TopicPtr t = get(topic);
  if (!t || index < 0 || index >= t->info.partitions) {
    return Error{Errc::kNotFound, fmt::format("no partition {}-{}", topic, index)};
  }
  std::shared_ptr<Partition> old;
  {
    std::shared_lock lk(mu_);
    old = t->parts[index];
  }
  if (old && old->leader_epoch() == epoch.value()) return epoch;
  if (old) {  // re-assigned to this broker at a new epoch: reopen
    {
      std::unique_lock lk(mu_);
      t->parts[index] = nullptr;
    }
    (void)store_.close(old->stream_id());
  }
  StreamId id = t->streams[index];
  SHALE_ASSIGN_OR_RETURN(stream::StreamInfo opened, store_.open(id, epoch));
  auto p = std::make_shared<Partition>(t->info.name, index, id, opened, store_, clock_, t->config);
  restore_producer_state(*p, opened);  // idempotent producers keep deduplicating after a move
  {
    std::unique_lock lk(mu_);
    t->parts[index] = p;
  }
  SHALE_LOG_INFO("broker", "now serving {}-{} at epoch {} (offsets {}..{})", topic, index, epoch,
                 opened.start, opened.end);
  AcquireListener l;
  {
    std::lock_guard lk(listener_mu_);
    l = on_acquire_;
  }
  if (l) l(topic, index, p);
  return epoch;
}

Status TopicManager::release(const std::string& topic, int32_t index) {
  std::lock_guard mlk(mutate_mu_);
  TopicPtr t = get(topic);
  if (!t || index < 0 || index >= t->info.partitions) return {};
  std::shared_ptr<Partition> p;
  {
    std::unique_lock lk(mu_);
    p.swap(t->parts[index]);
  }
  if (!p) return {};
  ReleaseListener l;
  {
    std::lock_guard lk(listener_mu_);
    l = on_release_;
  }
  if (l) l(topic, index);
  save_producer_state(*p);
  Status st = store_.close(p->stream_id());  // waits for in-flight appends, uploads, releases
  SHALE_LOG_INFO("broker", "released {}-{} (epoch {}): {}", topic, index, p->leader_epoch(),
                 st.ok() ? "uploaded" : st.to_string());
  return st;
}

Result<stream::StreamInfo> TopicManager::stream_info(const std::string& topic,
                                                     int32_t index) const {
  TopicPtr t = get(topic);
  if (!t || index < 0 || index >= t->info.partitions) {
    return Error{Errc::kNotFound, fmt::format("no partition {}-{}", topic, index)};
  }
  return store_.info(t->streams[index]);
}

void TopicManager::set_acquire_listener(AcquireListener l) {
  std::lock_guard lk(listener_mu_);
  on_acquire_ = std::move(l);
}

void TopicManager::set_release_listener(ReleaseListener l) {
  std::lock_guard lk(listener_mu_);
  on_release_ = std::move(l);
}

std::vector<TopicManager::Owned> TopicManager::owned() const {
  std::vector<std::pair<std::string, std::shared_ptr<Partition>>> parts;
  {
    std::shared_lock lk(mu_);
    for (const auto& [name, t] : topics_) {
      for (const auto& p : t->parts) {
        if (p) parts.emplace_back(name, p);
      }
    }
  }
  std::vector<Owned> out;
  for (const auto& [name, p] : parts) {  // store calls outside mu_
    auto info = store_.info(p->stream_id());
    out.push_back({name, p->index(), Epoch(p->leader_epoch()), p->load_counters(),
                   info.ok() && info->broken});
  }
  return out;
}

}  // namespace shale::broker
