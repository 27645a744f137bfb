// FileWal: writer thread (encode + write), syncer thread (fdatasync + callbacks), trim and
// checkpoint. Recovery is in file_wal_recover.cc, the preparer in file_wal_prepare.cc.
//
// Crash points passed to FileWalOptions::crash_hook:
//   writer:   "before_write", "after_write_before_sync",
//             "error_before_checkpoint" (a commit failed; before the generation bump)
//   syncer:   "before_sync", "after_sync_before_ack", "after_ack"
//   preparer: "prepare_before_sync", "prepare_before_sync_dir"
//   trim:     "trim_before_checkpoint", "trim_after_checkpoint"
//   recover:  "recover_before_checkpoint"
#include "wal/file_wal.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "base/log.h"
#include "io/file_util.h"
#include "io/path.h"

namespace shale::wal {

using format::kRecordHeaderSize;
using format::kSegmentHeaderSize;

FileWal::FileWal(io::Filesystem& fs, FileWalOptions opts) : fs_(fs), opts_(std::move(opts)) {
  segment_size_ = opts_.segment_size;
  slot_count_ = static_cast<uint32_t>(
      std::max<uint64_t>(2, opts_.max_total_size / std::max<uint64_t>(1, segment_size_)));
}

FileWal::~FileWal() {
  stop();
}

std::string FileWal::slot_path(uint32_t slot) const {
  return io::join_path(opts_.dir, fmt::format("seg-{:06}.wal", slot));
}

bool FileWal::hook(std::string_view point) {
  if (halted_.load()) return true;
  if (!opts_.crash_hook || !opts_.crash_hook(point)) return false;
  std::lock_guard<std::mutex> l(mu_);
  halted_.store(true);
  cv_.notify_all();
  prep_cv_.notify_all();
  sync_cv_.notify_all();
  return true;
}

Status FileWal::write_checkpoint(uint64_t trim_pos, uint64_t generation) {
  uint8_t b[format::kCheckpointSize];
  format::encode_checkpoint({slot_count_, segment_size_, trim_pos, generation}, b);
  return io::write_file_atomic(fs_, io::join_path(opts_.dir, "CHECKPOINT"), b, sizeof(b));
}

uint8_t* FileWal::CommitBuffer::grow(size_t k) {
  if (n + k > cap) {
    size_t c = std::max(cap * 2, n + k);
    auto q = std::make_unique_for_overwrite<uint8_t[]>(c);
    if (n > 0) std::memcpy(q.get(), p.get(), n);
    p = std::move(q);
    cap = c;
  }
  uint8_t* r = p.get() + n;
  n += k;
  return r;
}

bool FileWal::slot_free_locked(uint64_t seq) const {
  // Segment seq reuses the slot of segment seq - slot_count, which must be entirely trimmed.
  return seq < slot_count_ || (seq - slot_count_ + 1) * capacity() <= trim_pos_;
}

Status FileWal::start() {
  std::lock_guard<std::mutex> l(mu_);
  if (!recovered_) return Status(Errc::kInvalidArgument, "FileWal::start before recover");
  if (started_) return Status(Errc::kInvalidArgument, "FileWal::start called twice");
  started_ = true;
  writer_seq_ = cur_.seq;
  durable_cur_ = cur_;
  writer_ = std::thread([this] { writer_loop(); });
  for (uint32_t i = 0; i < std::max<uint32_t>(1, opts_.max_syncs_in_flight); ++i) {
    syncers_.emplace_back([this] { syncer_loop(); });
  }
  preparer_ = std::thread([this] { preparer_loop(); });
  return Status();
}

void FileWal::stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (writer_.joinable()) writer_.join();  // returns once everything written is durable
  {
    std::lock_guard<std::mutex> l(mu_);
    sync_stop_ = true;
    sync_cv_.notify_all();
  }
  for (auto& t : syncers_) {
    if (t.joinable()) t.join();
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    prep_stop_ = true;
    prep_cv_.notify_all();
  }
  if (preparer_.joinable()) preparer_.join();
  std::vector<Pending> left;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (halted_.load()) {
      pending_.clear();  // a dead process runs no callbacks
      return;
    }
    for (auto& p : pending_) left.push_back(std::move(p));
    pending_.clear();
  }
  fail_all(left, Status(Errc::kClosed, "wal stopped"));
}

void FileWal::append(WalRecord rec, WalAppendCallback cb) {
  bool wake = false;
  {
    std::unique_lock<std::mutex> l(mu_);
    if (halted_.load()) return;
    if (stopping_) {
      l.unlock();
      cb(Status(Errc::kClosed, "wal stopped"));
      return;
    }
    wake = pending_.empty();
    pending_.push_back(Pending{std::move(rec), std::move(cb)});
  }
  if (wake) cv_.notify_all();
}

Status FileWal::trim(WalPos upto) {
  std::lock_guard<std::mutex> ck(ckpt_mu_);
  const uint64_t u = static_cast<uint64_t>(upto.value());
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!recovered_) return Status(Errc::kInvalidArgument, "FileWal::trim before recover");
    if (halted_.load()) return Status(Errc::kClosed, "wal halted");
    if (upto.value() < 0 || upto.value() > durable_end_.load()) {
      return Status(Errc::kOutOfRange,
                    fmt::format("trim to {} beyond the durable end {}", upto, durable_end_.load()));
    }
    if (u <= trim_pos_) return Status();
  }
  if (hook("trim_before_checkpoint")) return Status(Errc::kClosed, "wal halted");
  SHALE_RETURN_IF_ERROR(write_checkpoint(u, gen_));
  if (hook("trim_after_checkpoint")) return Status(Errc::kClosed, "wal halted");
  std::lock_guard<std::mutex> l(mu_);
  trim_pos_ = u;
  cv_.notify_all();  // may release back-pressure
  return Status();
}

WalPos FileWal::trim_point() const {
  std::lock_guard<std::mutex> l(mu_);
  return WalPos(static_cast<int64_t>(trim_pos_));
}

WalStats FileWal::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  WalStats s = stats_;
  s.used_bytes = static_cast<uint64_t>(durable_end_.load()) - trim_pos_;
  s.capacity_bytes = capacity() * slot_count_;
  s.waiting_appends = blocked_ ? pending_.size() : 0;
  return s;
}

void FileWal::fail_all(std::vector<Pending>& batch, const Status& st) {
  {
    std::lock_guard<std::mutex> l(mu_);
    stats_.failed_appends += batch.size();
  }
  for (auto& p : batch) {
    if (p.cb)
      p.cb(p.reject ? Status(Errc::kInvalidArgument, "record larger than a wal segment") : st);
  }
  batch.clear();
}

void FileWal::writer_loop() {
  std::vector<Pending> batch;
  std::unique_lock<std::mutex> lk(mu_);
  auto idle = [&] { return written_.empty() && syncs_in_flight_ == 0; };
  for (;;) {
    cv_.wait(lk, [&] {
      return halted_.load() || !sync_error_.ok() || !pending_.empty() || (stopping_ && idle());
    });
    if (halted_.load()) return;
    if (!sync_error_.ok()) {
      if (!recover_from_failure(lk, {}, Status())) return;
      continue;
    }
    if (pending_.empty()) return;  // stopping, and everything written is durable
    if (!broken_.ok()) {
      for (auto& p : pending_) batch.push_back(std::move(p));
      pending_.clear();
      Status st = broken_;
      lk.unlock();
      fail_all(batch, st);
      lk.lock();
      continue;
    }
    if (!cur_.started) {
      // Recovery relies on this: a segment gets its header only after everything before it is
      // durable. Then enter segment cur_.seq: its slot must be trimmed (back-pressure) and usable.
      cv_.wait(lk, [&] { return halted_.load() || !sync_error_.ok() || idle(); });
      if (halted_.load()) return;
      if (!sync_error_.ok()) continue;
      const uint32_t slot = static_cast<uint32_t>(cur_.seq % slot_count_);
      writer_seq_ = cur_.seq;
      // The zeros are optional: never write them into a slot the writer has entered.
      if (zeroing_slot_ == slot) abandon_zeroing_.store(true);
      if (!to_zero_.empty()) to_zero_[slot] = false;
      prep_cv_.notify_all();
      blocked_ = !slot_free_locked(cur_.seq);
      const bool was_ready = ready_[slot];
      const auto t0 = std::chrono::steady_clock::now();
      cv_.wait(lk, [&] {
        bool free = slot_free_locked(cur_.seq);
        return halted_.load() || !broken_.ok() || (free && ready_[slot] && zeroing_slot_ != slot) ||
               (stopping_ && !free);
      });
      // Appends wait here: worth a line when it is long (a stall every client sees).
      const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - t0)
                              .count();
      if (waited >= 20) {
        SHALE_LOG_WARN("wal", "appends waited {} ms to enter segment {}: {}", waited, cur_.seq,
                       blocked_    ? "its slot was not trimmed yet (upload behind)"
                       : was_ready ? "woken late"
                                   : "its file was still being created");
      }
      blocked_ = false;
      if (halted_.load()) return;
      if (!broken_.ok()) continue;
      if (!slot_free_locked(cur_.seq)) {  // stopping while full: nothing more can be written
        for (auto& p : pending_) batch.push_back(std::move(p));
        pending_.clear();
        lk.unlock();
        fail_all(batch, Status(Errc::kClosed, "wal stopped while full (waiting for trim)"));
        return;
      }
    }
    // Take what fits into the rest of this segment, up to max_commit_bytes.
    const uint64_t room = capacity() - cur_.off;
    uint64_t bytes = 0;
    bool close = false;
    while (!pending_.empty()) {
      Pending& p = pending_.front();
      const uint64_t span = format::record_span(p.rec.payload.size());
      if (span > capacity()) p.reject = true;
      if (!p.reject) {
        if (span > room - bytes) {
          close = true;
          break;
        }
        if (bytes > 0 && bytes + span > opts_.max_commit_bytes) break;
        bytes += span;
      }
      batch.push_back(std::move(p));
      pending_.pop_front();
    }
    lk.unlock();
    if (!write_commit(batch, close)) return;
    batch.clear();
    lk.lock();
  }
}

void FileWal::encode(std::vector<Pending>& batch, bool close, Written* w) {
  const uint64_t cap = capacity();
  const uint64_t seg_start = cur_.seq * cap;
  buf_.clear();
  pieces_.clear();
  encoded_bytes_ = 0;
  auto put = [&](size_t k) {  // k bytes of buf_, contiguous with the last buffer piece if any
    const size_t at = buf_.size();
    uint8_t* p = buf_.grow(k);
    if (!pieces_.empty() && pieces_.back().ext == nullptr &&
        pieces_.back().off + pieces_.back().n == at) {
      pieces_.back().n += k;
    } else {
      pieces_.push_back(Piece{nullptr, at, k});
    }
    encoded_bytes_ += k;
    return p;
  };
  if (!cur_.started) {
    format::encode_segment_header({cur_.seq, seg_start, segment_size_, gen_, slot_count_},
                                  put(kSegmentHeaderSize));
  }
  // Every byte before durable_end_ was durable before this write began (see wal_format.h).
  const uint64_t synced_before = static_cast<uint64_t>(durable_end_.load());
  uint64_t off = cur_.off;
  w->positions.reserve(batch.size());
  for (auto& p : batch) {
    if (p.reject) continue;
    const WalRecord& r = p.rec;
    const size_t len = r.payload.size();
    const uint64_t span = format::record_span(len);
    const bool gather = len >= opts_.gather_min_payload;
    // put() may move buf_: keep offsets, take pointers only after the last put() of a record.
    const size_t hdr_at = buf_.size();
    put(gather ? kRecordHeaderSize : span);
    if (gather) {
      pieces_.push_back(Piece{r.payload.data(), 0, len});
      encoded_bytes_ += len;
      if (span > kRecordHeaderSize + len) {
        std::memset(put(span - kRecordHeaderSize - len), 0, span - kRecordHeaderSize - len);
      }
    } else {
      uint8_t* at = buf_.p.get() + hdr_at;
      if (len > 0) std::memcpy(at + kRecordHeaderSize, r.payload.data(), len);
      std::memset(at + kRecordHeaderSize + len, 0, span - kRecordHeaderSize - len);
    }
    format::RecordHeader h;
    h.type = format::kTypeData;
    h.payload_len = static_cast<uint32_t>(len);
    h.pos = seg_start + off;
    h.synced_before = synced_before;
    h.generation = gen_;
    h.count = r.count;
    h.stream = r.stream.value();
    h.epoch = r.epoch.value();
    h.base = r.base.value();
    uint8_t* hdr = buf_.p.get() + hdr_at;  // valid: no put() after this in this record
    format::encode_record(h, gather ? r.payload.data() : hdr + kRecordHeaderSize, hdr);
    w->positions.push_back(h.pos);
    off += span;
    ++w->nrecords;
    w->payload_bytes += len;
  }
  if (close && cap - off >= kRecordHeaderSize) {
    format::RecordHeader h;
    h.type = format::kTypeSegmentEnd;
    h.pos = seg_start + off;
    h.synced_before = synced_before;
    h.generation = gen_;
    format::encode_record(h, nullptr, put(kRecordHeaderSize));
  }
  w->has_io = w->nrecords > 0 || encoded_bytes_ > (cur_.started ? 0 : kSegmentHeaderSize);
  w->after =
      close ? Cursor{cur_.seq + 1, 0, false} : Cursor{cur_.seq, off, cur_.started || w->has_io};
  iov_.clear();
  if (!w->has_io) return;
  for (const Piece& pc : pieces_) {
    iov_.push_back({pc.ext != nullptr ? pc.ext : buf_.data() + pc.off, pc.n});
  }
}

bool FileWal::write_commit(std::vector<Pending>& batch, bool close) {
  const uint32_t slot = static_cast<uint32_t>(cur_.seq % slot_count_);
  const uint64_t file_off = cur_.started ? kSegmentHeaderSize + cur_.off : 0;
  Written w;
  w.file = files_[slot].get();
  encode(batch, close, &w);
  Status st;
  if (w.has_io) {
    if (hook("before_write")) return false;
    st = w.file->pwritev(file_off, iov_.data(), iov_.size());
    if (hook("after_write_before_sync")) return false;
  }
  std::unique_lock<std::mutex> lk(mu_);
  if (!st.ok()) {
    SHALE_LOG_ERROR("wal", "write of {} records at segment {} offset {} failed: {}", w.nrecords,
                    cur_.seq, cur_.off, st.to_string());
    return recover_from_failure(lk, std::move(batch), st);
  }
  cur_ = w.after;
  writer_seq_ = cur_.seq;
  w.batch = std::move(batch);
  written_.push_back(std::move(w));
  sync_cv_.notify_all();  // an idle syncer (one waiting for its ticket may share the cv)
  if (close) prep_cv_.notify_all();
  return true;
}

bool FileWal::recover_from_failure(std::unique_lock<std::mutex>& lk, std::vector<Pending> extra,
                                   Status extra_st) {
  // Let the syncers finish: commits written before the failed one are either acknowledged or,
  // after a failed fdatasync, in failed_ with sync_error_ set.
  cv_.wait(lk, [&] {
    return halted_.load() || (syncs_in_flight_ == 0 && (written_.empty() || !sync_error_.ok()));
  });
  if (halted_.load()) return false;
  std::vector<Pending> failed;
  for (auto* q : {&failed_, &written_}) {
    for (auto& w : *q) {
      for (auto& p : w.batch) failed.push_back(std::move(p));
    }
    q->clear();
  }
  const Status sync_st = sync_error_;
  cur_ = durable_cur_;
  writer_seq_ = cur_.seq;
  lk.unlock();
  if (!sync_st.ok()) {
    SHALE_LOG_ERROR("wal", "fdatasync failed; failing {} appends from position {}: {}",
                    failed.size(), durable_end_.load(), sync_st.to_string());
  }
  // Bump the generation (before failing the callbacks, so callers see a settled WAL) so bytes
  // of the failed commits, which may reach the disk anyway, can never be taken for records
  // after the ones the next commit writes at the same position.
  {
    std::lock_guard<std::mutex> ck(ckpt_mu_);
    if (hook("error_before_checkpoint")) return false;
    // Read the trim point under ckpt_mu_: a trim() that wrote its CHECKPOINT after mu_ was
    // released above would otherwise be undone by this write (a durable trim going back).
    uint64_t trim;
    {
      std::lock_guard<std::mutex> l(mu_);
      trim = trim_pos_;
    }
    Status cst = write_checkpoint(trim, gen_ + 1);
    if (cst.ok()) {
      ++gen_;
    } else {
      std::lock_guard<std::mutex> l(mu_);
      broken_ = Status(cst.code(), "wal broken after failed commit: " + cst.message());
    }
  }
  fail_all(failed, sync_st);
  fail_all(extra, extra_st);
  lk.lock();
  sync_error_ = Status();
  sync_cv_.notify_all();
  return true;
}

void FileWal::syncer_loop() {
  const int max_in_flight = static_cast<int>(std::max<uint32_t>(1, opts_.max_syncs_in_flight));
  std::deque<Written> mine;
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    sync_cv_.wait(lk, [&] {
      return halted_.load() || sync_stop_ ||
             (sync_error_.ok() && !written_.empty() && syncs_in_flight_ < max_in_flight);
    });
    if (halted_.load()) return;
    if (written_.empty() || !sync_error_.ok() || syncs_in_flight_ >= max_in_flight) {
      if (sync_stop_) return;
      continue;
    }
    mine.swap(written_);
    const uint64_t ticket = next_ticket_++;
    ++syncs_in_flight_;
    lk.unlock();
    // Every commit taken was written completely before this fdatasync begins, and all are in
    // one file (the writer enters a new segment only when nothing is in flight).
    bool io = false;
    for (const auto& w : mine) io = io || w.has_io;
    Status st;
    if (io) {
      if (hook("before_sync")) return;
      st = mine.front().file->sync();
      if (st.ok() && hook("after_sync_before_ack")) return;
    }
    lk.lock();
    sync_cv_.wait(lk, [&] { return halted_.load() || ack_ticket_ == ticket; });
    if (halted_.load()) return;
    if (!st.ok() || !sync_error_.ok()) {
      // Fails with its own error, or because an earlier fdatasync failed: a later fdatasync
      // that succeeds proves nothing about pages whose write-back failed before it.
      if (sync_error_.ok()) sync_error_ = st;
      for (auto& w : mine) failed_.push_back(std::move(w));
      mine.clear();
    } else {
      const Cursor end = mine.back().after;
      durable_end_.store(static_cast<int64_t>(end.seq * capacity() + end.off));
      durable_cur_ = end;
      size_t nrecords = 0;
      if (io) ++stats_.commits;
      for (const auto& w : mine) {
        stats_.appended_bytes += w.payload_bytes;
        stats_.acked_appends += w.nrecords;
        stats_.failed_appends += w.batch.size() - w.nrecords;
        nrecords += w.nrecords;
      }
      lk.unlock();  // the ticket keeps the callbacks in order
      for (auto& w : mine) {
        size_t i = 0;
        for (auto& p : w.batch) {
          if (p.reject) {
            if (p.cb) p.cb(Status(Errc::kInvalidArgument, "record larger than a wal segment"));
          } else if (p.cb) {
            p.cb(WalPos(static_cast<int64_t>(w.positions[i++])));
          } else {
            ++i;
          }
        }
      }
      mine.clear();
      if (nrecords > 0 && hook("after_ack")) return;
      lk.lock();
    }
    ++ack_ticket_;
    --syncs_in_flight_;
    // The writer waits on cv_ only for an error or for nothing in flight (segment entry, stop,
    // failure handling): no wake-up per commit under load.
    if (!sync_error_.ok() || (written_.empty() && syncs_in_flight_ == 0)) cv_.notify_all();
    sync_cv_.notify_all();  // the other syncers: their ticket, or more work
  }
}

}  // namespace shale::wal
