// FileWal recovery: load (or create) the CHECKPOINT, scan the segment chain from the trim point
// to the last valid record, decide whether a bad record is a torn tail or corruption, invalidate
// stale segment headers beyond the end, and bump the writer generation.
#include <fmt/format.h>

#include <cstring>

#include "base/log.h"
#include "io/file_util.h"
#include "io/path.h"
#include "wal/file_wal.h"

namespace shale::wal {

using format::kRecordHeaderSize;
using format::kSegmentHeaderSize;

namespace {

Status read_all(io::File& f, uint64_t off, uint8_t* p, size_t n, size_t* got) {
  *got = 0;
  while (*got < n) {
    SHALE_ASSIGN_OR_RETURN(size_t r, f.pread(off + *got, p + *got, n - *got));
    if (r == 0) break;
    *got += r;
  }
  return Status();
}

}  // namespace

Status FileWal::load_or_create_checkpoint(format::Checkpoint* ck) {
  const std::string path = io::join_path(opts_.dir, "CHECKPOINT");
  SHALE_ASSIGN_OR_RETURN(bool exists, fs_.exists(path));
  if (exists) {
    SHALE_ASSIGN_OR_RETURN(Buf b, io::read_file(fs_, path));
    SHALE_ASSIGN_OR_RETURN(*ck, format::decode_checkpoint(b.data(), b.size()));
    if (ck->slot_count < 2 || ck->segment_size % 4096 != 0 ||
        ck->segment_size < kSegmentHeaderSize + 4096) {
      return Status(Errc::kCorruption, fmt::format("wal checkpoint {} has bad parameters", path));
    }
    if (ck->segment_size != segment_size_ || ck->slot_count != slot_count_) {
      SHALE_LOG_WARN("wal", "{}: keeping segment_size {} and {} slots of the existing wal",
                     opts_.dir, ck->segment_size, ck->slot_count);
    }
    segment_size_ = ck->segment_size;
    slot_count_ = ck->slot_count;
    return Status();
  }
  if (segment_size_ % 4096 != 0 || segment_size_ < kSegmentHeaderSize + 4096) {
    return Status(Errc::kInvalidArgument, "wal segment_size must be a multiple of 4 KiB >= 8 KiB");
  }
  SHALE_RETURN_IF_ERROR(fs_.mkdirs(opts_.dir));
  SHALE_ASSIGN_OR_RETURN(auto names, fs_.list(opts_.dir));
  for (const auto& n : names) {
    if (n.rfind("seg-", 0) == 0) {
      return Status(Errc::kCorruption,
                    fmt::format("wal {} has segment files but no CHECKPOINT", opts_.dir));
    }
  }
  const std::string parent = io::parent_dir(opts_.dir);
  if (!parent.empty()) SHALE_RETURN_IF_ERROR(fs_.sync_dir(parent));
  *ck = format::Checkpoint{slot_count_, segment_size_, 0, 0};
  return Status();
}

Status FileWal::open_slots() {
  files_.clear();
  files_.resize(slot_count_);
  ready_.assign(slot_count_, false);
  to_zero_.assign(slot_count_, false);
  for (uint32_t s = 0; s < slot_count_; ++s) {
    SHALE_ASSIGN_OR_RETURN(bool exists, fs_.exists(slot_path(s)));
    if (!exists) continue;
    SHALE_ASSIGN_OR_RETURN(auto f, fs_.open(slot_path(s), io::OpenMode::kReadWrite));
    SHALE_ASSIGN_OR_RETURN(uint64_t size, f->size());
    // A short file was never used (the preparer syncs the full size before handing it out);
    // the preparer will finish it.
    if (size < segment_size_) continue;
    files_[s] = std::move(f);
    ready_[s] = true;
  }
  return Status();
}

Status FileWal::recover(const std::function<void(WalPos, const WalRecord&)>& visit) {
  std::lock_guard<std::mutex> ck_lock(ckpt_mu_);
  if (recovered_) return Status(Errc::kInvalidArgument, "FileWal::recover called twice");
  format::Checkpoint ck;
  SHALE_RETURN_IF_ERROR(load_or_create_checkpoint(&ck));
  trim_pos_ = ck.trim_pos;
  SHALE_RETURN_IF_ERROR(open_slots());
  SHALE_RETURN_IF_ERROR(scan(visit));
  SHALE_RETURN_IF_ERROR(zap_stale_headers());
  // After a process kill the last segment may hold records that were written but never synced
  // (they were in the page cache, so the scan found them). New records will claim everything
  // before the recovered end is durable (synced_before): make it so. Earlier segments were
  // synced before the writer entered the next one.
  if (io::File* tail = files_[cur_.seq % slot_count_].get()) SHALE_RETURN_IF_ERROR(tail->sync());
  if (hook("recover_before_checkpoint")) return Status(Errc::kClosed, "wal halted");
  // A new generation: bytes of earlier incarnations beyond the recovered end are stale forever.
  gen_ = static_cast<uint32_t>(ck.generation + 1);
  SHALE_RETURN_IF_ERROR(write_checkpoint(trim_pos_, gen_));
  std::lock_guard<std::mutex> l(mu_);
  recovered_ = true;
  SHALE_LOG_INFO("wal", "{}: recovered, trim point {}, end {}, generation {}", opts_.dir, trim_pos_,
                 durable_end_.load(), gen_);
  return Status();
}

Status FileWal::scan(const std::function<void(WalPos, const WalRecord&)>& visit) {
  const uint64_t cap = capacity();
  const uint64_t trim = trim_pos_;
  uint64_t seq = trim / cap;
  uint32_t last_gen = 0;
  std::vector<uint8_t> data(segment_size_);
  std::vector<uint8_t> next;  // the following segment, read only to classify a bad record
  for (;;) {
    const uint32_t slot = static_cast<uint32_t>(seq % slot_count_);
    const uint64_t start = seq * cap;
    bool have = false;
    if (ready_[slot]) {
      size_t got = 0;
      SHALE_RETURN_IF_ERROR(read_all(*files_[slot], 0, data.data(), segment_size_, &got));
      auto h = format::decode_segment_header(data.data(), got);
      if (!h.ok() && h.code() == Errc::kCorruption) {
        return Status(Errc::kCorruption, fmt::format("{}: {}", slot_path(slot), h.error().message));
      }
      have = h.ok() && got == segment_size_ && h->seq == seq && h->start_pos == start &&
             h->segment_size == segment_size_ && h->generation >= last_gen;
      if (have) last_gen = h->generation;
    }
    if (!have) {
      if (trim > start) {
        return Status(Errc::kCorruption,
                      fmt::format("wal segment {} (file {}) holding the trim point {} is missing",
                                  seq, slot_path(slot), trim));
      }
      cur_ = Cursor{seq, 0, false};
      durable_end_.store(static_cast<int64_t>(start));
      return Status();
    }
    const uint8_t* base = data.data() + kSegmentHeaderSize;
    uint64_t off = 0;
    bool closed = false;
    while (!closed) {
      if (cap - off < kRecordHeaderSize) {
        closed = true;
        break;
      }
      format::RecordHeader rh;
      auto c = format::check_record(base + off, cap - off, start + off, &rh);
      const bool stale = c == format::RecordCheck::kOk && rh.generation < last_gen;
      if (c != format::RecordCheck::kOk || stale) {
        const uint64_t bad = start + off;
        const std::string why =
            stale ? "record of an older writer generation" : format::record_check_name(c);
        auto where = [&](uint64_t pos) {
          return fmt::format("wal position {} (segment {}, file {} offset {})", pos, seq,
                             slot_path(slot), kSegmentHeaderSize + (pos - start));
        };
        if (bad < trim) {
          return Status(Errc::kCorruption,
                        fmt::format("corrupt record at {} before the trim point {}: {}", where(bad),
                                    trim, why));
        }
        // Torn tail or corruption? A valid record that a *later* commit wrote (synced_before
        // after the bad position) proves the bad record was durable once: corruption. Records
        // of the same (last, torn) commit may legitimately survive behind it.
        for (uint64_t o = off + format::kRecordAlign; o + kRecordHeaderSize <= cap;
             o += format::kRecordAlign) {
          format::RecordHeader later;
          if (format::check_record(base + o, cap - o, start + o, &later) ==
                  format::RecordCheck::kOk &&
              later.generation >= last_gen && later.synced_before > bad) {
            return Status(Errc::kCorruption,
                          fmt::format("corrupt record at {} ({}), followed by a valid record of a "
                                      "later commit at position {}",
                                      where(bad), why, start + o));
          }
        }
        // The next segment is written only after this one was closed durably.
        const uint32_t nslot = static_cast<uint32_t>((seq + 1) % slot_count_);
        if (ready_[nslot] && nslot != slot) {
          next.resize(segment_size_);
          size_t got = 0;
          SHALE_RETURN_IF_ERROR(read_all(*files_[nslot], 0, next.data(), segment_size_, &got));
          auto nh = format::decode_segment_header(next.data(), got);
          format::RecordHeader first;
          if (nh.ok() && got == segment_size_ && nh->seq == seq + 1 &&
              nh->start_pos == start + cap && nh->generation >= last_gen &&
              format::check_record(next.data() + kSegmentHeaderSize, cap, start + cap, &first) ==
                  format::RecordCheck::kOk &&
              first.generation >= last_gen) {
            return Status(Errc::kCorruption,
                          fmt::format("corrupt record at {} ({}), but the next segment {} has "
                                      "valid records",
                                      where(bad), why, seq + 1));
          }
        }
        if (c != format::RecordCheck::kBadMagic || base[off] != 0) {
          SHALE_LOG_INFO("wal", "torn tail at {}: {}", where(bad), why);
        }
        cur_ = Cursor{seq, off, true};
        durable_end_.store(static_cast<int64_t>(bad));
        return Status();
      }
      last_gen = rh.generation;
      if (rh.type == format::kTypeSegmentEnd) {
        closed = true;
        break;
      }
      if (rh.pos >= trim && visit) {
        WalRecord r;
        r.stream = StreamId(rh.stream);
        r.epoch = Epoch(rh.epoch);
        r.base = Offset(rh.base);
        r.count = rh.count;
        r.payload = Buf::copy(base + off + kRecordHeaderSize, rh.payload_len);
        visit(WalPos(static_cast<int64_t>(rh.pos)), r);
      }
      off += format::record_span(rh.payload_len);
    }
    ++seq;
  }
}

Status FileWal::zap_stale_headers() {
  // Segment headers at or beyond the end that were not started by the recovered log come from
  // an earlier incarnation (a torn commit): destroy them so no later recovery can mistake them
  // for the continuation of the log.
  std::vector<uint8_t> hdr(kSegmentHeaderSize);
  for (uint32_t s = 0; s < slot_count_; ++s) {
    if (!ready_[s]) continue;
    size_t got = 0;
    SHALE_RETURN_IF_ERROR(read_all(*files_[s], 0, hdr.data(), hdr.size(), &got));
    auto h = format::decode_segment_header(hdr.data(), got);
    if (!h.ok()) continue;
    const bool stale = h->seq > cur_.seq || (h->seq == cur_.seq && !cur_.started);
    if (!stale) continue;
    SHALE_LOG_INFO("wal", "invalidating stale header of segment {} in {}", h->seq, slot_path(s));
    std::memset(hdr.data(), 0, hdr.size());
    SHALE_RETURN_IF_ERROR(files_[s]->pwrite(0, hdr.data(), hdr.size()));
    SHALE_RETURN_IF_ERROR(files_[s]->sync());
  }
  return Status();
}

}  // namespace shale::wal
