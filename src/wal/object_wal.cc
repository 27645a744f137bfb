#include "wal/object_wal.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <set>
#include <sstream>

#include "base/crc32c.h"
#include "base/endian.h"
#include "base/log.h"

namespace shale::wal {
namespace {

uint64_t encoded_size(const WalRecord& r) {
  return kObjRecordHeaderSize + r.payload.size();
}

// Failures of an upload that a later attempt may fix (the store retried already; this is the
// outer loop that outlasts an outage).
bool retryable(Errc c) {
  return c == Errc::kIoError || c == Errc::kUnavailable || c == Errc::kTimeout ||
         c == Errc::kResourceExhausted;
}

}  // namespace

std::vector<WalObjectRange> ranges_of_blocks(const std::vector<objfmt::BlockIndexEntry>& index) {
  std::vector<WalObjectRange> out;
  for (const auto& e : index) {
    if (e.stream.value() == 0) continue;  // the WAL header block
    if (!out.empty() && out.back().stream == e.stream && out.back().end == e.start) {
      out.back().end = e.end;
      out.back().bytes += e.size;
      out.back().max_ts = std::max(out.back().max_ts, e.max_timestamp);
    } else {
      out.push_back(WalObjectRange{e.stream, e.start, e.end, e.size, e.max_timestamp});
    }
  }
  return out;
}

// After a conditional put got kAlreadyExists: OK if the stored object holds our bytes (an
// earlier attempt landed although it reported failure); kFenced if it is a tombstone (a newer
// writer's recover() found our index entry without its object and closed the key); else the
// conflict stands.
Status ObjectWal::same_object(const std::string& key, const Buf& data) {
  auto got = store_.get(key);
  if (!got.ok()) return got.status();
  if (got->data.view() == data.view()) return Status();
  if (is_tombstone(got->data))
    return Status(Errc::kFenced, "object wal: " + key + " was tombstoned by a newer writer");
  return Status(Errc::kAlreadyExists, "object wal: " + key + " exists with other bytes");
}

namespace {

ObjectWalOptions resolve(ObjectWalOptions o) {
  // A tombstone must outlive every PUT its writer could still acknowledge without reading the
  // epoch (README: "Parallel PUT and index commit"); a 10x margin absorbs clock-rate drift.
  o.tombstone_keep = std::max(o.tombstone_keep, 10 * o.put_ack_deadline);
  return o;
}

bool resolve_parallel(const ObjectWalOptions& o, const objstore::ObjectStore& store) {
  const bool cond = store.capabilities().conditional_put;
  if (o.commit_order == CommitOrder::kParallel && !cond)
    SHALE_LOG_WARN("wal", "object wal: parallel commit needs conditional PUT; running sequential");
  return cond && o.commit_order != CommitOrder::kSequential;
}

int64_t micros(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

}  // namespace

ObjectWal::ObjectWal(objstore::ObjectStore& store, meta::MetaStore& meta, ObjectWalOptions opts)
    : store_(store),
      meta_(meta),
      opts_(resolve(std::move(opts))),
      early_flush_bytes_(opts_.early_flush_bytes ? opts_.early_flush_bytes
                                                 : std::max<uint64_t>(opts_.flush_bytes / 2, 1)),
      parallel_(resolve_parallel(opts_, store)),
      epoch_key_(fmt::format("{}{:010}/epoch", opts_.meta_prefix, opts_.node.value())),
      trim_key_(fmt::format("{}{:010}/trim", opts_.meta_prefix, opts_.node.value())),
      epoch_(opts_.epoch) {}

ObjectWal::~ObjectWal() {
  stop();
}

std::string ObjectWal::object_key(Epoch epoch, uint64_t start) const {
  return fmt::format("{}{:010}/{:020}/{:020}", opts_.key_prefix, opts_.node.value(), epoch.value(),
                     start);
}

std::string ObjectWal::index_key(uint64_t start) const {
  return fmt::format("{}{:010}/idx/{:020}", opts_.meta_prefix, opts_.node.value(), start);
}

Status ObjectWal::start() {
  std::lock_guard lk(mu_);
  if (!recovered_) return Status(Errc::kInvalidArgument, "object wal: recover() before start()");
  if (started_) return Status();
  started_ = true;
  writer_ = std::thread([this] { writer_loop(); });
  for (int i = 0; i < std::max(1, opts_.max_inflight_uploads); ++i)
    uploaders_.emplace_back([this] { upload_loop(); });
  SHALE_LOG_INFO("wal", "object wal node {} epoch {}: {} PUT and index commit", opts_.node.value(),
                 epoch_.value(), parallel_ ? "parallel" : "sequential");
  return Status();
}

void ObjectWal::stop() {
  {
    std::lock_guard lk(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  writer_cv_.notify_all();
  stop_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard lk(mu_);
    started_ = false;  // uploaders exit once the queue is empty
  }
  upload_cv_.notify_all();
  for (auto& t : uploaders_) t.join();
  uploaders_.clear();
  // Appends that never reached a batch (WAL never started).
  std::deque<Pending> left;
  {
    std::lock_guard lk(mu_);
    left.swap(pending_);
    pending_bytes_ = 0;
  }
  for (auto& p : left) p.cb(Status(Errc::kClosed, "object wal stopped"));
  const ObjectWalTimings t = timings();
  if (t.objects > 0)
    SHALE_LOG_INFO("wal",
                   "object wal node {}: {} objects ({}); medians: wait {} us, put {} us "
                   "(started after {} us), commit {} us, built->ack {} us (p99 {} us)",
                   opts_.node.value(), t.objects, parallel_ ? "parallel" : "sequential",
                   t.wait_p50_us, t.put_p50_us, t.hop_p50_us, t.commit_p50_us, t.ack_p50_us,
                   t.ack_p99_us);
}

void ObjectWal::append(WalRecord rec, WalAppendCallback cb) {
  std::unique_lock lk(mu_);
  if (stopping_) {
    lk.unlock();
    cb(Status(Errc::kClosed, "object wal stopped"));
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (pending_.empty()) oldest_ = now;
  pending_bytes_ += encoded_size(rec);
  stats_.appended_bytes += rec.payload.size();
  pending_.push_back({std::move(rec), std::move(cb), now});
  if (pending_bytes_ >= opts_.flush_bytes || pending_.size() == 1 ||
      pending_bytes_ >= early_flush_bytes_)
    writer_cv_.notify_one();
}

// Takes the first records of pending_ that fit flush_bytes (at least one) into an object. A
// format 2 object holds one epoch per stream and ascending offsets per stream, so a record that
// breaks either (a stream reopened at a higher epoch) starts the next object.
std::shared_ptr<ObjectWal::Batch> ObjectWal::build_batch_locked() {
  auto b = std::make_shared<Batch>();
  b->first_append = pending_.front().at;
  b->start = next_pos_;
  size_t n = 0;
  uint64_t size = kObjHeaderSize;
  std::map<StreamId, std::pair<Epoch, Offset>> seen;  // stream -> epoch, end of its last record
  while (n < pending_.size()) {
    const WalRecord& r = pending_[n].rec;
    if (n > 0 && size + encoded_size(r) > opts_.flush_bytes) break;
    auto [it, fresh] = seen.try_emplace(r.stream, r.epoch, r.base + r.count);
    if (!fresh) {
      if (it->second.first != r.epoch || r.base < it->second.second) break;
      it->second.second = r.base + r.count;
    }
    size += encoded_size(pending_[n++].rec);
  }
  if (!opts_.objfmt_objects || !build_objfmt_locked(*b, n)) {
    std::vector<uint8_t> out(size);
    uint8_t* p = out.data();
    store_le<uint32_t>(p, kObjMagic);
    store_le<uint32_t>(p + 4, 1);
    store_le<int32_t>(p + 8, opts_.node.value());
    store_le<uint32_t>(p + 12, static_cast<uint32_t>(n));
    store_le<int64_t>(p + 16, epoch_.value());
    store_le<uint64_t>(p + 24, b->start);
    size_t off = kObjHeaderSize;
    for (size_t i = 0; i < n; ++i) {
      const WalRecord& r = pending_[i].rec;
      uint8_t* h = p + off;
      store_le<uint32_t>(h + 4, static_cast<uint32_t>(r.payload.size()));
      store_le<uint64_t>(h + 8, r.stream.value());
      store_le<int64_t>(h + 16, r.epoch.value());
      store_le<int64_t>(h + 24, r.base.value());
      store_le<int32_t>(h + 32, r.count);
      if (!r.payload.empty())
        std::memcpy(h + kObjRecordHeaderSize, r.payload.data(), r.payload.size());
      store_le<uint32_t>(h, crc32c_extend(crc32c(h + 4, kObjRecordHeaderSize - 4),
                                          h + kObjRecordHeaderSize, r.payload.size()));
      b->acks.emplace_back(b->start + off, std::move(pending_[i].cb));
      off += encoded_size(r);
    }
    b->end = b->start + size;
    b->key = object_key(epoch_, b->start);
    b->data = Buf::take(std::move(out));
  }
  for (size_t i = 0; i < n; ++i) {
    pending_bytes_ -= encoded_size(pending_.front().rec);
    pending_.pop_front();
  }
  next_pos_ = b->end;
  b->built = std::chrono::steady_clock::now();
  if (!pending_.empty()) oldest_ = b->built;
  return b;
}

bool ObjectWal::build_objfmt_locked(Batch& b, size_t n) {
  // Object order: grouped by stream (ascending id), append order within a stream.
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) {
    const WalRecord& r = pending_[i].rec;
    if (r.payload.empty() || r.count <= 0 || r.base.value() < 0 || r.stream.value() == 0)
      return false;
    order[i] = i;
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    return pending_[x].rec.stream < pending_[y].rec.stream;
  });
  std::vector<std::pair<StreamId, Epoch>> epochs;
  for (size_t i : order) {
    const WalRecord& r = pending_[i].rec;
    if (epochs.empty() || epochs.back().first != r.stream) epochs.emplace_back(r.stream, r.epoch);
  }
  std::vector<uint8_t> hdr(kObj2HeaderSize + epochs.size() * kObj2StreamEntrySize);
  uint8_t* p = hdr.data();
  store_le<uint32_t>(p, kObj2Magic);
  store_le<uint32_t>(p + 4, 2);
  store_le<int32_t>(p + 8, opts_.node.value());
  store_le<uint32_t>(p + 12, static_cast<uint32_t>(n));
  store_le<int64_t>(p + 16, epoch_.value());
  store_le<uint64_t>(p + 24, b.start);
  store_le<uint32_t>(p + 32, static_cast<uint32_t>(epochs.size()));
  for (size_t i = 0; i < epochs.size(); ++i) {
    store_le<uint64_t>(p + kObj2HeaderSize + i * kObj2StreamEntrySize, epochs[i].first.value());
    store_le<int64_t>(p + kObj2HeaderSize + i * kObj2StreamEntrySize + 8, epochs[i].second.value());
  }
  objfmt::ObjectBuilder builder;
  if (!builder.add(StreamId(0), Offset(0), 1, -1, Buf::take(std::move(hdr))).ok()) return false;
  for (size_t i : order) {
    const WalRecord& r = pending_[i].rec;
    if (!builder.add(r.stream, r.base, r.count, r.max_ts, r.payload).ok()) return false;
  }
  objfmt::ObjectBuilder::Built built = builder.finish();
  // One copy into the object's buffer (not zero-filled first: the parts cover every byte).
  Buf out = Buf::uninitialized(built.size);
  size_t off = 0;
  for (const Buf& part : built.parts) {
    if (!part.empty()) std::memcpy(out.mutable_data() + off, part.data(), part.size());
    off += part.size();
  }
  b.end = b.start + built.size;
  b.key = object_key(epoch_, b.start);
  b.data = std::move(out);
  std::vector<uint64_t> pos(n);
  for (size_t k = 0; k < n; ++k) pos[order[k]] = b.start + 1 + k;
  for (size_t i = 0; i < n; ++i) b.acks.emplace_back(pos[i], std::move(pending_[i].cb));
  auto obj = std::make_shared<WalObject>();
  obj->key = b.key;
  obj->size = built.size;
  obj->start = WalPos(static_cast<int64_t>(b.start));
  obj->end = WalPos(static_cast<int64_t>(b.end));
  obj->records = static_cast<uint32_t>(n);
  obj->ranges = ranges_of_blocks(built.index);
  obj->keep_key = keep_key_for(b.key);
  b.obj = std::move(obj);
  return true;
}

void ObjectWal::writer_loop() {
  std::unique_lock lk(mu_);
  while (true) {
    if (stopping_ && pending_.empty()) break;
    const bool have = !pending_.empty();
    const auto deadline = oldest_ + opts_.flush_delay;
    // A slot: a PUT may start, and the objects awaiting their in-order ack stay bounded. An
    // object whose PUT is done frees its slot even while an older, slower PUT holds its ack
    // back (RGW's PUT times vary 1.5x at the median): the uploads stay busy.
    const size_t uploads = static_cast<size_t>(std::max(1, opts_.max_inflight_uploads));
    const bool slot = puts_in_flight_ < uploads && inflight_.size() < 2 * uploads;
    // With a slot free, half a flush is enough: a producer whose acks wait on the uploads in
    // flight keeps more uploads busy with smaller objects (early_flush_bytes).
    const bool due = have && (stopping_ || pending_bytes_ >= opts_.flush_bytes ||
                              (slot && pending_bytes_ >= early_flush_bytes_) ||
                              std::chrono::steady_clock::now() >= deadline);
    if (due && slot) {
      auto b = build_batch_locked();
      inflight_.push_back(b);
      if (!failed_.ok() || !commit_failed_.ok()) {  // never upload or commit past a failure
        b->put_done = b->commit_done = true;
        b->put_status = b->commit_status = failed_.ok() ? commit_failed_ : failed_;
        lk.unlock();
        commit_ready();
        lk.lock();
        continue;
      }
      upload_q_.push_back(b);
      ++puts_in_flight_;
      upload_cv_.notify_one();
      if (parallel_) {
        // The index commit runs here while an uploader PUTs the object; commits stay in
        // append order (this thread builds batches in order) and stop after a failed one.
        // It starts once an uploader has taken the object: on a busy core the commit, started
        // first, ran before the uploader was scheduled and then beside its PUT, and the 1 KiB
        // produce p50 was 1.12-1.17x a raw conditional PUT's, against 1.07x now (BENCHMARKS.md
        // section 5m). Bounded, so a slow wake-up holds the commit back kCommitAfterPutWait
        // at most.
        writer_cv_.wait_for(lk, kCommitAfterPutWait, [&] { return b->put_started || stopping_; });
        lk.unlock();
        Status cs = commit_index(*b);
        lk.lock();
        b->commit_done = true;
        b->commit_status = cs;
        if (!cs.ok() && commit_failed_.ok()) commit_failed_ = cs;
        lk.unlock();
        commit_ready();
        lk.lock();
      }
      continue;
    }
    if (have && !due)
      writer_cv_.wait_until(lk, deadline);
    else
      writer_cv_.wait(lk);
  }
}

// PUTs b (lk held on entry and exit, released during I/O). A store outage must not break the
// WAL for good: re-put the same bytes under the same key (idempotent; a landed earlier attempt
// is recognised by its bytes) until it works or the WAL stops. Appends meanwhile wait in memory
// (back-pressure), none is acknowledged early.
Status ObjectWal::put_object(Batch& b, const objstore::PutOptions& o,
                             std::unique_lock<std::mutex>& lk) {
  Status st;
  for (int64_t wait_ms = std::max<int64_t>(1, opts_.retry_base.count());;
       wait_ms = std::min<int64_t>(wait_ms * 2, opts_.retry_cap.count())) {
    lk.unlock();
    st = store_.put(b.key, b.data, o);
    if (st.code() == Errc::kAlreadyExists) st = same_object(b.key, b.data);
    lk.lock();
    if (st.ok() || !retryable(st.code()) || stopping_) return st;
    ++upload_retries_;
    SHALE_LOG_WARN("wal", "object wal {}: {}; retrying in {} ms", b.key, st.to_string(), wait_ms);
    stop_cv_.wait_for(lk, std::chrono::milliseconds(wait_ms), [&] { return stopping_; });
    if (stopping_) return st;
  }
}

void ObjectWal::upload_loop() {
  const objstore::PutOptions put_opts{.if_none_match = store_.capabilities().conditional_put};
  std::unique_lock lk(mu_);
  while (true) {
    upload_cv_.wait(lk, [&] { return !upload_q_.empty() || !started_; });
    if (upload_q_.empty()) return;
    auto b = upload_q_.front();
    upload_q_.pop_front();
    b->put_start = std::chrono::steady_clock::now();
    b->put_started = true;
    if (parallel_) writer_cv_.notify_one();  // the writer may start the index commit
    Status st = put_object(*b, put_opts, lk);
    --puts_in_flight_;
    writer_cv_.notify_one();  // a PUT slot is free
    b->put_done = true;
    b->put_status = st;
    b->put_end = std::chrono::steady_clock::now();
    lk.unlock();
    commit_ready();
    lk.lock();
  }
}

// The index entry of b, under the epoch compare. A metadata outage (the etcd member in use
// died: its client does not repeat conditional txns) must not break the WAL for good: every
// later commit would fail too. Repeating is safe: the same put under the same compare; a landed
// earlier attempt is simply rewritten, and if the WAL was fenced meanwhile the compare fails.
Status ObjectWal::commit_index(Batch& b) {
  b.commit_start = std::chrono::steady_clock::now();
  meta::Txn t;
  t.compares.push_back(meta::Compare::value_eq(epoch_key_, std::to_string(epoch_.value())));
  t.success.push_back(
      meta::PutOp{index_key(b.start), fmt::format("{} {} {}", epoch_.value(), b.end, b.key)});
  auto r = meta_.txn(t);
  for (int64_t wait_ms = std::max<int64_t>(1, opts_.retry_base.count());
       !r.ok() && retryable(r.status().code());
       wait_ms = std::min<int64_t>(wait_ms * 2, opts_.retry_cap.count())) {
    std::unique_lock lk(mu_);
    b.commit_ambiguous = true;
    ++commit_retries_;
    const bool stop =
        stop_cv_.wait_for(lk, std::chrono::milliseconds(wait_ms), [&] { return stopping_; });
    lk.unlock();
    if (stop) break;
    SHALE_LOG_WARN("wal", "object wal {}: index commit: {}; retried", b.key,
                   r.status().to_string());
    r = meta_.txn(t);
  }
  b.commit_end = std::chrono::steady_clock::now();
  if (!r.ok()) return r.status();
  if (!r->succeeded)
    return Status(Errc::kFenced, fmt::format("object wal: node {} epoch {} fenced",
                                             opts_.node.value(), epoch_.value()));
  return Status();
}

// Parallel order, both halves done: the append's result. Called without mu_.
Status ObjectWal::settle(Batch& b) {
  if (!b.commit_status.ok()) return b.commit_status;
  // The commit landed; a failed PUT leaves an index entry naming a missing object, which the
  // next recover() tombstones and drops (nothing of it was acknowledged).
  if (!b.put_status.ok()) return b.put_status;
  // A PUT that succeeded late may have landed after a newer writer tombstoned and then (after
  // tombstone_keep) deleted the tombstone at this key, and dropped our entry: ack only if the
  // epoch is still ours, i.e. no newer writer has begun recovering (README).
  if (b.put_end - b.built > opts_.put_ack_deadline) {
    auto e = stored_epoch();
    if (!e.ok()) return e.status();
    if (*e != epoch_)
      return Status(Errc::kFenced, fmt::format("object wal: node {} epoch {} fenced (late PUT)",
                                               opts_.node.value(), epoch_.value()));
  }
  return Status();
}

void ObjectWal::commit_ready() {
  std::unique_lock lk(mu_);
  if (committing_) return;  // the active committer re-checks under the lock before leaving
  committing_ = true;
  while (!inflight_.empty() && inflight_.front()->put_done &&
         (inflight_.front()->commit_done || !parallel_)) {
    auto b = inflight_.front();
    const Status failed = failed_;
    lk.unlock();
    Status st;
    if (!failed.ok()) {
      st = failed;  // never acknowledge past a hole
    } else if (!parallel_) {
      st = b->put_status.ok() ? commit_index(*b) : b->put_status;
      b->commit_status = st;
    } else {
      st = settle(*b);
    }
    // A fenced commit: uncommitted, so the object is ours to delete, unless an earlier attempt
    // landed before the fence: then the index names the object (until trimmed) and the next
    // recovery's sweep deletes it only once nothing references it. (Parallel order: the PUT
    // has returned, so a deleted object cannot land again afterwards.)
    if (b->commit_status.code() == Errc::kFenced && !b->commit_ambiguous && b->put_status.ok())
      (void)store_.remove({b->key});
    if (!st.ok()) SHALE_LOG_WARN("wal", "object wal {}: {}", b->key, st.to_string());
    lk.lock();
    inflight_.pop_front();
    if (st.ok()) {
      committed_[b->start] = {b->end, b->key};
      if (b->obj) adoptable_[b->start] = b->obj;  // before the acks: an upload may follow them
      durable_end_ = b->end;
      ++stats_.commits;
      stats_.acked_appends += b->acks.size();
      record_timing_locked(*b, std::chrono::steady_clock::now());
    } else {
      if (failed_.ok()) failed_ = st;
      stats_.failed_appends += b->acks.size();
    }
    writer_cv_.notify_one();  // an upload slot is free
    lk.unlock();
    for (auto& [pos, cb] : b->acks) {
      if (st.ok())
        cb(WalPos(pos));
      else
        cb(st.error());
    }
    lk.lock();
  }
  committing_ = false;
}

void ObjectWal::record_timing_locked(const Batch& b, TimePoint acked) {
  if (samples_.size() < kTimingSamples) samples_.resize(kTimingSamples);
  samples_[timed_++ % kTimingSamples] = {
      micros(b.built - b.first_append), micros(b.put_end - b.built), micros(b.put_start - b.built),
      micros(b.commit_end - b.commit_start), micros(acked - b.built)};
}

ObjectWalTimings ObjectWal::timings() const {
  std::lock_guard lk(mu_);
  ObjectWalTimings t;
  t.objects = timed_;
  const size_t n = std::min<uint64_t>(timed_, kTimingSamples);
  if (n == 0) return t;
  auto pct = [&](int64_t Sample::*f, double p) {
    std::vector<int64_t> xs;
    for (size_t i = 0; i < n; ++i) xs.push_back(samples_[i].*f);
    std::sort(xs.begin(), xs.end());
    return static_cast<double>(xs[std::min(n - 1, static_cast<size_t>(p * n))]);
  };
  t.wait_p50_us = pct(&Sample::wait_us, 0.5);
  t.put_p50_us = pct(&Sample::put_us, 0.5);
  t.hop_p50_us = pct(&Sample::hop_us, 0.5);
  t.commit_p50_us = pct(&Sample::commit_us, 0.5);
  t.ack_p50_us = pct(&Sample::ack_us, 0.5);
  t.ack_p99_us = pct(&Sample::ack_us, 0.99);
  return t;
}

Status ObjectWal::trim(WalPos upto) {
  // etcd refuses a txn of more than 128 operations (--max-txn-ops): trim in chunks, each one
  // txn that deletes up to kMaxTrimDeletesPerTxn index entries and advances the trim position
  // to the end of the last one, then deletes those objects (index before objects, so an index
  // entry never names a deleted object).
  while (true) {
    std::vector<uint64_t> starts;
    std::vector<std::string> keys;
    uint64_t to = 0;
    {
      std::lock_guard lk(mu_);
      if (upto.value() <= static_cast<int64_t>(trim_pos_)) return Status();
      to = static_cast<uint64_t>(upto.value());
      for (const auto& [s, c] : committed_) {
        if (c.end > static_cast<uint64_t>(upto.value())) break;
        if (starts.size() == kMaxTrimDeletesPerTxn) {
          to = s;  // == the end of the last entry taken
          break;
        }
        starts.push_back(s);
        keys.push_back(c.key);
      }
    }
    meta::Txn t;
    t.compares.push_back(meta::Compare::value_eq(epoch_key_, std::to_string(epoch_.value())));
    for (uint64_t s : starts) t.success.push_back(meta::DeleteOp{index_key(s), {}});
    t.success.push_back(meta::PutOp{trim_key_, std::to_string(to)});
    SHALE_ASSIGN_OR_RETURN(auto r, meta_.txn(t));
    if (!r.succeeded) return Status(Errc::kFenced, "object wal: fenced during trim");
    {
      std::lock_guard lk(mu_);
      for (uint64_t s : starts) {
        committed_.erase(s);
        adoptable_.erase(s);
      }
      trim_pos_ = std::max<uint64_t>(trim_pos_, to);
    }
    if (!keys.empty()) {
      // Adopted objects belong to the stream store now (their keep keys were committed with
      // its index, before it asked for this trim): they stay.
      SHALE_ASSIGN_OR_RETURN(std::set<std::string> kept, kept_objects(keys));
      std::erase_if(keys, [&](const std::string& k) { return kept.count(k) > 0; });
      if (!keys.empty()) SHALE_RETURN_IF_ERROR(store_.remove(keys));
    }
    if (to >= static_cast<uint64_t>(upto.value())) return Status();
  }
}

Result<Epoch> ObjectWal::stored_epoch() const {
  SHALE_ASSIGN_OR_RETURN(auto cur, meta_.get(epoch_key_));
  if (cur.kvs.empty()) return Epoch(0);
  int64_t stored = 0;
  const std::string& v = cur.kvs[0].value;
  std::from_chars(v.data(), v.data() + v.size(), stored);
  return Epoch(stored);
}

std::shared_ptr<const WalObject> ObjectWal::object_at(WalPos pos) const {
  std::lock_guard lk(mu_);
  auto it = adoptable_.upper_bound(static_cast<uint64_t>(pos.value()));
  if (it == adoptable_.begin()) return nullptr;
  --it;
  return pos < it->second->end ? it->second : nullptr;
}

std::string ObjectWal::keep_key_for(const std::string& object_key) const {
  if (object_key.rfind(opts_.key_prefix, 0) != 0) return {};
  return opts_.meta_prefix + "keep/" + object_key.substr(opts_.key_prefix.size());
}

std::string ObjectWal::own_object_prefix() const {
  return fmt::format("{}{:010}/", opts_.key_prefix, opts_.node.value());
}

Result<std::set<std::string>> ObjectWal::kept_objects(const std::vector<std::string>& among) const {
  const std::string prefix = keep_key_for(own_object_prefix());
  std::string from = prefix, to = meta::prefix_end(prefix);
  if (!among.empty()) {
    auto [lo, hi] = std::minmax_element(among.begin(), among.end());
    from = keep_key_for(*lo);
    to = keep_key_for(*hi) + '\0';
  }
  SHALE_ASSIGN_OR_RETURN(auto rr, meta_.get(from, to));
  std::set<std::string> out;
  for (const auto& kv : rr.kvs)
    out.insert(opts_.key_prefix + kv.key.substr(opts_.meta_prefix.size() + 5));
  return out;
}

Result<bool> ObjectWal::still_indexed(const std::string& object_key) const {
  // <key_prefix><node:010>/<epoch:020>/<start:020>; the index entry of `start` names its key.
  if (object_key.rfind(opts_.key_prefix, 0) != 0) return false;
  const std::string rest = object_key.substr(opts_.key_prefix.size());
  if (rest.size() != 10 + 1 + 20 + 1 + 20) return false;  // not a WAL object's key
  const std::string idx =
      fmt::format("{}{}/idx/{}", opts_.meta_prefix, rest.substr(0, 10), rest.substr(32));
  SHALE_ASSIGN_OR_RETURN(auto rr, meta_.get(idx));
  if (rr.kvs.empty()) return false;
  const std::string& v = rr.kvs[0].value;
  return v.size() >= object_key.size() + 1 &&
         v.compare(v.size() - object_key.size(), object_key.size(), object_key) == 0 &&
         v[v.size() - object_key.size() - 1] == ' ';
}

WalPos ObjectWal::end() const {
  std::lock_guard lk(mu_);
  return WalPos(static_cast<int64_t>(durable_end_));
}

uint64_t ObjectWal::upload_retries() const {
  std::lock_guard lk(mu_);
  return upload_retries_;
}

uint64_t ObjectWal::commit_retries() const {
  std::lock_guard lk(mu_);
  return commit_retries_;
}

WalStats ObjectWal::stats() const {
  std::lock_guard lk(mu_);
  WalStats s = stats_;
  s.used_bytes = durable_end_ > trim_pos_ ? durable_end_ - trim_pos_ : 0;
  s.waiting_appends = pending_.size();
  return s;
}

}  // namespace shale::wal
