// TopicManager: topic writes whose answer from the metadata store was lost (README "Lost
// answers"). Such a write may have applied, or may still apply: its new streams are removed only
// on a definite compare failure, or once a read-back shows it can no longer land.
#include <fmt/format.h>

#include <algorithm>

#include "base/log.h"
#include "broker/topic_manager.h"

namespace shale::broker {

namespace {

std::vector<StreamId> new_streams(const std::vector<StreamId>& all, int32_t from) {
  return {all.begin() + std::min<size_t>(from, all.size()), all.end()};
}

}  // namespace

TopicManager::Landed TopicManager::write_landed(const TopicWrite& w, Revision* rev) {
  auto r = meta_.get(key(w.next->info.name));
  if (!r.ok()) return Landed::kUnknown;
  // Absent: a create may still land; a change of an existing record never can (its compare
  // names a revision of a record that is gone).
  if (r->kvs.empty()) return w.expected.value() == 0 ? Landed::kNotYet : Landed::kNever;
  const meta::KeyValue& kv = r->kvs[0];
  if (kv.mod_revision == w.expected) return Landed::kNotYet;  // unchanged: may still land
  auto rec = decode(kv);
  if (rec.ok() && (*rec)->info.id == w.next->info.id) {
    // Ours if the record names our first new stream (ids are never reused), or for a config
    // change, holds exactly what we put.
    const auto& s = (*rec)->streams;
    const bool ours = w.from < w.next->info.partitions
                          ? std::find(s.begin(), s.end(), w.next->streams[w.from]) != s.end()
                          : kv.value == w.value;
    if (ours) {
      *rev = kv.mod_revision;
      return Landed::kYes;
    }
  }
  return Landed::kNever;  // the record moved past the revision our compare names
}

Result<Revision> TopicManager::commit_write(TopicWrite w) {
  const std::string k = key(w.next->info.name);
  meta::Txn t;
  t.compares.push_back(w.expected.value() == 0 ? meta::Compare::absent(k)
                                               : meta::Compare::mod_rev(k, w.expected));
  t.success.push_back(meta::PutOp{k, w.value, LeaseId(0)});
  // Self-fencing (the put changes the compared revision), and the record carries a random topic
  // id and fresh stream ids; two writers of the same config bytes at one revision mean the
  // same thing. So a backend may repeat it after a lost answer.
  t.repeat_if_lost = true;
  auto tr = meta_.txn(t);
  Revision rev{0};
  Landed landed = Landed::kNever;
  if (tr.ok()) {
    landed = tr->succeeded ? Landed::kYes : Landed::kNever;
    rev = tr->revision;
  } else {
    w.lost_at = clock_.now();
    landed = write_landed(w, &rev);
    if (landed == Landed::kYes) {
      SHALE_LOG_WARN("broker", "topic {}: write answered {} but landed at revision {}",
                     w.next->info.name, tr.error().to_string(), rev);
    }
  }
  if (landed == Landed::kNever) {
    remove_streams(new_streams(w.next->streams, w.from));  // definitely not committed
    return Error{Errc::kConflict, "topic changed concurrently"};
  }
  if (landed != Landed::kYes) {
    SHALE_LOG_WARN("broker",
                   "topic {}: write answered {}; outcome unknown, its streams are kept until "
                   "it is known",
                   w.next->info.name, tr.error().to_string());
    unsure_.push_back(std::move(w));
    return tr.error();
  }
  install(w, rev);
  return rev;
}

void TopicManager::install(const TopicWrite& w, Revision rev) {
  TopicPtr cur = get(w.next->info.name);
  const bool same = cur && cur->info.id == w.next->info.id;
  if (same && cur->rev >= rev) return;  // already learnt (sync_topics)
  if (cur && !same) {                   // a stale view of a topic deleted meanwhile
    for (auto& p : cur->parts) {
      if (p) p->mark_deleted();
    }
    close_parts(*cur);
  }
  auto next = std::make_shared<Topic>(*w.next);
  next->rev = rev;
  const int32_t count = next->info.partitions;
  next->parts.assign(count, nullptr);
  for (int32_t i = 0; same && i < w.from && i < static_cast<int32_t>(cur->parts.size()); ++i) {
    next->parts[i] = cur->parts[i];
    if (next->parts[i]) next->parts[i]->set_config(next->config);
  }
  for (int32_t i = w.from; opts_.open_all && i < count; ++i) {
    auto p = open_partition(*next, i);
    if (!p.ok()) {
      SHALE_LOG_ERROR("broker", "created {}-{} but cannot open it: {}", next->info.name, i,
                      p.error().to_string());
      continue;
    }
    next->parts[i] = *p;
  }
  if (same && (next->config->retention_ms != cur->config->retention_ms ||
               next->config->retention_bytes != cur->config->retention_bytes)) {
    const stream::RetentionPolicy policy{next->config->retention_ms, next->config->retention_bytes};
    for (StreamId s : next->streams) {
      Status st = store_.set_retention(s, policy);
      if (!st.ok()) SHALE_LOG_WARN("broker", "set_retention {}: {}", s, st.to_string());
    }
  }
  std::unique_lock lk(mu_);
  if (cur && !same) by_id_.erase(cur->info.id);
  topics_[next->info.name] = next;
  by_id_[next->info.id] = next;
}

bool TopicManager::record_gone(const Topic& t) {
  auto r = meta_.get(key(t.info.name));
  if (!r.ok()) return false;
  if (r->kvs.empty()) return true;
  auto rec = decode(r->kvs[0]);
  return rec.ok() && (*rec)->info.id != t.info.id;
}

void TopicManager::retry_unsure_locked() {
  for (auto it = unsure_.begin(); it != unsure_.end();) {
    Revision rev{0};
    const Landed l = write_landed(*it, &rev);
    if (l == Landed::kUnknown ||
        (l == Landed::kNotYet && clock_.now() - it->lost_at < opts_.lost_write_grace)) {
      ++it;
      continue;
    }
    if (l == Landed::kYes) {
      SHALE_LOG_INFO("broker", "topic {}: a write whose answer was lost landed at revision {}",
                     it->next->info.name, rev);
      install(*it, rev);
    } else {
      auto streams = new_streams(it->next->streams, it->from);
      SHALE_LOG_INFO("broker",
                     "topic {}: a write whose answer was lost never landed; removing {} "
                     "stream(s)",
                     it->next->info.name, streams.size());
      remove_streams(streams);
    }
    it = unsure_.erase(it);
  }
}

}  // namespace shale::broker
