// Lifecycle, control calls and the append path of StreamStoreImpl. Reads are in read_path.cc,
// the uploader in uploader.cc, recovery in recovery.cc, retention/GC/compaction in maintenance.cc.
#include "stream/stream_store_impl.h"

#include <algorithm>
#include <future>

#include "base/endian.h"
#include "base/log.h"
#include "meta/txn_rules.h"

namespace shale::stream {
namespace {

// One line at stop about where catch-up reads spent their time (benchmarks read it from the log).
void log_cold_read_summary(const objfmt::CatchUpStats& st) {
  if (st.reads == 0) return;
  const double n = static_cast<double>(st.reads);
  SHALE_LOG_INFO(
      "stream",
      "cold reads: {} ({} sequential), per read mean ms: queued {:.2f}, served {:.2f} "
      "(waiting for read-ahead {:.2f}); {} read-ahead windows, {} read-ahead GETs of mean "
      "{:.1f} ms; {} GETs, {} block hits, {} misses, {} dropped behind",
      st.reads, st.sequential_reads, st.read_queued_us / n / 1000.0, st.read_served_us / n / 1000.0,
      st.read_inflight_wait_us / n / 1000.0, st.windows, st.prefetch_gets,
      st.prefetch_gets ? st.prefetch_us / static_cast<double>(st.prefetch_gets) / 1000.0 : 0.0,
      st.gets, st.block_hits, st.block_misses, st.dropped_behind);
}

}  // namespace

// Nice value added to the cold-read pool's threads (CatchUpReaderOptions::thread_nice). Left at
// 0: on the shared 2-core machine +5 (with the object-page drop tried at the same time) gave a
// backlog drain of 83-87 MB/s against 187-203 MB/s and no lower tail p99 (BENCHMARKS.md section
// 1): nice is relative to every process on the machine, not only to the broker's event loops.
constexpr int kColdReadNice = 0;

int64_t batch_max_timestamp(const Buf& batch) {
  // Kafka v2 batch: baseOffset(8) length(4) leaderEpoch(4) magic(1) crc(4) attributes(2)
  // lastOffsetDelta(4) baseTimestamp(8) maxTimestamp(8) ... ; maxTimestamp at [35, 43).
  constexpr size_t kMaxTsOff = 35;
  constexpr size_t kMagicOff = 16;
  if (batch.size() < kMaxTsOff + 8 || batch[kMagicOff] != 2) return -1;
  return load_be<int64_t>(batch.data() + kMaxTsOff);
}

std::unique_ptr<StreamStoreImpl> open_stream_store(StoreOptions opts, wal::Wal& wal,
                                                   objstore::ObjectStore& objects,
                                                   meta::MetaStore& meta, Clock& clock) {
  return std::make_unique<StreamStoreImpl>(std::move(opts), wal, objects, meta, clock);
}

StreamStoreImpl::StreamStoreImpl(StoreOptions opts, wal::Wal& wal, objstore::ObjectStore& objects,
                                 meta::MetaStore& meta, Clock& clock)
    : opts_(std::move(opts)),
      wal_(wal),
      objects_(objects),
      meta_(meta),
      clock_(clock),
      cold_read_budget_(clock_, opts_.cold_read_bytes_per_sec, opts_.io_budget_burst_bytes),
      compaction_budget_(clock_, opts_.compaction_bytes_per_sec, opts_.io_budget_burst_bytes),
      cold_objects_(objects_, cold_read_budget_),
      compact_objects_(objects_, compaction_budget_),
      block_cache_(opts_.block_cache_bytes) {}

StreamStoreImpl::~StreamStoreImpl() {
  stop();
}

bool StreamStoreImpl::crash_at(std::string_view point) {
  if (dead_.load()) return true;
  if (!opts_.crash_hook || !opts_.crash_hook(point)) return false;
  {
    std::lock_guard lk(mu_);
    dead_point_ = std::string(point);
  }
  dead_.store(true);
  SHALE_LOG_WARN("stream", "simulated crash at {}", point);
  cv_.notify_all();
  idle_cv_.notify_all();
  maint_cv_.notify_all();
  return true;
}

bool StreamStoreImpl::dead() const {
  return dead_.load();
}

Status StreamStoreImpl::dead_status() const {
  return Status(Errc::kUnavailable, "stream store crashed (simulated)");
}

StreamStoreImpl::StreamPtr StreamStoreImpl::find_locked(StreamId id) const {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second;
}

Status StreamStoreImpl::start() {
  {
    std::lock_guard lk(mu_);
    if (started_) return Status(Errc::kInvalidArgument, "stream store already started");
  }
  {
    std::lock_guard mk(meta_mu_);
    SHALE_ASSIGN_OR_RETURN(incarnation_, allocate_ids(node_incarnation_key(opts_.node), 1));
    const int64_t started = now_ms();
    SHALE_RETURN_IF_ERROR(load_metadata());
    index_synced_ms_ = started;  // the index is complete as of the start
    SHALE_RETURN_IF_ERROR(recover_wal());
  }
  SHALE_RETURN_IF_ERROR(wal_.start());
  if (opts_.sweep_orphans) SHALE_RETURN_IF_ERROR(sweep_orphans());
  objfmt::CatchUpReaderOptions ro;
  ro.threads = opts_.cold_read_threads;
  ro.thread_nice = kColdReadNice;
  ro.drop_behind = opts_.cold_read_drop_behind;
  reader_ = std::make_unique<objfmt::CatchUpReader>(cold_objects_, block_cache_, ro);
  {
    std::lock_guard lk(mu_);
    started_ = true;
  }
  if (opts_.background) {
    uploader_ = std::thread([this] { uploader_loop(); });
    maintenance_ = std::thread([this] { maintenance_loop(); });
  }
  request_upload();  // recovered data goes to object storage promptly
  return Status();
}

void StreamStoreImpl::stop() {
  std::deque<WaitingAppend> waiting;
  {
    std::unique_lock lk(mu_);
    if (!started_ || stopping_) return;
    closing_ = true;  // refuse new appends
    idle_cv_.wait_for(lk, std::chrono::seconds(10), [&] { return inflight_total_ == 0 || dead(); });
    waiting.swap(waiting_);
  }
  for (auto& w : waiting) w.cb(Status(Errc::kClosed, "stream store stopping"));
  if (!dead() && opts_.upload_on_stop) {
    Status st = upload_once();
    if (!st.ok()) SHALE_LOG_WARN("stream", "final upload failed: {}", st.to_string());
  }
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  maint_cv_.notify_all();
  if (uploader_.joinable()) uploader_.join();
  if (maintenance_.joinable()) maintenance_.join();
  if (reader_) {
    reader_->stop();
    log_cold_read_summary(reader_->stats());
  }
  wal_.stop();
}

Result<StreamId> StreamStoreImpl::create(const RetentionPolicy& policy) {
  SHALE_ASSIGN_OR_RETURN(std::vector<StreamId> ids, create_many(1, policy));
  return ids.front();
}

Result<std::vector<StreamId>> StreamStoreImpl::create_many(size_t n,
                                                           const RetentionPolicy& policy) {
  if (dead()) return dead_status();
  if (n == 0) return std::vector<StreamId>();
  std::lock_guard mk(meta_mu_);
  SHALE_ASSIGN_OR_RETURN(uint64_t first, allocate_ids(kStreamIdCounter, n));
  StreamRecord rec;
  rec.retention_ms = policy.retention_ms;
  rec.retention_bytes = policy.retention_bytes;
  const std::string value = encode(rec);
  const uint64_t end = first + n;
  std::vector<std::pair<StreamId, Revision>> made;
  for (uint64_t at = first; at < end; at += meta::kMaxTxnOps) {
    const uint64_t chunk_end = std::min<uint64_t>(end, at + meta::kMaxTxnOps);
    meta::Txn t;
    for (uint64_t id = at; id < chunk_end; ++id) {
      t.compares.push_back(meta::Compare::absent(stream_key(StreamId(id))));
      t.success.push_back(meta::PutOp{stream_key(StreamId(id)), value});
    }
    // Self-fencing (each compare says "absent", each put creates), and nobody else writes these
    // freshly allocated ids: a lost answer is settled by the backend's repeat.
    t.repeat_if_lost = true;
    Result<meta::TxnResult> r = meta_.txn(t);
    Status st = !r.ok()        ? r.status()
                : r->succeeded ? Status()
                               : Status(Errc::kConflict, fmt::format("stream {} exists", at));
    if (!st.ok()) {
      for (const auto& [id, rev] : made) {  // all or nothing (best effort: unopened records)
        meta::Txn undo;
        undo.compares.push_back(meta::Compare::mod_rev(stream_key(id), rev));
        undo.success.push_back(meta::DeleteOp{stream_key(id), {}});
        (void)meta_.txn(undo);
      }
      return st.error();
    }
    for (uint64_t id = at; id < chunk_end; ++id) made.emplace_back(StreamId(id), r->revision);
  }
  std::vector<StreamId> out;
  std::lock_guard lk(mu_);
  for (const auto& [id, rev] : made) {
    auto s = std::make_shared<Stream>(id);
    s->rec = rec;
    s->rev = rev;
    streams_[id] = s;
    out.push_back(id);
  }
  return out;
}

Result<StreamInfo> StreamStoreImpl::open(StreamId id, Epoch epoch) {
  if (dead()) return dead_status();
  StreamPtr s;
  {
    std::lock_guard lk(mu_);
    s = find_locked(id);
  }
  {
    std::lock_guard mk(meta_mu_);
    if (!s) {  // created elsewhere: learn it (its objects: sync_objects below)
      SHALE_ASSIGN_OR_RETURN(meta::RangeResult rr, meta_.get(stream_key(id)));
      if (rr.kvs.empty()) return Error{Errc::kNotFound, fmt::format("stream {} not found", id)};
      SHALE_ASSIGN_OR_RETURN(StreamRecord rec, decode_stream(rr.kvs[0].value));
      std::lock_guard lk(mu_);
      s = find_locked(id);
      if (!s) {
        s = std::make_shared<Stream>(id);
        s->rec = rec;
        s->rev = rr.kvs[0].mod_revision;
        s->next = s->durable = rec.committed_end;
        s->broken = rec.state == StreamState::kDeleted;
        streams_[id] = s;
        index_known_objects_locked(s);
      }
    }
    SHALE_RETURN_IF_ERROR(refresh_stream(s));
    std::lock_guard lk(mu_);
    if (s->rec.state == StreamState::kDeleted) {
      return Error{Errc::kNotFound, fmt::format("stream {} deleted", id)};
    }
    if (epoch <= s->rec.epoch) {
      return Error{Errc::kFenced,
                   fmt::format("open stream {} at epoch {} <= stored {}", id, epoch, s->rec.epoch)};
    }
  }
  bool dirty;
  {
    // A reopen here: stop accepting appends at the old epoch and upload what this node holds,
    // so nothing acknowledged is left only in the WAL under a stale epoch.
    std::unique_lock lk(mu_);
    s->open_here = false;
    idle_cv_.wait(lk, [&] { return s->inflight == 0 || dead(); });
    dirty = s->uploaded_prefix < s->cache.size();
  }
  if (dirty) SHALE_RETURN_IF_ERROR(flush_uploads());
  std::lock_guard mk(meta_mu_);
  SHALE_RETURN_IF_ERROR(sync_objects(s));  // other nodes may have written it meanwhile
  if (crash_at("open.before_commit")) return dead_status();
  SHALE_RETURN_IF_ERROR(write_stream_record(s, [&](StreamRecord& r) -> Status {
    if (epoch <= r.epoch) return Status(Errc::kFenced, "stale epoch");
    r.epoch = epoch;
    return Status();
  }));
  bool covered;
  {
    std::lock_guard lk(mu_);
    covered = index_covers_locked(*s);
  }
  if (!covered) {
    // The previous owner committed between the index read and our epoch CAS (which then retried):
    // now that it is fenced, one more read finds its last objects.
    SHALE_RETURN_IF_ERROR(read_whole_index(now_ms()));
  }
  std::lock_guard lk(mu_);
  s->open_here = true;
  s->open_epoch = epoch;
  s->broken = false;
  s->wal_error = false;
  if (s->durable != s->rec.committed_end) {
    // Cluster: another node wrote the stream since this node last held it (or this node's
    // un-uploaded tail was fenced off): the local cache is stale, the index is the truth.
    drop_unuploaded_locked(*s);
    while (!s->cache.empty()) {
      cache_bytes_ -= s->cache.front().batch.size();
      s->cache.pop_front();
    }
    s->uploaded_prefix = 0;
    stats_.cache_bytes = cache_bytes_;
    s->durable = s->rec.committed_end;
  }
  s->next = s->durable;
  return info_locked(*s);
}

Status StreamStoreImpl::close(StreamId id) {
  if (dead()) return dead_status();
  {
    std::unique_lock lk(mu_);
    StreamPtr s = find_locked(id);
    if (!s) return Status(Errc::kNotFound, fmt::format("stream {} not found", id));
    s->open_here = false;
    idle_cv_.wait(lk, [&] { return s->inflight == 0 || dead(); });
  }
  return flush_uploads();
}

Status StreamStoreImpl::remove(StreamId id) {
  if (dead()) return dead_status();
  std::set<ObjectId> candidates;
  {
    std::lock_guard mk(meta_mu_);
    StreamPtr s;
    {
      std::lock_guard lk(mu_);
      s = find_locked(id);
    }
    if (!s) return Status(Errc::kNotFound, fmt::format("stream {} not found", id));
    SHALE_RETURN_IF_ERROR(refresh_stream(s));
    if (crash_at("remove.before_commit")) return dead_status();
    SHALE_RETURN_IF_ERROR(write_stream_record(s, [](StreamRecord& r) -> Status {
      r.state = StreamState::kDeleted;
      return Status();
    }));
    if (crash_at("remove.after_commit")) return dead_status();
    std::lock_guard lk(mu_);
    s->open_here = false;
    s->broken = true;
    s->wal_error = false;
    drop_unuploaded_locked(*s);
    for (auto& [start, sl] : s->index) candidates.insert(sl.object);
  }
  drain_waiting();
  return collect_dead_objects(candidates);
}

Status StreamStoreImpl::trim(StreamId id, Offset new_start) {
  if (dead()) return dead_status();
  std::set<ObjectId> candidates;
  Epoch epoch{0};
  {
    std::lock_guard mk(meta_mu_);
    StreamPtr s;
    {
      std::lock_guard lk(mu_);
      s = find_locked(id);
      if (!s || s->rec.state == StreamState::kDeleted) {
        return Status(Errc::kNotFound, fmt::format("stream {} not found", id));
      }
      // Only the owner moves the start: a node that released the stream (or was deposed) and
      // trims late would move it under the new owner, whose in-memory start stays behind.
      if (!s->open_here || s->broken) {
        return Status(Errc::kFenced, fmt::format("trim of stream {}: not its owner here", id));
      }
      epoch = s->open_epoch;
      if (new_start <= s->rec.start) return Status();
      if (new_start > std::max(s->durable, s->rec.committed_end)) {
        return Status(Errc::kOutOfRange, fmt::format("trim of stream {} to {} beyond end {}", id,
                                                     new_start, s->durable));
      }
    }
    if (crash_at("trim.before_commit")) return dead_status();
    SHALE_RETURN_IF_ERROR(write_stream_record(s, [&](StreamRecord& r) -> Status {
      if (r.epoch != epoch) {
        return Status(Errc::kFenced, fmt::format("stream {} is owned at epoch {}", id, r.epoch));
      }
      r.start = std::max(r.start, new_start);
      return Status();
    }));
    if (crash_at("trim.after_commit")) return dead_status();
    std::lock_guard lk(mu_);
    for (auto& [start, sl] : s->index) {
      if (sl.end <= s->rec.start) candidates.insert(sl.object);
    }
  }
  return collect_dead_objects(candidates);
}

Status StreamStoreImpl::set_retention(StreamId id, const RetentionPolicy& policy) {
  if (dead()) return dead_status();
  std::lock_guard mk(meta_mu_);
  StreamPtr s;
  {
    std::lock_guard lk(mu_);
    s = find_locked(id);
  }
  if (!s) return Status(Errc::kNotFound, fmt::format("stream {} not found", id));
  return write_stream_record(s, [&](StreamRecord& r) -> Status {
    r.retention_ms = policy.retention_ms;
    r.retention_bytes = policy.retention_bytes;
    return Status();
  });
}

StreamInfo StreamStoreImpl::info_locked(const Stream& s) const {
  StreamInfo i;
  i.id = s.id;
  i.epoch = s.rec.epoch;
  i.start = s.rec.start;
  i.end = std::max(s.durable, s.rec.committed_end);
  i.last_stable = i.end;
  i.retention_ms = s.rec.retention_ms;
  i.retention_bytes = s.rec.retention_bytes;
  i.size_bytes = size_locked(s);
  i.broken = s.broken && s.open_here;
  return i;
}

uint64_t StreamStoreImpl::size_locked(const Stream& s) const {
  // Slices and un-uploaded entries wholly below the start are dead; they form a prefix (the
  // index is ordered and contiguous), usually empty or short, as trim collects dead objects.
  uint64_t dead = 0;
  for (auto it = s.index.begin(); it != s.index.end() && it->second.end <= s.rec.start; ++it)
    dead += it->second.bytes;
  for (size_t i = s.uploaded_prefix; i < s.cache.size() && s.cache[i].end() <= s.rec.start; ++i)
    dead += s.cache[i].batch.size();
  return s.index_bytes + s.unuploaded_bytes - dead;
}

Result<StreamInfo> StreamStoreImpl::info(StreamId id) const {
  std::lock_guard lk(mu_);
  StreamPtr s = find_locked(id);
  if (!s || s->rec.state == StreamState::kDeleted) {
    return Error{Errc::kNotFound, fmt::format("stream {} not found", id)};
  }
  return info_locked(*s);
}

// ---- append ----------------------------------------------------------------------------------

void StreamStoreImpl::append(StreamId id, Epoch epoch, Buf batch, int32_t count,
                             AppendCallback cb) {
  if (count <= 0 || batch.size() < 8) {
    cb(Status(Errc::kInvalidArgument, "append needs count > 0 and a batch of >= 8 bytes"));
    return;
  }
  if (dead()) {
    cb(dead_status());
    return;
  }
  {
    std::unique_lock lk(mu_);
    if (!started_ || closing_) {
      lk.unlock();
      cb(Status(Errc::kClosed, "stream store not running"));
      return;
    }
    // Back-pressure: once un-uploaded data would overflow the log cache, appends queue (in
    // arrival order) until an upload frees room. Never dropped, never failed.
    if (!waiting_.empty() || draining_ ||
        (unuploaded_bytes_ > 0 && unuploaded_bytes_ + batch.size() > opts_.log_cache_bytes)) {
      if (waiting_.empty() && !draining_) backpressure_since_ms_ = now_ms();
      waiting_.push_back(WaitingAppend{id, epoch, std::move(batch), count, std::move(cb)});
      stats_.waiting_appends = waiting_.size();
      lk.unlock();
      request_upload();
      return;
    }
  }
  append_now(WaitingAppend{id, epoch, std::move(batch), count, std::move(cb)});
}

void StreamStoreImpl::append_now(WaitingAppend w) {
  StreamPtr s;
  {
    std::lock_guard lk(mu_);
    s = find_locked(w.id);
  }
  Status err;
  if (!s) err = Status(Errc::kNotFound, fmt::format("stream {} not open here", w.id));
  if (!err.ok()) {
    w.cb(err);
    return;
  }
  std::lock_guard order(s->append_mu);  // the per-stream critical section
  Offset base;
  bool kick = false;
  const size_t n = w.batch.size();
  {
    std::lock_guard lk(mu_);
    if (s->rec.state == StreamState::kDeleted || (!s->open_here && !s->broken)) {
      err = Status(Errc::kNotFound, fmt::format("stream {} not open here", w.id));
    } else if (w.epoch != s->open_epoch || s->broken) {
      err =
          Status(Errc::kFenced, fmt::format("stream {} epoch {} is not the owner", w.id, w.epoch));
    } else {
      base = s->next;
      s->next = s->next + w.count;
      s->inflight++;
      inflight_total_++;
      if (unuploaded_bytes_ == 0) oldest_unuploaded_ms_ = now_ms();
      unuploaded_bytes_ += n;
      kick = unuploaded_bytes_ >= opts_.upload_threshold_bytes;
    }
  }
  if (!err.ok()) {
    w.cb(err);
    return;
  }
  if (kick) request_upload();
  store_be<int64_t>(w.batch.mutable_data(), base.value());  // Kafka v2 baseOffset
  int64_t max_ts = batch_max_timestamp(w.batch);
  if (crash_at("append.before_wal")) {
    w.cb(dead_status());
    return;
  }
  wal::WalRecord rec{w.id, w.epoch, base, w.count, w.batch, max_ts};
  wal_.append(std::move(rec), [this, s, base, count = w.count, batch = w.batch, max_ts,
                               cb = std::move(w.cb)](Result<WalPos> pos) mutable {
    on_wal_done(s, base, count, std::move(batch), max_ts, std::move(pos), std::move(cb));
  });
}

void StreamStoreImpl::on_wal_done(const StreamPtr& s, Offset base, int32_t count, Buf batch,
                                  int64_t max_ts, Result<WalPos> pos, AppendCallback cb) {
  if (crash_at("append.after_wal")) {
    cb(dead_status());
    return;
  }
  Result<AppendResult> res = Status(Errc::kInternal, "unset");
  {
    std::lock_guard lk(mu_);
    s->inflight--;
    inflight_total_--;
    if (inflight_total_ == 0 || s->inflight == 0) idle_cv_.notify_all();
    if (!pos.ok()) {
      // Later appends of this stream were given offsets after this one; none may be acked.
      s->broken = true;
      s->wal_error = true;
      unuploaded_bytes_ -= batch.size();
      res = Error{pos.error().code, "WAL append failed: " + pos.error().message};
    } else if (s->broken || base != s->durable) {
      unuploaded_bytes_ -= batch.size();
      s->broken = true;
      res = Error{Errc::kFenced, fmt::format("stream {} lost ownership or had a WAL error", s->id)};
    } else {
      insert_cache_locked(*s, CacheEntry{base, count, std::move(batch), max_ts, *pos, false});
      s->durable = base + count;
      evict_locked();
      res = AppendResult{base, s->durable, now_ms()};
    }
  }
  if (res.ok() && crash_at("append.before_ack")) {
    cb(dead_status());
    return;
  }
  cb(std::move(res));
}

void StreamStoreImpl::insert_cache_locked(Stream& s, CacheEntry e) {
  cache_bytes_ += e.batch.size();
  if (!e.uploaded) s.unuploaded_bytes += e.batch.size();
  fifo_.emplace_back(s.id, e.base);
  s.cache.push_back(std::move(e));
  if (s.cache.back().uploaded) s.uploaded_prefix = s.cache.size();
  stats_.cache_bytes = cache_bytes_;
}

void StreamStoreImpl::evict_locked() {
  while (cache_bytes_ > opts_.log_cache_bytes && !fifo_.empty()) {
    auto [id, base] = fifo_.front();
    StreamPtr s = find_locked(id);
    if (!s || s->cache.empty() || s->cache.front().base != base) {
      fifo_.pop_front();  // stale: the entry was dropped
      continue;
    }
    if (!s->cache.front().uploaded) break;  // only uploaded data may go
    cache_bytes_ -= s->cache.front().batch.size();
    s->cache.pop_front();
    s->uploaded_prefix--;
    fifo_.pop_front();
  }
  stats_.cache_bytes = cache_bytes_;
}

void StreamStoreImpl::drop_unuploaded_locked(Stream& s) {
  while (s.cache.size() > s.uploaded_prefix) {
    unuploaded_bytes_ -= s.cache.back().batch.size();
    s.unuploaded_bytes -= s.cache.back().batch.size();
    cache_bytes_ -= s.cache.back().batch.size();
    s.cache.pop_back();
  }
  s.generation++;
  stats_.cache_bytes = cache_bytes_;
}

void StreamStoreImpl::drain_waiting() {
  for (;;) {
    WaitingAppend w;
    {
      std::lock_guard lk(mu_);
      if (waiting_.empty() && !draining_ && backpressure_since_ms_ >= 0) {
        // Every append of the node waited this long: worth a line when it is long.
        const int64_t waited = now_ms() - backpressure_since_ms_;
        backpressure_since_ms_ = -1;
        if (waited >= 20) {
          SHALE_LOG_WARN("stream",
                         "appends waited {} ms for an upload (log cache full of "
                         "un-uploaded data)",
                         waited);
        }
      }
      if (draining_ || waiting_.empty()) return;
      size_t n = waiting_.front().batch.size();
      if (unuploaded_bytes_ > 0 && unuploaded_bytes_ + n > opts_.log_cache_bytes) return;
      w = std::move(waiting_.front());
      waiting_.pop_front();
      stats_.waiting_appends = waiting_.size();
      draining_ = true;  // later appends queue behind until this one holds its offset
    }
    append_now(std::move(w));
    std::lock_guard lk(mu_);
    draining_ = false;
  }
}

Result<AppendResult> StreamStoreImpl::append_sync(StreamId id, Epoch epoch, Buf batch,
                                                  int32_t count) {
  std::promise<Result<AppendResult>> p;
  auto f = p.get_future();
  append(id, epoch, std::move(batch), count,
         [&p](Result<AppendResult> r) { p.set_value(std::move(r)); });
  return f.get();
}

StoreStats StreamStoreImpl::stats() const {
  std::lock_guard lk(mu_);
  StoreStats s = stats_;
  s.cache_bytes = cache_bytes_;
  s.unuploaded_bytes = unuploaded_bytes_;
  s.waiting_appends = waiting_.size();
  s.objects = object_records_.size();
  s.cold_read_budget_bytes = cold_read_budget_.taken();
  s.compaction_budget_bytes = compaction_budget_.taken();
  return s;
}

}  // namespace shale::stream
