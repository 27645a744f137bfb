// StreamStoreImpl: retention, object garbage collection and compaction (the maintenance thread).
//
// Object lifecycle: committed (/shale/objects/<id>) → dead (all its ranges below their stream's
// start, or their stream deleted, or replaced by compaction) → pending delete (/shale/gc/<id>
// with a deadline; the object record is removed in the same txn) → deleted from the object
// store after the deadline → gc record removed. Each step survives a crash: a pending delete is
// retried after restart; deleting an already deleted object is not an error.
#include <algorithm>

#include "base/log.h"
#include "objfmt/compact.h"
#include "stream/stream_store_impl.h"

namespace shale::stream {

bool StreamStoreImpl::object_dead_locked(const ObjectRecord& r) const {
  for (const auto& rg : r.ranges) {
    StreamPtr s = find_locked(rg.stream);
    if (!s) return false;  // a stream this node does not know: assume it is alive
    if (s->rec.state != StreamState::kDeleted && rg.end > s->rec.start) return false;
  }
  return true;
}

Status StreamStoreImpl::collect_dead_objects(const std::set<ObjectId>& candidates) {
  std::lock_guard mk(meta_mu_);
  for (ObjectId id : candidates) {
    ObjectRecord rec;
    {
      std::lock_guard lk(mu_);
      auto it = object_records_.find(id);
      if (it == object_records_.end() || !object_dead_locked(it->second)) continue;
      rec = it->second;
    }
    if (crash_at("gc.before_mark")) return dead_status();
    meta::Txn t;
    t.compares.push_back(meta::Compare{
        object_key(id), meta::Compare::Target::kVersion, meta::Compare::Op::kGreater, 0, {}});
    t.success.push_back(meta::DeleteOp{object_key(id), {}});
    t.success.push_back(
        meta::PutOp{gc_key(id), encode(PendingDelete{rec.key, now_ms() + opts_.delete_grace_ms})});
    SHALE_ASSIGN_OR_RETURN(meta::TxnResult r, meta_.txn(t));
    if (crash_at("gc.after_mark")) return dead_status();
    std::lock_guard lk(mu_);
    unindex_object_locked(id);  // either we moved it, or it was already gone
    (void)r;
  }
  return Status();
}

Status StreamStoreImpl::gc_once() {
  if (dead()) return dead_status();
  {
    // First: a landed compaction must leave the index before gc deletes its inputs.
    std::lock_guard mk(meta_mu_);
    SHALE_RETURN_IF_ERROR(retry_unsure_locked());
  }
  const std::string gp(kGcPrefix);
  SHALE_ASSIGN_OR_RETURN(meta::RangeResult gc, meta_.get(gp, meta::prefix_end(gp)));
  for (const auto& kv : gc.kvs) {
    SHALE_ASSIGN_OR_RETURN(PendingDelete pd, decode_pending_delete(kv.value));
    if (pd.deadline_ms > now_ms()) continue;
    // An adopted WAL object: not while its WAL may still replay it; its keep key goes after it.
    const std::string keep = wal_.keep_key_for(pd.key);
    if (!keep.empty()) {
      SHALE_ASSIGN_OR_RETURN(bool indexed, wal_.still_indexed(pd.key));
      if (indexed) continue;  // the WAL has not trimmed it yet: a later pass
    }
    if (crash_at("gc.before_delete")) return dead_status();
    SHALE_RETURN_IF_ERROR(objects_.remove({pd.key}));
    block_cache_.erase_object(pd.key);
    if (crash_at("gc.after_delete")) return dead_status();
    meta::Txn t;
    t.compares.push_back(meta::Compare::mod_rev(kv.key, kv.mod_revision));
    t.success.push_back(meta::DeleteOp{kv.key, {}});
    if (!keep.empty()) t.success.push_back(meta::DeleteOp{keep, {}});
    SHALE_ASSIGN_OR_RETURN(meta::TxnResult r, meta_.txn(t));
    (void)r;
    std::lock_guard lk(mu_);
    stats_.objects_deleted++;
  }
  return Status();
}

Status StreamStoreImpl::retention_once() {
  if (dead()) return dead_status();
  std::vector<std::pair<StreamId, Offset>> trims;
  {
    std::lock_guard lk(mu_);
    const int64_t now = now_ms();
    for (auto& [id, s] : streams_) {
      if (!s->open_here || s->broken) continue;  // the owner applies retention
      const auto& rec = s->rec;
      if (rec.retention_ms < 0 && rec.retention_bytes < 0) continue;
      // Whole object ranges only (like Kafka's whole segments); never beyond the uploaded end.
      uint64_t total = 0;
      for (auto& [first, sl] : s->index) {
        if (sl.end > rec.start) total += sl.bytes;
      }
      for (size_t i = s->uploaded_prefix; i < s->cache.size(); ++i)
        total += s->cache[i].batch.size();
      Offset new_start = rec.start;
      for (auto& [first, sl] : s->index) {
        if (sl.end <= new_start) continue;
        if (first > new_start) break;  // a gap: stop
        const bool too_old =
            rec.retention_ms >= 0 && sl.max_ts >= 0 && sl.max_ts < now - rec.retention_ms;
        const bool too_big = rec.retention_bytes >= 0 &&
                             total - sl.bytes >= static_cast<uint64_t>(rec.retention_bytes);
        if (!too_old && !too_big) break;
        total -= sl.bytes;
        new_start = sl.end;
      }
      if (new_start > rec.start) trims.emplace_back(id, new_start);
    }
  }
  for (auto [id, off] : trims) {
    Status st = trim(id, off);
    if (!st.ok()) return st;
  }
  return Status();
}

// An object that holds one stream and at least half the small-object size is a stream object
// in all but name (typically an adopted WAL object of a busy partition): merging it would at best
// halve the object count, for the price of writing every byte of it a second time.
bool StreamStoreImpl::large_single_stream(const ObjectRecord& r) const {
  return !r.ranges.empty() && r.ranges.front().stream == r.ranges.back().stream &&
         r.size >= opts_.compact_small_object_bytes / 2;
}

Status StreamStoreImpl::compact_once() {
  if (dead()) return dead_status();
  // Not under upload_mu_: a compaction moves hundreds of MiB, and an upload waiting for it held
  // appends behind the log cache's back-pressure for seconds (BENCHMARKS.md § 5e). The two may
  // run side by side: their commits are serialised by meta_mu_, and neither touches what the
  // other commits (an upload adds objects and moves stream ends; a compaction replaces
  // committed objects, checked in its txn).
  std::lock_guard cm(compact_mu_);
  std::vector<ObjectRecord> inputs;
  std::map<StreamId, objfmt::LiveRange> live;
  const std::string own_prefix = fmt::format("{}/n{}/", opts_.key_prefix, opts_.node.value());
  const std::string wal_prefix = wal_.own_object_prefix();
  {
    std::lock_guard lk(mu_);
    for (auto& [id, r] : object_records_) {
      if (r.kind != ObjectKind::kStreamSet || r.size >= opts_.compact_small_object_bytes) continue;
      if (large_single_stream(r)) continue;
      // Only objects this node wrote: its uploads and the WAL objects it adopted.
      if (r.key.rfind(own_prefix, 0) != 0 &&
          (wal_prefix.empty() || r.key.rfind(wal_prefix, 0) != 0))
        continue;
      inputs.push_back(r);
      if (inputs.size() >= opts_.compact_max_objects) break;
    }
    if (inputs.size() < std::max<size_t>(opts_.compact_min_objects, 2)) return Status();
    for (const auto& r : inputs) {
      for (const auto& rg : r.ranges) {
        StreamPtr s = find_locked(rg.stream);
        if (!s) {
          live[rg.stream] = objfmt::LiveRange{Offset(0), Offset::max()};  // unknown: keep all
        } else if (s->rec.state != StreamState::kDeleted) {
          live[rg.stream] = objfmt::LiveRange{s->rec.start, Offset::max()};
        }
      }
    }
  }
  std::vector<objfmt::SourceObject> sources;
  for (const auto& r : inputs) {
    SHALE_ASSIGN_OR_RETURN(auto layout, reader_->layout(r.key, r.size));
    sources.push_back(objfmt::SourceObject{r.key, *layout});
  }
  objfmt::CompactOptions co;
  co.split_threshold = opts_.stream_object_bytes;
  // Outputs stream to the store as they are built (bounded memory); their ids are allocated
  // once their number is known, before the first byte is written.
  std::vector<ObjectId> ids;
  std::vector<std::string> keys;
  auto name_outputs = [&](size_t n) -> Result<std::vector<std::string>> {
    SHALE_ASSIGN_OR_RETURN(uint64_t first_id, allocate_ids(kObjectIdCounter, n));
    for (size_t i = 0; i < n; ++i) {
      ids.push_back(ObjectId(first_id + i));
      keys.push_back(store_key(ids.back()));
    }
    if (crash_at("compact.before_put")) return dead_status();
    return keys;
  };
  Result<objfmt::CompactResult> compacted =
      objfmt::compact_to_store(compact_objects_, sources, live, co, name_outputs);
  if (!compacted.ok()) {
    if (!dead() && !keys.empty()) (void)objects_.remove(keys);  // best effort; orphan sweep
    return compacted.status();
  }
  if (keys.empty() && crash_at("compact.before_put")) return dead_status();  // nothing to write
  objfmt::CompactResult& cr = *compacted;
  std::vector<ObjectRecord> outputs;
  for (size_t i = 0; i < cr.objects.size(); ++i) {
    ObjectRecord r;
    r.id = ids[i];
    r.key = cr.objects[i].key;
    r.size = cr.objects[i].built.size;
    r.kind = cr.objects[i].stream ? ObjectKind::kStream : ObjectKind::kStreamSet;
    r.data_time_ms = now_ms();
    for (const auto& in : inputs) r.data_time_ms = std::min(r.data_time_ms, in.data_time_ms);
    r.ranges = ranges_of(cr.objects[i].built.index);
    outputs.push_back(std::move(r));
  }
  if (crash_at("compact.after_put")) return dead_status();
  // Swap in one txn: every input must still be committed (retention may have retired one).
  std::lock_guard mk(meta_mu_);
  meta::Txn t;
  for (const auto& in : inputs) {
    t.compares.push_back(meta::Compare{
        object_key(in.id), meta::Compare::Target::kVersion, meta::Compare::Op::kGreater, 0, {}});
    t.success.push_back(meta::DeleteOp{object_key(in.id), {}});
    t.success.push_back(meta::PutOp{
        gc_key(in.id), encode(PendingDelete{in.key, now_ms() + opts_.delete_grace_ms})});
  }
  for (const auto& out : outputs) t.success.push_back(meta::PutOp{object_key(out.id), encode(out)});
  Result<meta::TxnResult> res = meta_.txn(t);
  if (!res.ok()) {
    // The answer was lost: the swap may have applied (or may still apply) and name the outputs,
    // so they stay. If it did not land (yet), the inputs stay indexed, and the outputs are
    // deleted if it has still not landed a grace period later (note_unsure_locked).
    if (outputs.empty()) return res.status();  // nothing written, so nothing to lose
    Result<std::optional<Revision>> landed = commit_landed(outputs.front().id);
    if (!landed.ok() || !*landed) {
      std::vector<ObjectId> replaced;
      for (const auto& in : inputs) replaced.push_back(in.id);
      note_unsure_locked(outputs, std::move(replaced));
      return res.status();
    }
    SHALE_LOG_WARN("stream", "compaction commit answered {} but landed at revision {}",
                   res.status().to_string(), (*landed)->value());
  } else if (!res->succeeded) {
    std::vector<std::string> keys;  // definitely not committed: the outputs are ours to delete
    for (auto& o : outputs) keys.push_back(o.key);
    (void)objects_.remove(keys);
    return Status();  // lost a race with GC: try again later
  }
  if (crash_at("compact.after_commit")) return dead_status();
  std::lock_guard lk(mu_);
  for (const auto& in : inputs) unindex_object_locked(in.id);
  for (const auto& out : outputs) index_object_locked(out);
  stats_.compactions++;
  return Status();
}

void StreamStoreImpl::maintenance_loop() {
  const auto interval =
      std::chrono::milliseconds(std::max<int64_t>(opts_.maintenance_interval_ms, 1));
  std::unique_lock lk(mu_);
  while (!stopping_ && !dead()) {
    maint_cv_.wait_for(lk, interval);
    if (stopping_ || dead()) break;
    lk.unlock();
    for (Status st : {retention_once(), gc_once(), compact_once(), refresh_index_once()}) {
      if (!st.ok() && !dead()) SHALE_LOG_WARN("stream", "maintenance: {}", st.to_string());
    }
    lk.lock();
  }
}

}  // namespace shale::stream
