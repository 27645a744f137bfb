// StreamStoreImpl: the uploader. One round moves every durable, un-uploaded batch of the log
// cache into objects (one stream-set object, plus a stream object per stream with at least
// stream_object_bytes), commits their index in ONE metadata txn fenced on each touched stream's
// record revision, trims the WAL and lets the cache evict the uploaded batches.
#include <algorithm>
#include <map>
#include <set>

#include "base/log.h"
#include "meta/txn_rules.h"
#include "objfmt/object.h"
#include "stream/stream_store_impl.h"

namespace shale::stream {
std::vector<ObjectRange> ranges_of(const std::vector<objfmt::BlockIndexEntry>& index) {
  std::vector<ObjectRange> out;
  for (const auto& b : index) {
    if (!out.empty() && out.back().stream == b.stream && out.back().end == b.start) {
      out.back().end = b.end;
      out.back().bytes += b.size;
      out.back().max_ts = std::max(out.back().max_ts, b.max_timestamp);
    } else {
      out.push_back(ObjectRange{b.stream, b.start, b.end, b.size, b.max_timestamp});
    }
  }
  std::sort(out.begin(), out.end(), [](const ObjectRange& a, const ObjectRange& b) {
    return a.stream != b.stream ? a.stream < b.stream : a.start < b.start;
  });
  return out;
}

std::string StreamStoreImpl::store_key(ObjectId id) const {
  return fmt::format("{}/n{}/i{}/{:020}", opts_.key_prefix, opts_.node.value(), incarnation_,
                     id.value());
}

void StreamStoreImpl::request_upload() {
  {
    std::lock_guard lk(mu_);
    upload_requested_ = true;
  }
  cv_.notify_all();
}

Status StreamStoreImpl::flush_uploads() {
  if (dead()) return dead_status();
  return upload_once();
}

Status StreamStoreImpl::upload_once() {
  std::lock_guard up(upload_mu_);
  if (dead()) return dead_status();
  struct Part {
    StreamPtr s;
    uint64_t generation;
    Epoch epoch;
    std::vector<CacheEntry> entries;
    size_t bytes = 0;
    Offset end{0};
  };
  std::vector<Part> parts;
  {
    std::lock_guard lk(mu_);
    for (auto& [id, s] : streams_) {
      // A stream broken by a WAL error is still ours: upload what it acknowledged before.
      const bool ours = !s->broken || s->wal_error;
      if (!ours || s->uploaded_prefix >= s->cache.size()) continue;
      Part p{s, s->generation, s->open_here ? s->open_epoch : s->rec.epoch, {}, 0, Offset(0)};
      for (size_t i = s->uploaded_prefix; i < s->cache.size(); ++i) {
        p.entries.push_back(s->cache[i]);
        p.bytes += s->cache[i].batch.size();
      }
      p.end = p.entries.back().end();
      parts.push_back(std::move(p));
    }
  }
  if (parts.empty()) {
    trim_wal();
    drain_waiting();
    return Status();
  }
  std::sort(parts.begin(), parts.end(),
            [](const Part& a, const Part& b) { return a.s->id < b.s->id; });

  // Adoption: a WAL object (wal.h WalObject) whose records are all in this round is indexed in
  // place; its records are not uploaded again.
  std::vector<std::vector<const wal::WalObject*>> obj_of(parts.size());
  std::map<std::string, std::pair<std::shared_ptr<const wal::WalObject>, uint32_t>> seen;
  if (opts_.adopt_min_bytes != UINT64_MAX) {
    std::shared_ptr<const wal::WalObject> last;
    for (size_t pi = 0; pi < parts.size(); ++pi) {
      for (const CacheEntry& e : parts[pi].entries) {
        if (!last || e.pos < last->start || e.pos >= last->end) last = wal_.object_at(e.pos);
        obj_of[pi].push_back(last.get());
        if (last) {
          auto& [o, n] = seen[last->key];
          o = last;
          ++n;
        }
      }
    }
  }
  std::vector<std::shared_ptr<const wal::WalObject>> adopted;
  std::set<const wal::WalObject*> adopt;
  // The commit txn must stay within etcd's op limit: one put per touched stream, per built object
  // (at most one per stream plus the shared one) and two per adopted object (record, keep key).
  const size_t fixed_ops = 2 * parts.size() + 1;
  const size_t max_adopt = meta::kMaxTxnOps > fixed_ops ? (meta::kMaxTxnOps - fixed_ops) / 2 : 0;
  for (auto& [key, on] : seen) {
    const auto& [o, n] = on;
    if (adopted.size() < max_adopt && n == o->records && o->size >= opts_.adopt_min_bytes &&
        !o->keep_key.empty() && !adopt_refused_.count(key)) {
      adopted.push_back(o);
      adopt.insert(o.get());
    }
  }
  auto is_adopted = [&](size_t pi, size_t i) {
    return !obj_of[pi].empty() && obj_of[pi][i] && adopt.count(obj_of[pi][i]);
  };

  // Build: big streams get their own stream object; the rest share one stream-set object.
  struct Built {
    ObjectKind kind;
    objfmt::ObjectBuilder::Built built;
  };
  std::vector<Built> built;
  objfmt::ObjectBuilder sso;
  for (size_t pi = 0; pi < parts.size(); ++pi) {
    const Part& p = parts[pi];
    size_t bytes = 0;
    for (size_t i = 0; i < p.entries.size(); ++i) {
      if (!is_adopted(pi, i)) bytes += p.entries[i].batch.size();
    }
    if (bytes == 0) continue;
    const bool own = bytes >= opts_.stream_object_bytes;
    objfmt::ObjectBuilder so;
    objfmt::ObjectBuilder& b = own ? so : sso;
    for (size_t i = 0; i < p.entries.size(); ++i) {
      const CacheEntry& e = p.entries[i];
      if (is_adopted(pi, i)) continue;
      SHALE_RETURN_IF_ERROR(b.add(p.s->id, e.base, e.count, e.max_ts, e.batch));
    }
    if (own) built.push_back(Built{ObjectKind::kStream, so.finish()});
  }
  if (!sso.empty()) built.push_back(Built{ObjectKind::kStreamSet, sso.finish()});

  const size_t n_objects = built.size() + adopted.size();
  SHALE_ASSIGN_OR_RETURN(uint64_t first_id, allocate_ids(kObjectIdCounter, n_objects));
  std::vector<ObjectRecord> records;
  for (size_t i = 0; i < n_objects; ++i) {
    ObjectRecord r;
    r.id = ObjectId(first_id + i);
    r.data_time_ms = now_ms();
    if (i < built.size()) {
      r.key = store_key(r.id);
      r.size = built[i].built.size;
      r.kind = built[i].kind;
      r.ranges = ranges_of(built[i].built.index);
    } else {
      const wal::WalObject& o = *adopted[i - built.size()];
      r.key = o.key;
      r.size = o.size;
      r.kind = ObjectKind::kStreamSet;
      for (const auto& rg : o.ranges)
        r.ranges.push_back(ObjectRange{rg.stream, rg.start, rg.end, rg.bytes, rg.max_ts});
    }
    records.push_back(std::move(r));
  }
  auto discard = [&] {
    std::vector<std::string> keys;  // adopted objects are still the WAL's
    for (size_t i = 0; i < built.size(); ++i) keys.push_back(records[i].key);
    if (!keys.empty())
      (void)objects_.remove(keys);  // best effort; the orphan sweep catches the rest
  };

  if (crash_at("upload.before_put")) return dead_status();
  for (size_t i = 0; i < built.size(); ++i) {
    objstore::PutOptions po;
    po.if_none_match = objects_.capabilities().conditional_put;
    Status st = objects_.put(records[i].key, built[i].built.parts, po);
    if (!st.ok()) {
      discard();
      return st;
    }
  }
  if (crash_at("upload.after_put")) return dead_status();

  // Commit the whole upload in one txn, fenced on every touched stream's record revision.
  {
    std::lock_guard mk(meta_mu_);
    meta::Txn t;
    {
      std::lock_guard lk(mu_);
      for (const Part& p : parts) {
        StreamRecord next = p.s->rec;
        next.committed_end = p.end;
        t.compares.push_back(meta::Compare::mod_rev(stream_key(p.s->id), p.s->rev));
        t.success.push_back(meta::PutOp{stream_key(p.s->id), encode(next)});
      }
    }
    for (const auto& r : records) t.success.push_back(meta::PutOp{object_key(r.id), encode(r)});
    for (const auto& o : adopted) t.success.push_back(meta::PutOp{o->keep_key, o->key});
    Result<meta::TxnResult> res = meta_.txn(t);
    if (!res.ok()) {
      // The answer was lost: the commit may have applied (or may still apply), so the objects
      // stay. Read back whether it did; if it did not (yet), the next round uploads the same
      // records again, and the maintenance thread deletes these objects if the commit has still
      // not landed a grace period later (note_unsure_locked).
      Result<std::optional<Revision>> landed = commit_landed(records.front().id);
      if (!landed.ok() || !*landed) {
        for (const auto& o : adopted) adopt_refused_.insert(o->key);
        note_unsure_locked(records, {});
        return res.status();
      }
      SHALE_LOG_WARN("stream", "upload commit answered {} but landed at revision {}",
                     res.status().to_string(), (*landed)->value());
      res = meta::TxnResult{true, **landed, {}};
    }
    if (!res->succeeded) {
      discard();  // definitely not committed: the objects are ours to delete
      // Someone changed a touched stream: learn who; an epoch change fences that stream.
      for (const Part& p : parts) {
        SHALE_RETURN_IF_ERROR(refresh_stream(p.s));
        std::lock_guard lk(mu_);
        if (p.s->rec.epoch != p.epoch || p.s->rec.state == StreamState::kDeleted) {
          fence_locked(*p.s);
        }
      }
      return Status(Errc::kConflict, "upload commit lost a race; retrying next round");
    }
    if (crash_at("upload.after_commit")) return dead_status();
    std::lock_guard lk(mu_);
    for (const Part& p : parts) {
      Stream& s = *p.s;
      s.rec.committed_end = p.end;
      s.rev = res->revision;
      if (s.generation != p.generation) continue;
      for (size_t i = 0; i < p.entries.size(); ++i) {
        CacheEntry& e = s.cache[s.uploaded_prefix + i];
        e.uploaded = true;
        s.unuploaded_bytes -= e.batch.size();
      }
      s.uploaded_prefix += p.entries.size();
      unuploaded_bytes_ -= p.bytes;
    }
    for (const auto& r : records) index_object_locked(r);
    if (stats_.adopted_objects == 0 && !adopted.empty()) {
      SHALE_LOG_INFO("stream", "upload indexed {} WAL object(s) in place (adoption; logged once)",
                     adopted.size());
    }
    for (const auto& o : adopted) {
      stats_.adopted_objects++;
      stats_.adopted_bytes += o->size;
    }
    oldest_unuploaded_ms_ = unuploaded_bytes_ == 0 ? -1 : now_ms();
    stats_.uploads++;
    evict_locked();
  }
  trim_wal();
  if (crash_at("upload.after_wal_trim")) return dead_status();
  drain_waiting();
  return Status();
}

void StreamStoreImpl::trim_wal() {
  // Trim up to the first un-uploaded record. With nothing un-uploaded and nothing in flight, the
  // whole WAL (as of `end`, read before the check) is uploaded.
  const WalPos end = wal_.end();
  WalPos target{-1};
  {
    std::lock_guard lk(mu_);
    if (dead()) return;
    for (auto& [id, s] : streams_) {
      if (s->uploaded_prefix < s->cache.size()) {
        WalPos p = s->cache[s->uploaded_prefix].pos;
        if (target.value() < 0 || p < target) target = p;
      }
    }
    if (target.value() < 0) {
      if (inflight_total_ != 0) return;
      target = end;
    }
    if (target <= wal_trimmed_ || wal_fenced_) return;
  }
  Status st = wal_.trim(target);
  if (!st.ok()) {
    // The uploader tries every tick: a fenced WAL (taken over by another broker; this one exits
    // once it notices) is never trimmed again, other failures are logged at most every 10 s.
    std::lock_guard lk(mu_);
    ++stats_.wal_trim_failures;
    const auto now = std::chrono::steady_clock::now();
    if (st.code() == Errc::kFenced) {
      wal_fenced_ = true;
      SHALE_LOG_WARN("stream", "WAL trim to {} failed: {}; the WAL is fenced: no more trims",
                     target, st.to_string());
    } else if (now - trim_warned_ >= std::chrono::seconds(10)) {
      SHALE_LOG_WARN("stream", "WAL trim to {} failed: {} ({} more failures not logged)", target,
                     st.to_string(), trim_unlogged_);
      trim_warned_ = now;
      trim_unlogged_ = 0;
    } else {
      ++trim_unlogged_;
    }
    return;
  }
  std::lock_guard lk(mu_);
  wal_trimmed_ = std::max(wal_trimmed_, target);
}

void StreamStoreImpl::uploader_loop() {
  const auto tick =
      std::chrono::milliseconds(std::clamp<int64_t>(opts_.upload_interval_ms / 4, 1, 50));
  std::unique_lock lk(mu_);
  while (!stopping_ && !dead()) {
    cv_.wait_for(lk, tick);
    if (stopping_ || dead()) break;
    const bool aged =
        oldest_unuploaded_ms_ >= 0 && now_ms() - oldest_unuploaded_ms_ >= opts_.upload_interval_ms;
    const bool should = upload_requested_ || aged || !waiting_.empty() ||
                        unuploaded_bytes_ >= opts_.upload_threshold_bytes;
    if (!should) continue;
    upload_requested_ = false;
    lk.unlock();
    Status st = upload_once();
    if (!st.ok() && !dead()) {
      SHALE_LOG_WARN("stream", "upload failed: {}", st.to_string());
    }
    lk.lock();
  }
}

}  // namespace shale::stream
