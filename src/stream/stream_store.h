// StreamStore: Shale's storage engine. A stream is an append-only sequence of Kafka record
// batches addressed by offset; each partition (and each internal topic partition) is one stream.
//
//   append ──► WAL (group commit, durable) ──► ack            read ──► log cache hit ──► batches
//                 ├──► log cache (recent batches)                 └──► miss ─► cold-read pool ─►
//                 └──► uploader ─► objects + one index commit            block cache ◄─ range GETs
//
// Payloads are Kafka v2 record batches: the store assigns each batch's base offset by writing it
// into the batch's first 8 bytes (big-endian baseOffset; the batch CRC does not cover it). The
// store does not otherwise interpret batches, except for the max timestamp (bytes 35..42) that
// time-based retention and ListOffsets use.
//
// Ownership: a stream is opened by one owner with an epoch. Every metadata commit for the stream
// is a compare-and-set on that epoch, so a deposed owner is fenced (Errc::kFenced).
//
// Threading: every method is thread-safe. Control calls (create/open/close/trim/remove) block on
// metadata and run on a control executor, never on an event loop. append() and read() never
// block: their callbacks run on store-owned threads (WAL writer, cold-read pool); the caller
// posts the result back to its own executor. try_read_cached() is the non-blocking fast path for
// tail reads on the event loop.
// Durability: append's callback with a value means the batch is durable in the WAL and will be
// readable at that offset across crashes until trimmed by retention.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/buf.h"
#include "base/ids.h"
#include "base/result.h"

namespace shale::stream {

struct StreamInfo {
  StreamId id{0};
  Epoch epoch{0};
  Offset start{0};               // first readable offset (moved by trim and retention)
  Offset end{0};                 // next offset to assign == durable end (high watermark)
  Offset last_stable{0};         // end of the prefix with no open transactions (== end for now)
  int64_t retention_ms = -1;     // -1 = unlimited
  int64_t retention_bytes = -1;  // -1 = unlimited
  // Bytes of the stored batches from start to end (DescribeLogDirs partition size, metrics).
  // Like Kafka's sum of segment sizes, it counts whole storage units: an uploaded object range
  // that straddles `start` counts in full until retention drops it. Maintained incrementally:
  // info() stays cheap.
  uint64_t size_bytes = 0;
  // Open here but refusing appends until reopened at a higher epoch: a WAL append failed (every
  // append after it was failed too, so none may be acked out of order) or another owner
  // fenced this one. The owner recovers by reopening (cluster: ClusterNode::follow).
  bool broken = false;
};

struct AppendResult {
  Offset base{0};
  Offset end{0};  // stream end after this append
  int64_t log_append_time_ms = 0;
};

// A read returns whole batches starting at or before `from` (the first batch contains `from`).
struct ReadResult {
  std::vector<Buf> batches;
  Offset start{0};  // stream start at read time
  Offset end{0};    // stream end (high watermark) at read time
};

struct RetentionPolicy {
  int64_t retention_ms = -1;
  int64_t retention_bytes = -1;
};

using AppendCallback = std::function<void(Result<AppendResult>)>;
using ReadCallback = std::function<void(Result<ReadResult>)>;

class StreamStore {
 public:
  virtual ~StreamStore() = default;

  virtual Status start() = 0;
  // Uploads everything (closing streams), stops background work.
  virtual void stop() = 0;

  // Creates an empty stream with a fresh id, owned by nobody.
  virtual Result<StreamId> create(const RetentionPolicy& policy = {}) = 0;
  // Creates `n` streams at once (a topic's partitions): the implementation may batch the
  // metadata writes. All or nothing: on an error none of the returned ids exist.
  virtual Result<std::vector<StreamId>> create_many(size_t n, const RetentionPolicy& policy = {}) {
    std::vector<StreamId> out;
    for (size_t i = 0; i < n; ++i) {
      Result<StreamId> id = create(policy);
      if (!id.ok()) {
        for (StreamId c : out) (void)remove(c);
        return id.error();
      }
      out.push_back(*id);
    }
    return out;
  }
  // Takes ownership at `epoch` (must exceed the stored epoch) and makes the stream appendable.
  virtual Result<StreamInfo> open(StreamId id, Epoch epoch) = 0;
  // Uploads the stream's un-uploaded data, commits, and releases ownership.
  virtual Status close(StreamId id) = 0;
  // Deletes the stream; its objects are garbage-collected after a grace period.
  virtual Status remove(StreamId id) = 0;
  // Moves the start offset forward to `new_start` (DeleteRecords). Never moves it back. Only the
  // owner may: Errc::kFenced when the stream is not open here or its epoch moved on.
  virtual Status trim(StreamId id, Offset new_start) = 0;
  virtual Status set_retention(StreamId id, const RetentionPolicy& policy) = 0;
  virtual Result<StreamInfo> info(StreamId id) const = 0;

  // Appends one record batch covering `count` offsets. Errc::kFenced if the epoch is stale,
  // Errc::kNotFound if the stream is not open here.
  virtual void append(StreamId id, Epoch epoch, Buf batch, int32_t count, AppendCallback cb) = 0;
  // Reads whole batches from `from`, up to about max_bytes (at least one batch if any exists).
  virtual void read(StreamId id, Offset from, size_t max_bytes, ReadCallback cb) = 0;
  // Serves the read from the log cache without blocking, or returns nullopt (then call read()).
  virtual std::optional<Result<ReadResult>> try_read_cached(StreamId id, Offset from,
                                                            size_t max_bytes) = 0;
  // The first offset whose batch max timestamp >= ts, or the end if none (ListOffsets).
  virtual void offset_for_timestamp(StreamId id, int64_t ts_ms,
                                    std::function<void(Result<Offset>)> cb) = 0;

  // Forces an upload of everything in the WAL now (tests, shutdown, partition moves).
  virtual Status flush_uploads() = 0;
};

}  // namespace shale::stream
