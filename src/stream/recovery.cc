// StreamStoreImpl: metadata access (id allocation, loading, CAS writes) and crash recovery
// (WAL replay, orphan sweep).
#include <algorithm>
#include <charconv>
#include <map>
#include <set>

#include "base/log.h"
#include "stream/stream_store_impl.h"

namespace shale::stream {

Result<uint64_t> StreamStoreImpl::allocate_ids(std::string_view counter, uint64_t n) {
  const std::string key(counter);
  for (int attempt = 0; attempt < 100; ++attempt) {
    SHALE_ASSIGN_OR_RETURN(meta::RangeResult rr, meta_.get(key));
    uint64_t next = 1;  // ids start at 1; 0 means "none"
    meta::Txn t;
    if (rr.kvs.empty()) {
      t.compares.push_back(meta::Compare::absent(key));
    } else {
      const std::string& v = rr.kvs[0].value;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), next);
      if (ec != std::errc() || p != v.data() + v.size()) {
        return Error{Errc::kCorruption, fmt::format("bad id counter {}: '{}'", key, v)};
      }
      t.compares.push_back(meta::Compare::mod_rev(key, rr.kvs[0].mod_revision));
    }
    t.success.push_back(meta::PutOp{key, std::to_string(next + n)});
    SHALE_ASSIGN_OR_RETURN(meta::TxnResult r, meta_.txn(t));
    if (r.succeeded) return next;
  }
  return Error{Errc::kConflict, fmt::format("id counter {} contended", key)};
}

Result<std::optional<Revision>> StreamStoreImpl::commit_landed(ObjectId first) {
  SHALE_ASSIGN_OR_RETURN(meta::RangeResult rr, meta_.get(object_key(first)));
  if (rr.kvs.empty()) return std::optional<Revision>();
  return std::optional<Revision>(rr.kvs[0].mod_revision);
}

void StreamStoreImpl::note_unsure_locked(std::vector<ObjectRecord> created,
                                         std::vector<ObjectId> replaced) {
  unsure_.push_back(UnsureCommit{std::move(created), std::move(replaced), now_ms()});
}

Status StreamStoreImpl::retry_unsure_locked() {
  // An etcd request whose answer was lost applies within its own timeout or never; a grace
  // period later, "not landed" is final and the objects are garbage.
  Status first_error;
  for (auto it = unsure_.begin(); it != unsure_.end();) {
    Result<std::optional<Revision>> landed = commit_landed(it->created.front().id);
    if (!landed.ok()) {
      if (first_error.ok()) first_error = landed.status();
      ++it;
      continue;
    }
    if (*landed) {
      SHALE_LOG_INFO("stream", "a commit whose answer was lost landed at revision {}",
                     (*landed)->value());
      std::lock_guard lk(mu_);
      for (ObjectId id : it->replaced) unindex_object_locked(id);
      for (const ObjectRecord& r : it->created) {
        if (!object_records_.count(r.id)) index_object_locked(r);
      }
    } else if (now_ms() - it->since_ms >= opts_.delete_grace_ms) {
      std::vector<std::string> keys;  // adopted WAL objects are still the WAL's: not ours
      for (const ObjectRecord& r : it->created) {
        if (wal_.keep_key_for(r.key).empty()) keys.push_back(r.key);
      }
      SHALE_LOG_INFO("stream", "deleting {} object(s) of a commit that never landed", keys.size());
      if (Status st = objects_.remove(keys); !st.ok()) {
        if (first_error.ok()) first_error = st;
        ++it;
        continue;
      }
    } else {
      ++it;
      continue;
    }
    it = unsure_.erase(it);
  }
  return first_error;
}

Status StreamStoreImpl::load_metadata() {
  const std::string sp(kStreamsPrefix), op(kObjectsPrefix);
  SHALE_ASSIGN_OR_RETURN(meta::RangeResult streams, meta_.get(sp, meta::prefix_end(sp)));
  SHALE_ASSIGN_OR_RETURN(meta::RangeResult objects, meta_.get(op, meta::prefix_end(op)));
  std::lock_guard lk(mu_);
  for (const auto& kv : streams.kvs) {
    SHALE_ASSIGN_OR_RETURN(uint64_t id, id_from_key(kv.key));
    if (streams_.count(StreamId(id))) continue;  // known: in-memory state is newer
    SHALE_ASSIGN_OR_RETURN(StreamRecord rec, decode_stream(kv.value));
    auto s = std::make_shared<Stream>(StreamId(id));
    s->rec = rec;
    s->rev = kv.mod_revision;
    s->next = s->durable = rec.committed_end;
    s->broken = rec.state == StreamState::kDeleted;
    streams_[s->id] = s;
    index_known_objects_locked(s);
  }
  for (const auto& kv : objects.kvs) {
    SHALE_ASSIGN_OR_RETURN(uint64_t id, id_from_key(kv.key));
    index_scan_from_ = std::max(index_scan_from_, id + 1);
    if (object_records_.count(ObjectId(id))) continue;
    SHALE_ASSIGN_OR_RETURN(ObjectRecord rec, decode_object(ObjectId(id), kv.value));
    index_object_locked(rec);
  }
  return Status();
}

void StreamStoreImpl::index_known_objects_locked(const StreamPtr& s) {
  for (const auto& [id, r] : object_records_) {
    for (const auto& rg : r.ranges) {
      if (rg.stream != s->id || s->index.count(rg.start)) continue;
      s->index[rg.start] = IndexedSlice{r.id, rg.end, rg.bytes, rg.max_ts};
      s->index_bytes += rg.bytes;
    }
  }
}

bool StreamStoreImpl::index_covers_locked(const Stream& s) const {
  Offset pos = s.rec.start;
  while (pos < s.rec.committed_end) {
    auto it = s.index.upper_bound(pos);
    if (it == s.index.begin()) return false;
    --it;
    if (it->second.end <= pos) return false;
    pos = it->second.end;
  }
  return true;
}

void StreamStoreImpl::index_object_locked(const ObjectRecord& r) {
  object_records_[r.id] = r;
  for (const auto& rg : r.ranges) {
    StreamPtr s = find_locked(rg.stream);
    if (!s) continue;
    auto old = s->index.find(rg.start);
    if (old != s->index.end()) {
      // Two committed copies of records from one start: a commit whose answer was lost landed,
      // and the records were uploaded again with more after them. The longer copy stays (the
      // shorter one indexed over it would leave its tail unreachable); its bytes are the same.
      if (old->second.end > rg.end) continue;
      s->index_bytes -= old->second.bytes;
    }
    s->index[rg.start] = IndexedSlice{r.id, rg.end, rg.bytes, rg.max_ts};
    s->index_bytes += rg.bytes;
  }
  stats_.objects = object_records_.size();
}

void StreamStoreImpl::unindex_object_locked(ObjectId id) {
  auto it = object_records_.find(id);
  if (it == object_records_.end()) return;
  for (const auto& rg : it->second.ranges) {
    StreamPtr s = find_locked(rg.stream);
    if (!s) continue;
    auto sl = s->index.find(rg.start);
    if (sl != s->index.end() && sl->second.object == id) {
      s->index_bytes -= sl->second.bytes;
      s->index.erase(sl);
    }
  }
  object_records_.erase(it);
  stats_.objects = object_records_.size();
}

Status StreamStoreImpl::recover_wal() {
  uint64_t replayed = 0, skipped = 0;
  Status st = wal_.recover([&](WalPos pos, const wal::WalRecord& rec) {
    std::lock_guard lk(mu_);
    StreamPtr s = find_locked(rec.stream);
    // Skip: unknown or deleted streams, records of a stale owner epoch, uploaded records.
    if (!s || s->rec.state == StreamState::kDeleted || rec.epoch != s->rec.epoch ||
        rec.base + rec.count <= s->rec.committed_end) {
      skipped++;
      return;
    }
    Offset expect = s->cache.empty() ? s->rec.committed_end : s->cache.back().end();
    if (rec.base != expect) {
      // A hole (e.g. the stream had a WAL error before the crash): nothing after it was acked.
      SHALE_LOG_WARN("stream", "stream {}: WAL record at {} does not follow {}; skipped",
                     rec.stream, rec.base, expect);
      skipped++;
      return;
    }
    if (unuploaded_bytes_ == 0) oldest_unuploaded_ms_ = now_ms();
    unuploaded_bytes_ += rec.payload.size();
    insert_cache_locked(*s, CacheEntry{rec.base, rec.count, rec.payload,
                                       batch_max_timestamp(rec.payload), pos, false});
    s->next = s->durable = rec.base + rec.count;
    replayed++;
  });
  SHALE_LOG_INFO("stream", "WAL recovery: {} records replayed, {} skipped", replayed, skipped);
  return st;
}

Status StreamStoreImpl::sweep_orphans() {
  // Objects this node put but never committed (a crash between put and commit) are garbage.
  // Only earlier incarnations' keys are swept: this incarnation has not put anything yet.
  const std::string prefix = fmt::format("{}/n{}/", opts_.key_prefix, opts_.node.value());
  const std::string gp(kGcPrefix);
  SHALE_ASSIGN_OR_RETURN(meta::RangeResult gc, meta_.get(gp, meta::prefix_end(gp)));
  std::set<std::string> known;
  for (const auto& kv : gc.kvs) {
    SHALE_ASSIGN_OR_RETURN(PendingDelete pd, decode_pending_delete(kv.value));
    known.insert(pd.key);
  }
  {
    std::lock_guard lk(mu_);
    for (const auto& [id, rec] : object_records_) known.insert(rec.key);
  }
  std::vector<std::string> orphans;
  std::string token;
  do {
    SHALE_ASSIGN_OR_RETURN(objstore::ListPage page, objects_.list(prefix, token));
    for (const auto& o : page.objects) {
      if (!known.count(o.key)) orphans.push_back(o.key);
    }
    token = page.next_token;
  } while (!token.empty());
  if (!orphans.empty()) {
    SHALE_LOG_INFO("stream", "deleting {} uncommitted objects", orphans.size());
    SHALE_RETURN_IF_ERROR(objects_.remove(orphans));
  }
  return Status();
}

Status StreamStoreImpl::refresh_stream(const StreamPtr& s) {
  SHALE_ASSIGN_OR_RETURN(meta::RangeResult rr, meta_.get(stream_key(s->id)));
  if (rr.kvs.empty()) return Status(Errc::kNotFound, fmt::format("stream {} not found", s->id));
  SHALE_ASSIGN_OR_RETURN(StreamRecord rec, decode_stream(rr.kvs[0].value));
  std::lock_guard lk(mu_);
  s->rec = rec;
  s->rev = rr.kvs[0].mod_revision;
  if (s->open_here && rec.epoch != s->open_epoch) fence_locked(*s);
  return Status();
}

Status StreamStoreImpl::sync_objects(const StreamPtr& s) {
  const int64_t started = now_ms();
  if (index_synced_ms_ >= 0 && started - index_synced_ms_ < opts_.delete_grace_ms / 2) {
    SHALE_ASSIGN_OR_RETURN(bool holes, read_index_changes());
    std::lock_guard lk(mu_);
    if (!holes && index_covers_locked(*s)) {
      index_synced_ms_ = started;
      stats_.index_incremental_reads++;
      return Status();
    }
    // An object of `s` with an id below index_scan_from_ was committed after an earlier read
    // (a late commit): only the whole index finds it.
    SHALE_LOG_INFO("stream",
                   "stream {}: gap in its index after the incremental read; re-reading "
                   "every object record",
                   s->id);
  }
  return read_whole_index(started);
}

Result<bool> StreamStoreImpl::read_index_changes() {
  // New objects first, then the pending deletes: an object committed and deleted between the two
  // reads is indexed, then forgotten. Every deletion since index_synced_ms_ still has its gc
  // record (it lives delete_grace_ms; callers require index_synced_ms_ < delete_grace_ms / 2 ago).
  const std::string op(kObjectsPrefix), gp(kGcPrefix);
  SHALE_ASSIGN_OR_RETURN(meta::RangeResult fresh,
                         meta_.get(object_key(ObjectId(index_scan_from_)), meta::prefix_end(op)));
  SHALE_ASSIGN_OR_RETURN(meta::RangeResult gc, meta_.get(gp, meta::prefix_end(gp)));
  std::vector<ObjectRecord> added;
  std::vector<ObjectId> deleted;
  uint64_t scan_from = index_scan_from_;
  for (const auto& kv : fresh.kvs) {
    SHALE_ASSIGN_OR_RETURN(uint64_t id, id_from_key(kv.key));
    scan_from = std::max(scan_from, id + 1);
    SHALE_ASSIGN_OR_RETURN(ObjectRecord rec, decode_object(ObjectId(id), kv.value));
    added.push_back(std::move(rec));
  }
  for (const auto& kv : gc.kvs) {
    SHALE_ASSIGN_OR_RETURN(uint64_t id, id_from_key(kv.key));
    deleted.push_back(ObjectId(id));
  }
  std::lock_guard lk(mu_);
  for (const auto& r : added) {
    if (!object_records_.count(r.id)) index_object_locked(r);
  }
  // Streams that lose an indexed object: were they covered before, and are they still?
  std::map<StreamId, StreamPtr> touched;
  for (ObjectId id : deleted) {
    auto it = object_records_.find(id);
    if (it == object_records_.end()) continue;
    for (const auto& rg : it->second.ranges) {
      StreamPtr st = find_locked(rg.stream);
      if (st && !touched.count(st->id) && index_covers_locked(*st)) touched[st->id] = st;
    }
  }
  for (ObjectId id : deleted) unindex_object_locked(id);
  index_scan_from_ = scan_from;
  for (const auto& [id, st] : touched) {
    if (!index_covers_locked(*st)) {
      SHALE_LOG_INFO("stream",
                     "stream {}: a deleted object's replacement is not in the incremental read; "
                     "re-reading every object record",
                     id);
      return true;
    }
  }
  return false;
}

Status StreamStoreImpl::read_whole_index(int64_t started) {
  const std::string op(kObjectsPrefix);
  SHALE_ASSIGN_OR_RETURN(meta::RangeResult objects, meta_.get(op, meta::prefix_end(op)));
  std::set<ObjectId> present;
  std::vector<ObjectRecord> fresh;
  uint64_t scan_from = index_scan_from_;
  for (const auto& kv : objects.kvs) {
    SHALE_ASSIGN_OR_RETURN(uint64_t id, id_from_key(kv.key));
    present.insert(ObjectId(id));
    scan_from = std::max(scan_from, id + 1);
    std::lock_guard lk(mu_);
    if (object_records_.count(ObjectId(id))) continue;
    SHALE_ASSIGN_OR_RETURN(ObjectRecord rec, decode_object(ObjectId(id), kv.value));
    fresh.push_back(std::move(rec));
  }
  // Forget every deleted object, of any stream. Safe: this node indexes its own commits under
  // meta_mu_ (held here), so nothing it committed after the read can be mistaken for deleted.
  std::lock_guard lk(mu_);
  std::vector<ObjectId> gone;
  for (const auto& [id, rec] : object_records_) {
    if (!present.count(id)) gone.push_back(id);
  }
  for (ObjectId id : gone) unindex_object_locked(id);
  for (const auto& r : fresh) index_object_locked(r);
  index_scan_from_ = scan_from;
  index_synced_ms_ = started;
  stats_.index_full_reads++;
  return Status();
}

Status StreamStoreImpl::refresh_index_once() {
  std::lock_guard mk(meta_mu_);
  const int64_t started = now_ms();
  if (index_synced_ms_ < 0 || started - index_synced_ms_ < opts_.delete_grace_ms / 4 ||
      started - index_synced_ms_ >= opts_.delete_grace_ms / 2) {
    return Status();  // fresh enough, or too stale to catch up (the next open reads everything)
  }
  SHALE_ASSIGN_OR_RETURN(bool holes, read_index_changes());
  if (holes) return read_whole_index(started);
  index_synced_ms_ = started;
  return Status();
}

void StreamStoreImpl::fence_locked(Stream& s) {
  SHALE_LOG_WARN("stream", "stream {} fenced: epoch {} replaced ours", s.id, s.rec.epoch);
  s.open_here = false;
  s.broken = true;
  s.wal_error = false;  // not ours any more: nothing to upload
  drop_unuploaded_locked(s);
}

Status StreamStoreImpl::write_stream_record(const StreamPtr& s,
                                            const std::function<Status(StreamRecord&)>& mutate) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    StreamRecord next;
    Revision rev;
    bool was_open;
    Epoch ours;
    {
      std::lock_guard lk(mu_);
      next = s->rec;
      rev = s->rev;
      was_open = s->open_here;
      ours = s->open_epoch;
    }
    SHALE_RETURN_IF_ERROR(mutate(next));
    meta::Txn t;
    t.compares.push_back(meta::Compare::mod_rev(stream_key(s->id), rev));
    t.success.push_back(meta::PutOp{stream_key(s->id), encode(next)});
    SHALE_ASSIGN_OR_RETURN(meta::TxnResult r, meta_.txn(t));
    if (r.succeeded) {
      std::lock_guard lk(mu_);
      s->rec = next;
      s->rev = r.revision;
      return Status();
    }
    SHALE_RETURN_IF_ERROR(refresh_stream(s));  // fences the stream if the epoch moved
    std::lock_guard lk(mu_);
    if (was_open && s->rec.epoch != ours) {
      return Status(Errc::kFenced,
                    fmt::format("stream {} is owned at epoch {}", s->id, s->rec.epoch));
    }
  }
  return Status(Errc::kConflict, fmt::format("stream {} record contended", s->id));
}

}  // namespace shale::stream
