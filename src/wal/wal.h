// Wal: the write-ahead log seam. A WAL makes appended records durable quickly and keeps them until
// the uploader has moved them into object storage and calls trim().
//
// Implementations: FileWal (file_wal.h: preallocated segment files, group commit, fdatasync) and
// later the object WAL (each group commit is one object).
//
// Threading: append() may be called from any thread and never blocks; its callback runs on the
// WAL's writer thread once the record is durable (or failed), in append order. recover() must be
// called once, before start(). trim() is thread-safe.
// Back-pressure: when the WAL is full (max size reached, nothing trimmable), appends are queued
// and their callbacks are delayed until trim() frees space. Nothing is ever dropped.
#pragma once

#include <cstdint>
#include <functional>

#include "base/buf.h"
#include "base/ids.h"
#include "base/result.h"

namespace shale::wal {

// One appended batch of one stream, as stored in the WAL.
struct WalRecord {
  StreamId stream{0};
  Epoch epoch{0};
  Offset base{0};     // first offset of the batch
  int32_t count = 0;  // number of offsets the batch covers
  Buf payload;        // the record batch bytes
};

struct WalStats {
  uint64_t appended_bytes = 0;
  uint64_t commits = 0;     // number of group commits (fdatasync calls)
  uint64_t used_bytes = 0;  // bytes between the trim point and the end
  uint64_t capacity_bytes = 0;
  uint64_t waiting_appends = 0;  // appends held back by back-pressure
  uint64_t acked_appends = 0;    // appends whose callback got a position
  uint64_t failed_appends = 0;   // appends whose callback got an error
};

using WalAppendCallback = std::function<void(Result<WalPos>)>;

class Wal {
 public:
  virtual ~Wal() = default;

  // Replays every durable record after the trim point, in append order. Call once, before start().
  virtual Status recover(const std::function<void(WalPos, const WalRecord&)>& visit) = 0;
  virtual Status start() = 0;
  // Completes or fails every queued append, then stops the writer.
  virtual void stop() = 0;

  // Queues rec; cb(pos) runs once it is durable. pos is the record's logical WAL position.
  virtual void append(WalRecord rec, WalAppendCallback cb) = 0;
  // Everything strictly before `upto` has been uploaded; its space may be reused.
  virtual Status trim(WalPos upto) = 0;
  // The logical position after the last durable record.
  virtual WalPos end() const = 0;
  virtual WalStats stats() const = 0;
};

}  // namespace shale::wal
