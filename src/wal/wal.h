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
#include <memory>
#include <string>
#include <vector>

#include "base/buf.h"
#include "base/ids.h"
#include "base/result.h"

namespace shale::wal {

// One appended batch of one stream, as stored in the WAL.
struct WalRecord {
  StreamId stream{0};
  Epoch epoch{0};
  Offset base{0};       // first offset of the batch
  int32_t count = 0;    // number of offsets the batch covers
  Buf payload;          // the record batch bytes
  int64_t max_ts = -1;  // the batch's max timestamp (ms; -1 unknown), kept in object WAL objects
};

// One stream's records in a WalObject: offsets [start, end), `bytes` of the object's blocks.
struct WalObjectRange {
  StreamId stream{0};
  Offset start{0};
  Offset end{0};
  uint64_t bytes = 0;
  int64_t max_ts = -1;
};

// A stored WAL object whose bytes are also a stream-set object (src/objfmt format): the stream
// store may index it in place instead of uploading its records again ("adoption",
// src/wal/README.md). Only whole objects are adopted: every one of its `records` must be in the
// adopting upload. The adopter commits `keep_key` (any value) in the same txn as its index;
// from then on the WAL never deletes the object (trim and recovery sweep skip it). Whoever
// deletes the object later waits until the WAL no longer indexes it (Wal::still_indexed), then
// deletes the object, then `keep_key` (Wal::keep_key_for). Immutable.
struct WalObject {
  std::string key;
  uint64_t size = 0;
  WalPos start{0}, end{0};  // the positions of its records lie in [start, end)
  uint32_t records = 0;
  std::vector<WalObjectRange> ranges;  // one per stream, ascending stream id
  std::string keep_key;
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

  // Adoption (object WAL only; the defaults say "nothing to adopt"). The object holding the
  // acknowledged or replayed record at `pos`, if it may be adopted; null otherwise.
  virtual std::shared_ptr<const WalObject> object_at(WalPos /*pos*/) const { return nullptr; }
  // The keep key of `object_key` if it names an object of a WAL like this one (any node's),
  // else "". Deleting an adopted object's keep key after the object is the adopter's job.
  virtual std::string keep_key_for(const std::string& /*object_key*/) const { return {}; }
  // True while the index of the WAL that wrote `object_key` (any node's) still names it: it may
  // still be replayed, so its adopter must not delete it yet (kept objects outlive the index).
  virtual Result<bool> still_indexed(const std::string& /*object_key*/) const { return false; }
  // The key prefix of this WAL's own objects ("" for none): adopted objects under it are this
  // node's to compact.
  virtual std::string own_object_prefix() const { return {}; }
};

}  // namespace shale::wal
