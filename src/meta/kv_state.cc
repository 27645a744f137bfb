#include "meta/kv_state.h"

#include <algorithm>
#include <optional>

#include "meta/txn_rules.h"

namespace shale::meta {

bool key_in_range(const std::string& k, const std::string& key, const std::string& range_end) {
  if (range_end.empty()) return k == key;
  if (range_end.size() == 1 && range_end[0] == '\0') return k >= key;
  return k >= key && k < range_end;
}

namespace {

// A txn's view: the base state plus the changes made by the txn's earlier ops.
class Overlay {
 public:
  Overlay(const std::map<std::string, KeyValue>& base, int64_t rev) : base_(base), rev_(rev) {}

  std::optional<KeyValue> get(const std::string& k) const {
    if (auto it = changes_.find(k); it != changes_.end()) return it->second;
    if (auto it = base_.find(k); it != base_.end()) return it->second;
    return std::nullopt;
  }
  std::vector<KeyValue> range(const std::string& key, const std::string& end) const {
    std::vector<KeyValue> out;
    if (end.empty()) {
      if (auto kv = get(key)) out.push_back(*kv);
      return out;
    }
    std::map<std::string, std::optional<KeyValue>> merged;
    for (auto it = base_.lower_bound(key); it != base_.end() && key_in_range(it->first, key, end);
         ++it) {
      merged.emplace(it->first, it->second);
    }
    for (auto it = changes_.lower_bound(key);
         it != changes_.end() && key_in_range(it->first, key, end); ++it) {
      merged[it->first] = it->second;
    }
    for (auto& [k, v] : merged) {
      if (v) out.push_back(*v);
    }
    return out;
  }
  void put(const std::string& k, const std::string& value, int64_t lease) {
    std::optional<KeyValue> cur = get(k);
    KeyValue kv;
    kv.key = k;
    kv.value = value;
    kv.mod_revision = Revision(rev_);
    kv.lease = LeaseId(lease);
    if (cur) {
      kv.create_revision = cur->create_revision;
      kv.version = cur->version + 1;
    } else {
      kv.create_revision = Revision(rev_);
      kv.version = 1;
    }
    changes_[k] = std::move(kv);
  }
  void del(const std::string& k) { changes_[k] = std::nullopt; }

 private:
  const std::map<std::string, KeyValue>& base_;
  const int64_t rev_;
  std::map<std::string, std::optional<KeyValue>> changes_;
};

}  // namespace

RangeResult KvState::range(const std::string& key, const std::string& range_end,
                           int64_t limit) const {
  RangeResult r;
  r.revision = Revision(revision_);
  if (range_end.empty()) {
    if (auto it = kvs_.find(key); it != kvs_.end()) r.kvs.push_back(it->second);
    return r;
  }
  for (auto it = kvs_.lower_bound(key); it != kvs_.end() && key_in_range(it->first, key, range_end);
       ++it) {
    if (limit > 0 && static_cast<int64_t>(r.kvs.size()) == limit) {
      r.more = true;
      break;
    }
    r.kvs.push_back(it->second);
  }
  return r;
}

int64_t KvState::lease_ttl_ms(int64_t id) const {
  auto it = leases_.find(id);
  return it == leases_.end() ? 0 : it->second.ttl_ms;
}

std::vector<int64_t> KvState::lease_ids() const {
  std::vector<int64_t> ids;
  for (const auto& [id, l] : leases_) ids.push_back(id);
  return ids;
}

Result<TxnPlan> KvState::plan_txn(const Txn& t) const {
  SHALE_RETURN_IF_ERROR(check_txn_size(t));  // as etcd: refused whole, nothing applied
  const int64_t rev = revision_ + 1;
  Overlay view(kvs_, rev);
  TxnPlan plan;
  plan.result.succeeded = std::all_of(t.compares.begin(), t.compares.end(), [&](const Compare& c) {
    return compare_holds(c, view.get(c.key));
  });
  const std::vector<Op>& ops = plan.result.succeeded ? t.success : t.failure;
  for (const Op& op : ops) {
    std::vector<KeyValue> resp;
    int64_t deleted = 0;
    if (const auto* p = std::get_if<PutOp>(&op)) {
      if (p->key.empty()) return Status(Errc::kInvalidArgument, "put: empty key");
      if (p->lease.value() != 0 && !leases_.count(p->lease.value())) {
        return Status(Errc::kNotFound, fmt::format("lease {} not found", p->lease.value()));
      }
      view.put(p->key, p->value, p->lease.value());
      plan.batch.effects.push_back({Effect::Kind::kPut, p->key, p->value, p->lease.value(), 0});
    } else if (const auto* d = std::get_if<DeleteOp>(&op)) {
      for (const KeyValue& kv : view.range(d->key, d->range_end)) {
        view.del(kv.key);
        plan.batch.effects.push_back({Effect::Kind::kDelete, kv.key, {}, 0, 0});
        ++deleted;
      }
    } else if (const auto* g = std::get_if<GetOp>(&op)) {
      resp = view.range(g->key, g->range_end);
    }
    plan.result.responses.push_back(std::move(resp));
    plan.deleted.push_back(deleted);
  }
  plan.batch.revision = plan.batch.changes_keys() ? rev : revision_;
  plan.result.revision = Revision(plan.batch.revision);
  return plan;
}

Batch KvState::plan_grant(int64_t ttl_ms) const {
  Batch b;
  b.revision = revision_;
  b.effects.push_back({Effect::Kind::kLeaseGrant, {}, {}, next_lease_id_, ttl_ms});
  return b;
}

Batch KvState::plan_revoke(int64_t id) const {
  Batch b;
  if (auto it = leases_.find(id); it != leases_.end()) {
    for (const auto& k : it->second.keys) b.effects.push_back({Effect::Kind::kDelete, k, {}, 0, 0});
  }
  b.effects.push_back({Effect::Kind::kLeaseRevoke, {}, {}, id, 0});
  b.revision = b.changes_keys() ? revision_ + 1 : revision_;
  return b;
}

void KvState::record(WatchEvent ev) {
  if (history_limit_ == 0) {
    compacted_ = ev.kv.mod_revision.value();
    return;
  }
  history_.push_back(std::move(ev));
  while (history_.size() > history_limit_) {
    // Drop whole revisions so the history always holds complete revisions > compacted_.
    const int64_t r = history_.front().kv.mod_revision.value();
    while (!history_.empty() && history_.front().kv.mod_revision.value() == r) {
      history_.pop_front();
    }
    compacted_ = r;
  }
}

Status KvState::apply(const Batch& b, std::vector<WatchEvent>* events) {
  const bool keys = b.changes_keys();
  if (b.revision != revision_ + (keys ? 1 : 0)) {
    return Status(Errc::kCorruption, fmt::format("meta batch at revision {} does not follow {}",
                                                 b.revision, revision_));
  }
  const int64_t rev = b.revision;
  for (const Effect& e : b.effects) {
    switch (e.kind) {
      case Effect::Kind::kPut: {
        KeyValue& kv = kvs_[e.key];
        if (kv.version > 0 && kv.lease.value() != 0) {
          if (auto l = leases_.find(kv.lease.value()); l != leases_.end())
            l->second.keys.erase(e.key);
        }
        if (kv.version == 0) {
          kv.key = e.key;
          kv.create_revision = Revision(rev);
        }
        kv.value = e.value;
        kv.mod_revision = Revision(rev);
        kv.version += 1;
        kv.lease = LeaseId(e.lease);
        if (e.lease != 0) leases_[e.lease].keys.insert(e.key);
        WatchEvent ev{WatchEvent::Type::kPut, kv};
        if (events) events->push_back(ev);
        record(std::move(ev));
        break;
      }
      case Effect::Kind::kDelete: {
        auto it = kvs_.find(e.key);
        if (it == kvs_.end()) break;
        if (it->second.lease.value() != 0) {
          if (auto l = leases_.find(it->second.lease.value()); l != leases_.end()) {
            l->second.keys.erase(e.key);
          }
        }
        kvs_.erase(it);
        WatchEvent ev;
        ev.type = WatchEvent::Type::kDelete;
        ev.kv.key = e.key;
        ev.kv.mod_revision = Revision(rev);
        if (events) events->push_back(ev);
        record(std::move(ev));
        break;
      }
      case Effect::Kind::kLeaseGrant:
        leases_[e.lease].ttl_ms = e.ttl_ms;
        next_lease_id_ = std::max(next_lease_id_, e.lease + 1);
        break;
      case Effect::Kind::kLeaseRevoke:
        leases_.erase(e.lease);
        break;
    }
  }
  revision_ = rev;
  return Status();
}

int64_t KvState::events_since(int64_t from, const std::string& key, const std::string& range_end,
                              size_t max_events, std::vector<WatchEvent>* out) const {
  auto it = std::lower_bound(
      history_.begin(), history_.end(), from,
      [](const WatchEvent& e, int64_t r) { return e.kv.mod_revision.value() < r; });
  int64_t scanned = from - 1;
  while (it != history_.end()) {
    const int64_t r = it->kv.mod_revision.value();
    if (out->size() >= max_events) break;
    for (; it != history_.end() && it->kv.mod_revision.value() == r; ++it) {
      if (key_in_range(it->kv.key, key, range_end)) out->push_back(*it);
    }
    scanned = r;
  }
  if (it == history_.end()) scanned = std::max(scanned, revision_);
  return scanned;
}

SnapshotData KvState::snapshot() const {
  SnapshotData s;
  s.revision = revision_;
  s.next_lease_id = next_lease_id_;
  s.kvs.reserve(kvs_.size());
  for (const auto& [k, kv] : kvs_) s.kvs.push_back(kv);
  for (const auto& [id, l] : leases_) s.leases.emplace_back(id, l.ttl_ms);
  return s;
}

void KvState::restore(const SnapshotData& s) {
  kvs_.clear();
  leases_.clear();
  history_.clear();
  revision_ = s.revision;
  compacted_ = s.revision;
  next_lease_id_ = s.next_lease_id;
  for (const auto& [id, ttl] : s.leases) leases_[id].ttl_ms = ttl;
  for (const auto& kv : s.kvs) {
    kvs_[kv.key] = kv;
    if (kv.lease.value() != 0) leases_[kv.lease.value()].keys.insert(kv.key);
  }
}

}  // namespace shale::meta
