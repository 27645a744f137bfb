// FileWal: the file write-ahead log. Records go into a ring of preallocated segment files with
// pipelined group commit: the writer thread encodes and writes (pwritev of headers + payloads)
// every append that is waiting, while syncer threads run the fdatasyncs of what was written
// before; each fdatasync covers every commit whose write completed before it began. The on-disk
// format is in wal_format.h, the design and its reasons in README.md.
//
// Ownership: borrows the Filesystem (must outlive the FileWal). Owns the writer thread (encodes
// and writes commits), max_syncs_in_flight syncer threads (fdatasync, acknowledgements) and the
// preparer
// (creates segment files ahead of the writer, once per slot, and zero-fills them with O_DIRECT
// when it has time; trimmed segments are recycled in place, never deleted).
// Threading: append(), trim(), end() and stats() may be called from any thread. recover() once,
// then start(); stop() (also run by the destructor) completes what it can and joins.
// Durability: an append's callback with a value means its record is durable (an fdatasync that
// began after its write returned OK) and recover() will replay it until trim() releases it. The
// trim point is durable when trim() returns OK (CHECKPOINT file). Callbacks run one at a time,
// in append order, on a WAL thread (a syncer; the writer for failed commits).
// Errors: a failed write/fdatasync fails the callbacks of that commit and of every later commit
// already written with the error; the writer then bumps its generation in the CHECKPOINT (so
// the failed bytes can never be replayed after later records) and retries new appends from the
// last durable position. If even that fails the WAL is broken: every later append fails with
// the error. A failed append may still reappear after a crash as a whole record (exactly like an
// unacknowledged one).
// Back-pressure: when the next segment's slot still holds untrimmed data the writer waits for
// trim(); appends queue (WalStats::waiting_appends). stop() fails appends that cannot be written
// without a trim with Errc::kClosed.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "io/fs.h"
#include "wal/wal.h"
#include "wal/wal_format.h"

namespace shale::wal {

struct FileWalOptions {
  std::string dir;                       // holds CHECKPOINT and seg-NNNNNN.wal
  uint64_t segment_size = 64ull << 20;   // bytes per segment file (multiple of 4 KiB)
  uint64_t max_total_size = 1ull << 30;  // slot_count = max_total_size / segment_size (>= 2)
  uint32_t prealloc_ahead = 2;           // segment files the preparer keeps ready ahead
  // Write zeros (O_DIRECT, no page cache) into new segment files the writer has not reached
  // yet, so its fdatasyncs there need no extent conversion. Never delays the writer: a file it
  // needs is usable (fallocated) before the zeros, which stop when the writer arrives.
  bool zero_fill = true;
  // Upper bound of one group commit's records (a single larger record still goes alone).
  uint64_t max_commit_bytes = 8ull << 20;
  // Payloads of at least this many bytes are written from the caller's buffer (pwritev), smaller
  // ones are copied into the commit buffer (one iovec per small record costs more than a copy).
  size_t gather_min_payload = 2048;
  // fdatasyncs that may run at once (one syncer thread each). Each covers every commit written
  // before it began; acknowledgements stay in append order. With 1, the writer still writes the
  // next commit while the fdatasync runs; with 2, that commit's own fdatasync starts at once.
  // 1 measured better on this VM's disk (BENCHMARKS.md §2: 2 concurrent fdatasyncs made smaller
  // commits without overlapping the flushes).
  uint32_t max_syncs_in_flight = 1;
  // Test hook, called at named points (listed atop file_wal.cc and in README.md). Returning
  // true simulates process death there: the WAL does no further I/O and runs no more callbacks
  // (the test then typically calls MemFs::crash() and recovers with a new FileWal).
  std::function<bool(std::string_view point)> crash_hook;
};

class FileWal final : public Wal {
 public:
  FileWal(io::Filesystem& fs, FileWalOptions opts);
  ~FileWal() override;
  FileWal(const FileWal&) = delete;
  FileWal& operator=(const FileWal&) = delete;

  // Creates the WAL when DIR has no CHECKPOINT. Segment size and slot count of an existing WAL
  // come from its CHECKPOINT (the options' values are then ignored, with a warning).
  Status recover(const std::function<void(WalPos, const WalRecord&)>& visit) override;
  Status start() override;
  void stop() override;
  void append(WalRecord rec, WalAppendCallback cb) override;
  // Accepts any upto <= end(); records at positions < upto are released (so trim(pos + 1)
  // releases the record at pos). Returns once the new trim point is durable.
  Status trim(WalPos upto) override;
  WalPos end() const override { return WalPos(durable_end_.load()); }
  WalStats stats() const override;

  WalPos trim_point() const;
  // Bytes of logical space one record with this payload uses (header + padding).
  static uint64_t record_span(size_t payload_len) { return format::record_span(payload_len); }

 private:
  struct Pending {
    WalRecord rec;
    WalAppendCallback cb;
    bool reject = false;  // larger than a segment: fails with kInvalidArgument in order
  };
  // Writer-owned position of the next byte to write.
  struct Cursor {
    uint64_t seq = 0;
    uint64_t off = 0;      // offset in the segment's data area
    bool started = false;  // segment header written
  };
  // A commit the writer has written, waiting for the fdatasync that makes it durable.
  struct Written {
    std::vector<Pending> batch;
    std::vector<uint64_t> positions;  // of the batch's non-rejected records, in order
    io::File* file = nullptr;
    bool has_io = false;
    Cursor after;  // the writer's cursor after this commit
    uint64_t payload_bytes = 0;
    size_t nrecords = 0;
  };

  uint64_t capacity() const { return segment_size_ - format::kSegmentHeaderSize; }
  std::string slot_path(uint32_t slot) const;
  bool hook(std::string_view point);  // true: simulated death, stop now
  Status write_checkpoint(uint64_t trim_pos, uint64_t generation);
  bool slot_free_locked(uint64_t seq) const;

  // Recovery (file_wal_recover.cc).
  Status load_or_create_checkpoint(format::Checkpoint* ck);
  Status open_slots();
  Status scan(const std::function<void(WalPos, const WalRecord&)>& visit);
  Status zap_stale_headers();

  void writer_loop();
  void syncer_loop();
  // Encodes and writes one commit of `batch` (records, optional end marker) and hands it to the
  // syncer. Returns false on simulated death.
  bool write_commit(std::vector<Pending>& batch, bool close_segment);
  // Encodes `batch` into buf_ and pieces_; fills w (positions, counts, has_io).
  void encode(std::vector<Pending>& batch, bool close_segment, Written* w);
  // After a failed write or fdatasync: waits for the syncer, takes every commit not yet durable,
  // bumps the generation, resets the cursor to the durable end, fails them in order. `extra` is
  // the commit whose write failed (or empty). Called with lk held; returns false on death.
  bool recover_from_failure(std::unique_lock<std::mutex>& lk, std::vector<Pending> extra,
                            Status extra_st);
  void fail_all(std::vector<Pending>& batch, const Status& st);

  // Preparer (file_wal_prepare.cc).
  void preparer_loop();
  Status prepare_slot(uint32_t slot);
  void zero_fill_slot(uint32_t slot);  // best effort; stops when the writer needs the slot

  io::Filesystem& fs_;
  FileWalOptions opts_;
  uint64_t segment_size_ = 0;
  uint32_t slot_count_ = 0;

  // Writer-thread state (set by recover() before the writer starts).
  Cursor cur_;
  uint32_t gen_ = 0;
  // The commit buffer: grows, never shrinks, and is not zero-initialized (every byte of a
  // commit is written before use). Record headers, small payloads and padding go here; larger
  // payloads are written from the record's own Buf (pieces_).
  struct CommitBuffer {
    std::unique_ptr<uint8_t[]> p;
    size_t cap = 0, n = 0;
    void clear() { n = 0; }
    bool empty() const { return n == 0; }
    size_t size() const { return n; }
    const uint8_t* data() const { return p.get(); }
    uint8_t* grow(size_t k);  // appends k uninitialized bytes, returns them
  };
  CommitBuffer buf_;
  // The commit as a list of pieces: ext == nullptr means buf_[off, off + n).
  struct Piece {
    const uint8_t* ext = nullptr;
    size_t off = 0, n = 0;
  };
  std::vector<Piece> pieces_;
  std::vector<io::File::Piece> iov_;
  uint64_t encoded_bytes_ = 0;  // bytes of the current commit (buf_ + external payloads)

  std::mutex ckpt_mu_;  // serializes CHECKPOINT writes (trim vs. generation bumps)

  mutable std::mutex mu_;
  std::condition_variable cv_;       // writer: new appends, trim, ready slot, stop
  std::condition_variable prep_cv_;  // preparer: new work, stop
  std::condition_variable sync_cv_;  // syncer: written commits, stop
  std::deque<Pending> pending_;
  std::deque<Written> written_;  // written, not yet taken by the syncer, in order
  int syncs_in_flight_ = 0;      // syncers holding commits (fdatasync or callbacks running)
  uint64_t next_ticket_ = 0;     // syncers acknowledge in the order they took commits
  uint64_t ack_ticket_ = 0;      // the ticket whose turn it is to acknowledge (or fail)
  Status sync_error_;            // a failed fdatasync; the writer fails failed_ + written_
  std::deque<Written> failed_;   // commits of a failed fdatasync and of later ones, in order
  Cursor durable_cur_;           // the writer's cursor after the last durable commit
  bool sync_stop_ = false;
  std::vector<bool> to_zero_;                     // created, not zero-filled, writer not there yet
  int64_t zeroing_slot_ = -1;                     // slot the preparer is zero-filling
  std::atomic<bool> abandon_zeroing_{false};      // the writer needs zeroing_slot_ now
  std::vector<std::unique_ptr<io::File>> files_;  // by slot; set once, then immutable
  std::vector<bool> ready_;  // slot file exists with full size (durable entry): usable
  uint64_t trim_pos_ = 0;
  uint64_t writer_seq_ = 0;  // the preparer works ahead of this
  bool recovered_ = false;
  bool started_ = false;
  bool stopping_ = false;
  bool prep_stop_ = false;
  std::atomic<bool> halted_{false};  // simulated death (crash hook)
  bool blocked_ = false;             // writer waits for trim (back-pressure)
  Status broken_;                    // permanent failure
  WalStats stats_;
  std::atomic<int64_t> durable_end_{0};

  std::thread writer_;
  std::vector<std::thread> syncers_;
  std::thread preparer_;
};

}  // namespace shale::wal
