// FileWal: writer thread (group commit), preparer thread, trim and checkpoint. Recovery is in
// file_wal_recover.cc.
//
// Crash points passed to FileWalOptions::crash_hook:
//   writer:   "before_write", "after_write_before_sync", "after_sync_before_ack", "after_ack",
//             "error_before_checkpoint" (a commit failed; before the generation bump)
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
  writer_ = std::thread([this] { writer_loop(); });
  preparer_ = std::thread([this] { preparer_loop(); });
  return Status();
}

void FileWal::stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (writer_.joinable()) writer_.join();
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
  for (;;) {
    cv_.wait(lk, [&] { return halted_.load() || stopping_ || !pending_.empty(); });
    if (halted_.load() || pending_.empty()) return;
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
      // Enter segment cur_.seq: its slot must be trimmed (back-pressure) and prepared.
      const uint32_t slot = static_cast<uint32_t>(cur_.seq % slot_count_);
      writer_seq_ = cur_.seq;
      prep_cv_.notify_all();
      blocked_ = !slot_free_locked(cur_.seq);
      const bool was_ready = ready_[slot];
      const auto t0 = std::chrono::steady_clock::now();
      cv_.wait(lk, [&] {
        bool free = slot_free_locked(cur_.seq);
        return halted_.load() || !broken_.ok() || (free && ready_[slot]) || (stopping_ && !free);
      });
      // Appends wait here: worth a line when it is long (a stall every client sees).
      const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - t0)
                              .count();
      if (waited >= 20) {
        SHALE_LOG_WARN("wal", "appends waited {} ms to enter segment {}: {}", waited, cur_.seq,
                       blocked_    ? "its slot was not trimmed yet (upload behind)"
                       : was_ready ? "woken late"
                                   : "its file was still being prepared (zero-fill)");
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
    if (!commit(batch, close)) return;
    batch.clear();
    lk.lock();
  }
}

bool FileWal::commit(std::vector<Pending>& batch, bool close) {
  const uint64_t cap = capacity();
  const uint64_t seg_start = cur_.seq * cap;
  const uint32_t slot = static_cast<uint32_t>(cur_.seq % slot_count_);
  io::File* file = files_[slot].get();
  uint64_t file_off = kSegmentHeaderSize + cur_.off;
  buf_.clear();
  if (!cur_.started) {
    file_off = 0;
    format::encode_segment_header({cur_.seq, seg_start, segment_size_, gen_, slot_count_},
                                  buf_.grow(kSegmentHeaderSize));
  }
  const uint64_t commit_start = seg_start + cur_.off;
  uint64_t off = cur_.off;
  std::vector<uint64_t> positions;
  positions.reserve(batch.size());
  size_t nrecords = 0;
  uint64_t payload_bytes = 0;
  for (auto& p : batch) {
    if (p.reject) continue;
    const WalRecord& r = p.rec;
    const uint64_t span = format::record_span(r.payload.size());
    uint8_t* at = buf_.grow(span);
    format::RecordHeader h;
    h.type = format::kTypeData;
    h.payload_len = static_cast<uint32_t>(r.payload.size());
    h.pos = seg_start + off;
    h.commit_start = commit_start;
    h.generation = gen_;
    h.count = r.count;
    h.stream = r.stream.value();
    h.epoch = r.epoch.value();
    h.base = r.base.value();
    if (!r.payload.empty()) {
      std::memcpy(at + kRecordHeaderSize, r.payload.data(), r.payload.size());
    }
    std::memset(at + kRecordHeaderSize + r.payload.size(), 0,
                span - kRecordHeaderSize - r.payload.size());
    format::encode_record(h, at + kRecordHeaderSize, at);
    positions.push_back(h.pos);
    off += span;
    ++nrecords;
    payload_bytes += r.payload.size();
  }
  if (close && cap - off >= kRecordHeaderSize) {
    uint8_t* at = buf_.grow(kRecordHeaderSize);
    format::RecordHeader h;
    h.type = format::kTypeSegmentEnd;
    h.pos = seg_start + off;
    h.commit_start = commit_start;
    h.generation = gen_;
    format::encode_record(h, nullptr, at);
  }
  const bool has_io = nrecords > 0 || buf_.size() > (cur_.started ? 0 : kSegmentHeaderSize);
  if (!has_io) buf_.clear();
  Status st;
  if (!buf_.empty()) {
    if (hook("before_write")) return false;
    st = file->pwrite(file_off, buf_.data(), buf_.size());
    if (hook("after_write_before_sync")) return false;
    if (st.ok()) st = file->sync();
  }
  if (!st.ok()) {
    SHALE_LOG_ERROR("wal", "commit of {} records at {} failed: {}", nrecords, commit_start,
                    st.to_string());
    // Bump the generation (before failing the callbacks, so callers see a settled WAL) so bytes
    // of the failed commit, which may reach the disk anyway, can never be taken for records
    // after the ones the next commit writes at the same position.
    {
      std::lock_guard<std::mutex> ck(ckpt_mu_);
      if (hook("error_before_checkpoint")) return false;
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
    fail_all(batch, st);
    return true;
  }
  if (!buf_.empty() && hook("after_sync_before_ack")) return false;
  if (close) {
    cur_ = Cursor{cur_.seq + 1, 0, false};
  } else {
    cur_.off = off;
    cur_.started = cur_.started || !buf_.empty();
  }
  durable_end_.store(static_cast<int64_t>(cur_.seq * cap + cur_.off));
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!buf_.empty()) ++stats_.commits;
    stats_.appended_bytes += payload_bytes;
    stats_.acked_appends += nrecords;
    stats_.failed_appends += batch.size() - nrecords;
    writer_seq_ = cur_.seq;
  }
  if (close) prep_cv_.notify_all();
  size_t i = 0;
  for (auto& p : batch) {
    if (p.reject) {
      if (p.cb) p.cb(Status(Errc::kInvalidArgument, "record larger than a wal segment"));
    } else if (p.cb) {
      p.cb(WalPos(static_cast<int64_t>(positions[i++])));
    } else {
      ++i;
    }
  }
  return !(nrecords > 0 && hook("after_ack"));
}

void FileWal::preparer_loop() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    if (halted_.load() || prep_stop_ || !broken_.ok()) return;
    int64_t target = -1;
    const uint64_t ahead = std::min<uint64_t>(opts_.prealloc_ahead + 1, slot_count_);
    for (uint64_t s = writer_seq_; s < writer_seq_ + ahead; ++s) {
      const uint32_t slot = static_cast<uint32_t>(s % slot_count_);
      if (!ready_[slot]) {
        target = slot;
        break;
      }
    }
    if (target < 0) {
      prep_cv_.wait(lk);
      continue;
    }
    lk.unlock();
    Status st = prepare_slot(static_cast<uint32_t>(target));
    lk.lock();
    if (halted_.load()) return;
    if (!st.ok()) {
      SHALE_LOG_ERROR("wal", "preparing segment slot {} failed: {}", target, st.to_string());
      broken_ = st;
      cv_.notify_all();
      return;
    }
    ready_[target] = true;
    cv_.notify_all();
  }
}

Status FileWal::prepare_slot(uint32_t slot) {
  const std::string path = slot_path(slot);
  SHALE_ASSIGN_OR_RETURN(std::unique_ptr<io::File> f, fs_.open(path, io::OpenMode::kCreate));
  SHALE_RETURN_IF_ERROR(f->allocate(segment_size_));
  if (opts_.zero_fill) {
    // Written zeros, not just allocated extents: the first fdatasync of a write into an
    // unwritten extent also has to commit the extent conversion to the journal.
    std::vector<uint8_t> zeros(std::min<uint64_t>(segment_size_, 1 << 20));
    for (uint64_t o = 0; o < segment_size_; o += zeros.size()) {
      if (halted_.load()) return Status(Errc::kClosed, "wal halted");
      SHALE_RETURN_IF_ERROR(
          f->pwrite(o, zeros.data(), std::min<uint64_t>(zeros.size(), segment_size_ - o)));
    }
  }
  if (hook("prepare_before_sync")) return Status(Errc::kClosed, "wal halted");
  SHALE_RETURN_IF_ERROR(f->sync());
  if (hook("prepare_before_sync_dir")) return Status(Errc::kClosed, "wal halted");
  SHALE_RETURN_IF_ERROR(fs_.sync_dir(opts_.dir));
  std::lock_guard<std::mutex> l(mu_);
  files_[slot] = std::move(f);
  return Status();
}

}  // namespace shale::wal
