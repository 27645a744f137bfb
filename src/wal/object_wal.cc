#include "wal/object_wal.h"

#include <fmt/format.h>

#include <charconv>
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

// Decodes one object; visit(pos, record) for each record. kCorruption on any mismatch.
Status decode_object(const Buf& data, uint64_t start, Epoch epoch, NodeId node,
                     const std::function<void(uint64_t, WalRecord)>& visit) {
  const uint8_t* p = data.data();
  if (data.size() < kObjHeaderSize || load_le<uint32_t>(p) != kObjMagic ||
      load_le<uint32_t>(p + 4) != 1 || load_le<int32_t>(p + 8) != node.value() ||
      load_le<int64_t>(p + 16) != epoch.value() || load_le<uint64_t>(p + 24) != start)
    return Status(Errc::kCorruption, fmt::format("object wal: bad header at {}", start));
  const uint32_t count = load_le<uint32_t>(p + 12);
  size_t off = kObjHeaderSize;
  for (uint32_t i = 0; i < count; ++i) {
    if (data.size() - off < kObjRecordHeaderSize)
      return Status(Errc::kCorruption,
                    fmt::format("object wal: truncated record at {}", start + off));
    const uint8_t* h = p + off;
    const uint32_t len = load_le<uint32_t>(h + 4);
    if (data.size() - off - kObjRecordHeaderSize < len)
      return Status(Errc::kCorruption,
                    fmt::format("object wal: truncated payload at {}", start + off));
    const uint32_t crc =
        crc32c_extend(crc32c(h + 4, kObjRecordHeaderSize - 4), h + kObjRecordHeaderSize, len);
    if (crc != load_le<uint32_t>(h))
      return Status(Errc::kCorruption, fmt::format("object wal: bad crc at {}", start + off));
    WalRecord r;
    r.stream = StreamId(load_le<uint64_t>(h + 8));
    r.epoch = Epoch(load_le<int64_t>(h + 16));
    r.base = Offset(load_le<int64_t>(h + 24));
    r.count = load_le<int32_t>(h + 32);
    r.payload = data.slice(off + kObjRecordHeaderSize, len);
    visit(start + off, std::move(r));
    off += kObjRecordHeaderSize + len;
  }
  if (off != data.size())
    return Status(Errc::kCorruption, fmt::format("object wal: trailing bytes at {}", start));
  return Status();
}

// Failures of an upload that a later attempt may fix (the store retried already; this is the
// outer loop that outlasts an outage).
bool retryable(Errc c) {
  return c == Errc::kIoError || c == Errc::kUnavailable || c == Errc::kTimeout ||
         c == Errc::kResourceExhausted;
}

}  // namespace

// After a retried conditional put got kAlreadyExists: OK if the stored object holds our bytes
// (an earlier attempt landed although it reported failure), else the conflict stands.
Status ObjectWal::same_object(const std::string& key, const Buf& data) {
  auto got = store_.get(key);
  if (!got.ok()) return got.status();
  if (got->data.view() == data.view()) return Status();
  return Status(Errc::kAlreadyExists, "object wal: " + key + " exists with other bytes");
}

ObjectWal::ObjectWal(objstore::ObjectStore& store, meta::MetaStore& meta, ObjectWalOptions opts)
    : store_(store),
      meta_(meta),
      opts_(std::move(opts)),
      early_flush_bytes_(opts_.early_flush_bytes ? opts_.early_flush_bytes
                                                 : std::max<uint64_t>(opts_.flush_bytes / 2, 1)),
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

Status ObjectWal::claim_epoch() {
  SHALE_ASSIGN_OR_RETURN(auto cur, meta_.get(epoch_key_));
  meta::Txn t;
  if (!cur.kvs.empty()) {
    int64_t stored = 0;
    const std::string& v = cur.kvs[0].value;
    std::from_chars(v.data(), v.data() + v.size(), stored);
    if (opts_.next_epoch) epoch_ = Epoch(stored + 1);
    if (stored >= epoch_.value())
      return Status(Errc::kFenced, fmt::format("object wal: node {} epoch {} <= stored epoch {}",
                                               opts_.node.value(), epoch_.value(), stored));
    t.compares.push_back(meta::Compare::mod_rev(epoch_key_, cur.kvs[0].mod_revision));
  } else {
    if (opts_.next_epoch) epoch_ = Epoch(1);
    t.compares.push_back(meta::Compare::absent(epoch_key_));
  }
  for (const auto& c : opts_.claim_guard) t.compares.push_back(c);
  t.success.push_back(meta::PutOp{epoch_key_, std::to_string(epoch_.value())});
  SHALE_ASSIGN_OR_RETURN(auto r, meta_.txn(t));
  if (!r.succeeded) return Status(Errc::kFenced, "object wal: lost the epoch claim race");
  return Status();
}

Status ObjectWal::recover(const std::function<void(WalPos, const WalRecord&)>& visit) {
  SHALE_RETURN_IF_ERROR(claim_epoch());
  SHALE_ASSIGN_OR_RETURN(auto trim, meta_.get(trim_key_));
  uint64_t trim_pos = 0;
  if (!trim.kvs.empty()) trim_pos = std::stoull(trim.kvs[0].value);
  const std::string idx_prefix =
      fmt::format("{}{:010}/idx/", opts_.meta_prefix, opts_.node.value());
  SHALE_ASSIGN_OR_RETURN(auto idx, meta_.get(idx_prefix, meta::prefix_end(idx_prefix)));
  std::map<uint64_t, Committed> committed;
  uint64_t end = trim_pos;
  for (const auto& kv : idx.kvs) {
    const uint64_t start = std::stoull(kv.key.substr(idx_prefix.size()));
    std::istringstream in(kv.value);
    int64_t epoch = 0;
    Committed c;
    if (!(in >> epoch >> c.end >> c.key))
      return Status(Errc::kCorruption, "object wal: bad index entry " + kv.key);
    SHALE_ASSIGN_OR_RETURN(auto obj, store_.get(c.key));
    SHALE_RETURN_IF_ERROR(
        decode_object(obj.data, start, Epoch(epoch), opts_.node, [&](uint64_t pos, WalRecord r) {
          if (pos >= trim_pos) visit(WalPos(pos), r);
        }));
    if (start + obj.data.size() != c.end)
      return Status(Errc::kCorruption, "object wal: size mismatch for " + c.key);
    end = std::max(end, c.end);
    committed.emplace(start, std::move(c));
  }
  // Garbage: this node's objects that no committed index entry references (uploads whose
  // commit never happened, or a fenced writer's).
  std::set<std::string> live;
  for (const auto& [s, c] : committed) live.insert(c.key);
  std::vector<std::string> garbage;
  std::string token;
  do {
    SHALE_ASSIGN_OR_RETURN(
        auto page,
        store_.list(fmt::format("{}{:010}/", opts_.key_prefix, opts_.node.value()), token));
    for (const auto& o : page.objects)
      if (!live.count(o.key)) garbage.push_back(o.key);
    token = page.next_token;
  } while (!token.empty());
  if (!garbage.empty()) {
    SHALE_LOG_INFO("wal", "object wal node {}: deleting {} uncommitted object(s)",
                   opts_.node.value(), garbage.size());
    SHALE_RETURN_IF_ERROR(store_.remove(garbage));
  }
  std::lock_guard lk(mu_);
  committed_ = std::move(committed);
  trim_pos_ = trim_pos;
  next_pos_ = durable_end_ = end;
  recovered_ = true;
  return Status();
}

Status ObjectWal::start() {
  std::lock_guard lk(mu_);
  if (!recovered_) return Status(Errc::kInvalidArgument, "object wal: recover() before start()");
  if (started_) return Status();
  started_ = true;
  writer_ = std::thread([this] { writer_loop(); });
  for (int i = 0; i < std::max(1, opts_.max_inflight_uploads); ++i)
    uploaders_.emplace_back([this] { upload_loop(); });
  return Status();
}

void ObjectWal::stop() {
  {
    std::lock_guard lk(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard lk(mu_);
    started_ = false;  // uploaders exit once the queue is empty
  }
  cv_.notify_all();
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
}

void ObjectWal::append(WalRecord rec, WalAppendCallback cb) {
  std::unique_lock lk(mu_);
  if (stopping_) {
    lk.unlock();
    cb(Status(Errc::kClosed, "object wal stopped"));
    return;
  }
  if (pending_.empty()) oldest_ = std::chrono::steady_clock::now();
  pending_bytes_ += encoded_size(rec);
  stats_.appended_bytes += rec.payload.size();
  pending_.push_back({std::move(rec), std::move(cb)});
  if (pending_bytes_ >= opts_.flush_bytes || pending_.size() == 1 ||
      pending_bytes_ >= early_flush_bytes_)
    cv_.notify_all();
}

std::shared_ptr<ObjectWal::Batch> ObjectWal::build_batch_locked() {
  auto b = std::make_shared<Batch>();
  size_t n = 0;
  uint64_t size = kObjHeaderSize;
  while (n < pending_.size() &&
         (n == 0 || size + encoded_size(pending_[n].rec) <= opts_.flush_bytes))
    size += encoded_size(pending_[n++].rec);
  std::vector<uint8_t> out(size);
  uint8_t* p = out.data();
  b->start = next_pos_;
  store_le<uint32_t>(p, kObjMagic);
  store_le<uint32_t>(p + 4, 1);
  store_le<int32_t>(p + 8, opts_.node.value());
  store_le<uint32_t>(p + 12, static_cast<uint32_t>(n));
  store_le<int64_t>(p + 16, epoch_.value());
  store_le<uint64_t>(p + 24, b->start);
  size_t off = kObjHeaderSize;
  for (size_t i = 0; i < n; ++i) {
    Pending& pe = pending_.front();
    const WalRecord& r = pe.rec;
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
    b->acks.emplace_back(b->start + off, std::move(pe.cb));
    off += encoded_size(r);
    pending_bytes_ -= encoded_size(r);
    pending_.pop_front();
  }
  b->end = b->start + size;
  next_pos_ = b->end;
  b->key = object_key(epoch_, b->start);
  b->data = Buf::take(std::move(out));
  if (!pending_.empty()) oldest_ = std::chrono::steady_clock::now();
  return b;
}

void ObjectWal::writer_loop() {
  std::unique_lock lk(mu_);
  while (true) {
    if (stopping_ && pending_.empty()) break;
    const bool have = !pending_.empty();
    const auto deadline = oldest_ + opts_.flush_delay;
    const bool slot =
        inflight_.size() < static_cast<size_t>(std::max(1, opts_.max_inflight_uploads));
    // With a slot free, half a flush is enough: a producer whose acks wait on the uploads in
    // flight keeps more uploads busy with smaller objects (early_flush_bytes).
    const bool due = have && (stopping_ || pending_bytes_ >= opts_.flush_bytes ||
                              (slot && pending_bytes_ >= early_flush_bytes_) ||
                              std::chrono::steady_clock::now() >= deadline);
    if (due && slot) {
      auto b = build_batch_locked();
      inflight_.push_back(b);
      if (failed_.ok()) {
        upload_q_.push_back(b);
        cv_.notify_all();
      } else {  // never upload past a failure
        b->done = true;
        b->status = failed_;
        lk.unlock();
        commit_ready();
        lk.lock();
      }
      continue;
    }
    if (have && !due)
      cv_.wait_until(lk, deadline);
    else
      cv_.wait(lk);
  }
}

void ObjectWal::upload_loop() {
  const objstore::PutOptions put_opts{.if_none_match = store_.capabilities().conditional_put};
  std::unique_lock lk(mu_);
  while (true) {
    cv_.wait(lk, [&] { return !upload_q_.empty() || !started_; });
    if (upload_q_.empty()) return;
    auto b = upload_q_.front();
    upload_q_.pop_front();
    lk.unlock();
    Status st = store_.put(b->key, b->data, put_opts);
    lk.lock();
    // A store outage must not break the WAL for good: re-put the same bytes under the same key
    // (idempotent; a landed earlier attempt is recognised by the store) until it works or the
    // WAL stops. Appends meanwhile wait in memory (back-pressure), none is acknowledged early.
    for (int64_t wait_ms = std::max<int64_t>(1, opts_.retry_base.count());
         !st.ok() && retryable(st.code()) && !stopping_;
         wait_ms = std::min<int64_t>(wait_ms * 2, opts_.retry_cap.count())) {
      ++upload_retries_;
      SHALE_LOG_WARN("wal", "object wal {}: {}; retrying in {} ms", b->key, st.to_string(),
                     wait_ms);
      cv_.wait_for(lk, std::chrono::milliseconds(wait_ms), [&] { return stopping_; });
      if (stopping_) break;
      lk.unlock();
      st = store_.put(b->key, b->data, put_opts);
      if (st.code() == Errc::kAlreadyExists) st = same_object(b->key, b->data);
      lk.lock();
    }
    b->done = true;
    b->status = st;
    lk.unlock();
    commit_ready();
    lk.lock();
  }
}

void ObjectWal::commit_ready() {
  std::unique_lock lk(mu_);
  if (committing_) return;  // the active committer re-checks under the lock before leaving
  committing_ = true;
  while (!inflight_.empty() && inflight_.front()->done) {
    auto b = inflight_.front();
    Status st = failed_.ok() ? b->status : failed_;
    lk.unlock();
    if (st.ok()) {
      meta::Txn t;
      t.compares.push_back(meta::Compare::value_eq(epoch_key_, std::to_string(epoch_.value())));
      t.success.push_back(meta::PutOp{index_key(b->start),
                                      fmt::format("{} {} {}", epoch_.value(), b->end, b->key)});
      auto r = meta_.txn(t);
      bool ambiguous = false;  // an attempt may have landed though it reported a failure
      // A metadata outage (the etcd member in use died: its client does not repeat
      // conditional txns) must not break the WAL for good: every later commit would fail too.
      // Repeating is safe: the same put under the same compare; a landed earlier attempt is
      // simply rewritten, and if the WAL was fenced meanwhile the compare fails (kFenced).
      for (int64_t wait_ms = std::max<int64_t>(1, opts_.retry_base.count());
           !r.ok() && retryable(r.status().code());
           wait_ms = std::min<int64_t>(wait_ms * 2, opts_.retry_cap.count())) {
        ambiguous = true;
        lk.lock();
        ++commit_retries_;
        const bool stop =
            cv_.wait_for(lk, std::chrono::milliseconds(wait_ms), [&] { return stopping_; });
        lk.unlock();
        if (stop) break;
        SHALE_LOG_WARN("wal", "object wal {}: index commit: {}; retried", b->key,
                       r.status().to_string());
        r = meta_.txn(t);
      }
      if (!r.ok()) {
        st = r.status();
      } else if (!r->succeeded) {
        st = Status(Errc::kFenced, fmt::format("object wal: node {} epoch {} fenced",
                                               opts_.node.value(), epoch_.value()));
        // Uncommitted, so ours to delete, unless an earlier attempt landed before the fence:
        // then the index names the object (until trimmed) and the next recovery's sweep
        // deletes it only once nothing references it.
        if (!ambiguous) (void)store_.remove({b->key});
      }
    }
    if (!st.ok()) SHALE_LOG_WARN("wal", "object wal {}: {}", b->key, st.to_string());
    lk.lock();
    inflight_.pop_front();
    if (st.ok()) {
      committed_[b->start] = {b->end, b->key};
      durable_end_ = b->end;
      ++stats_.commits;
      stats_.acked_appends += b->acks.size();
    } else {
      if (failed_.ok()) failed_ = st;
      stats_.failed_appends += b->acks.size();
    }
    cv_.notify_all();  // an upload slot is free
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
      for (uint64_t s : starts) committed_.erase(s);
      trim_pos_ = std::max<uint64_t>(trim_pos_, to);
    }
    if (!keys.empty()) SHALE_RETURN_IF_ERROR(store_.remove(keys));
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
