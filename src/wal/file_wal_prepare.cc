// FileWal's preparer thread: creates the segment files (slots) ahead of the writer, and zero-fills
// new ones while the writer is elsewhere.
//
// Why zeros, and why this way (measured with wal_bench BM_SegmentFirstUse, see README.md): an
// fdatasync after writing into fallocated (unwritten) extents or past the end of a growing file
// must also commit the extent conversion or size change to the ext4 journal, ~1.5x the latency of
// an fdatasync of overwritten blocks. Writing the zeros through the page cache costs ~2 CPU s per
// GB on a loaded VM; with O_DIRECT (io::File::write_zeros) it costs disk bandwidth only. The
// writer never waits for zeros: a file is usable once it is fallocated and its entry durable.
#include <fmt/format.h>

#include <algorithm>

#include "base/log.h"
#include "wal/file_wal.h"

namespace shale::wal {

void FileWal::preparer_loop() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    if (halted_.load() || prep_stop_ || !broken_.ok()) return;
    const uint64_t ahead = std::min<uint64_t>(opts_.prealloc_ahead + 1, slot_count_);
    int64_t create = -1, zero = -1;
    uint64_t create_seq = 0;
    for (uint64_t s = writer_seq_; s < writer_seq_ + ahead; ++s) {
      const uint32_t slot = static_cast<uint32_t>(s % slot_count_);
      if (!ready_[slot]) {
        create = slot;
        create_seq = s;
        break;
      }
      // Not the writer's own segment: it may be writing there already.
      if (zero < 0 && s > writer_seq_ && to_zero_[slot]) zero = slot;
    }
    if (create >= 0) {
      lk.unlock();
      Status st = prepare_slot(static_cast<uint32_t>(create));
      lk.lock();
      if (halted_.load()) return;
      if (!st.ok()) {
        SHALE_LOG_ERROR("wal", "preparing segment slot {} failed: {}", create, st.to_string());
        broken_ = st;
        cv_.notify_all();
        return;
      }
      ready_[create] = true;
      // Zeros only where the writer has not arrived yet (it clears to_zero_ when it enters).
      to_zero_[create] = opts_.zero_fill && create_seq > writer_seq_;
      cv_.notify_all();
      continue;
    }
    if (zero >= 0) {
      zeroing_slot_ = zero;
      abandon_zeroing_.store(false);
      lk.unlock();
      zero_fill_slot(static_cast<uint32_t>(zero));
      lk.lock();
      zeroing_slot_ = -1;
      to_zero_[zero] = false;
      cv_.notify_all();
      continue;
    }
    prep_cv_.wait(lk);
  }
}

Status FileWal::prepare_slot(uint32_t slot) {
  const std::string path = slot_path(slot);
  SHALE_ASSIGN_OR_RETURN(std::unique_ptr<io::File> f, fs_.open(path, io::OpenMode::kCreate));
  SHALE_RETURN_IF_ERROR(f->allocate(segment_size_));
  if (hook("prepare_before_sync")) return Status(Errc::kClosed, "wal halted");
  SHALE_RETURN_IF_ERROR(f->sync());
  if (hook("prepare_before_sync_dir")) return Status(Errc::kClosed, "wal halted");
  SHALE_RETURN_IF_ERROR(fs_.sync_dir(opts_.dir));
  std::lock_guard<std::mutex> l(mu_);
  files_[slot] = std::move(f);
  return Status();
}

void FileWal::zero_fill_slot(uint32_t slot) {
  // Chunks of 4 MiB (a few ms of disk time), so the writer that needs this slot waits at most
  // one chunk. Every content of a slot is valid input for recovery (stale bytes fail the
  // position/generation checks), so stopping half-way is harmless.
  constexpr uint64_t kChunk = 4 << 20;
  io::File* f = files_[slot].get();
  for (uint64_t o = 0; o < segment_size_; o += kChunk) {
    if (abandon_zeroing_.load() || halted_.load()) return;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (prep_stop_) return;
    }
    Status st = f->write_zeros(o, std::min(kChunk, segment_size_ - o));
    if (!st.ok()) {
      SHALE_LOG_WARN("wal", "zero-filling {} failed (the slot stays usable): {}", slot_path(slot),
                     st.to_string());
      return;
    }
  }
  if (abandon_zeroing_.load() || halted_.load()) return;
  Status st = f->sync();  // commits the extent conversion now, not in the writer's first sync
  if (!st.ok()) {
    SHALE_LOG_WARN("wal", "syncing the zeros of {} failed: {}", slot_path(slot), st.to_string());
  }
}

}  // namespace shale::wal
