// CatchUpReader: the cold-read pool. Serves reads of a stream's offset range from objects in the
// object store (consumers catching up, replays), through the BlockCache, with adaptive
// read-ahead.
//
// Reads: read(stream, from, max_bytes, slices, cb) queues the read; a pool thread serves it and
// calls cb exactly once with whole batches, the first containing `from`, at least one batch when
// any exists at `from`, then further batches while the total stays within max_bytes (it does not
// fetch another block when that block's average batch would not fit, so a read may return a
// little less than max_bytes allows; the next read continues there). It follows
// `slices` (the stream store's object index entries, ordered by offset) across block and object
// boundaries and stops at the first gap between slices or at the end of the last slice.
//
// Read-ahead: the reader remembers, per (stream, next offset), the read-ahead window of the
// consumer that read up to there. A read that continues where a previous one stopped is
// sequential: the window (readahead_start_blocks after a random read) doubles at the first
// sequential read and is as large as the bound allows from the next one on, covers at least twice
// the bytes of the read that just ended (a consumer's next two reads of the same size find their
// blocks fetched or in flight), and is planned again once the consumer has read a quarter of the
// last one. A window's bytes are bounded by max_readahead_bytes and by the consumer's share of half
// the block cache among the sequential consumers active in the last second. A read that misses
// several blocks fetches them in parallel (fetch_parallelism GETs at once) before serving them.
// Prefetch is asynchronous: its runs (adjacent blocks of an object, one range GET each) are
// queued for the fetch helpers, which keep at most fetch_parallelism of them in flight per
// consumer (threads x fetch_parallelism in all) and serve a read's own fetches first; a window that
// would overfill the queue (prefetch_queue_capacity runs) is dropped. A read that does not continue
// a known position is random and starts with the initial window, covering one read. A read that
// already holds partial_read_bytes stops at a block still being fetched by read-ahead and returns
// what it has (a read may always return less than max_bytes; the next one continues there).
// With drop_behind, a block a sequential read has served whole leaves the cache unless another
// consumer of the stream, active in the last second, has yet to read it (see the option).
//
// Layouts (footer + index) are cached in a small LRU keyed by object key.
//
// Threading: all public methods are thread-safe. Callbacks run on pool threads, never on the
// caller's thread; they must not block for long. The pool is fixed (threads) and the queue is
// bounded (queue_capacity); a full queue rejects the read with Errc::kResourceExhausted.
// Ownership: the store and cache must outlive the reader. stop() (also run by the destructor)
// fails queued reads with Errc::kClosed and joins the pool.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "objfmt/block_cache.h"
#include "objfmt/object.h"
#include "objstore/object_store.h"

namespace shale::objfmt {

// A piece of a stream stored in one object: offsets [start, end) of the stream live in `key`.
struct ObjectSlice {
  std::string key;
  uint64_t object_size = 0;  // 0 if unknown
  Offset start{0};
  Offset end{0};
  uint64_t bytes = 0;  // the stream's bytes in [start, end) of this object; 0 if unknown
};

struct CatchUpResult {
  std::vector<DecodedBatch> batches;
  Offset next{0};    // offset after the last returned batch (== from when none)
  size_t bytes = 0;  // sum of batch sizes
};

using CatchUpCallback = std::function<void(Result<CatchUpResult>)>;
// nullopt: no batch in the slices has max timestamp >= ts.
using TimestampCallback = std::function<void(Result<std::optional<Offset>>)>;

struct CatchUpReaderOptions {
  size_t threads = 2;
  size_t queue_capacity = 1024;          // queued reads (prefetches are bounded separately)
  size_t prefetch_queue_capacity = 256;  // read-ahead runs queued or in flight
  size_t readahead_start_blocks = 1;
  // Read-ahead windows (and the blocks one read fetches in parallel) stop at this many bytes,
  // or earlier at the consumer's share of half the block cache.
  size_t max_readahead_bytes = 32 * 1024 * 1024;
  // GETs in flight for one read's missing blocks or one consumer's read-ahead (each GET is one
  // run of adjacent blocks, about 2 MiB); read-ahead of all consumers together has at most
  // threads x fetch_parallelism. A read's pool thread fetches too; the others are long-lived
  // helper threads ("cold-fetch", threads x fetch_parallelism + fetch_parallelism - 1), so
  // each keeps its store connections warm.
  size_t fetch_parallelism = 8;
  // A read already holding this many bytes returns them rather than wait for a block that a
  // read-ahead GET is still fetching (0: always wait). A catch-up consumer then processes what
  // has landed while the GET runs, and its next fetch comes sooner: with one 16 MiB fetch in
  // flight the broker's mean Fetch time halved on RGW, the catch-up rate rose 3-7% (medians;
  // within the noise of single runs, BENCHMARKS.md section 5o).
  size_t partial_read_bytes = 1 * 1024 * 1024;
  // Drop-behind: once a sequential read has served every batch of a block, the block leaves the
  // cache unless another consumer of the stream, active within the last second, last read from
  // an offset before the block's end (it may still need it). Without it a catch-up keeps every
  // block until the cache is full, and a fresh broker's first pass over the cache's capacity
  // lands in fresh memory: on this project's VMs, zeroing those pages took 28% of the broker's
  // CPU in a 768 MiB cold catch-up (BENCHMARKS.md section 5q). With it the buffers of blocks
  // already served go back to the S3 client's receive pool and carry the next GETs. The cost: a
  // consumer that re-reads a block it has passed, or starts on a stream after the others have
  // passed it, GETs it again (as a new consumer group does once the cache has evicted it).
  bool drop_behind = true;
  size_t layout_cache_entries = 1024;
  size_t position_entries = 4096;  // remembered (stream, position) read-ahead states
  // Added to each pool thread's nice value (Linux setpriority on the thread): > 0 makes catch-up
  // reads yield the CPU to the event loops and the WAL writer when cores are short. Pool threads
  // are named "cold-read", fetch helpers "cold-fetch" (visible in top -H, perf); both are niced.
  int thread_nice = 0;
};

struct CatchUpStats {
  uint64_t reads = 0;
  uint64_t sequential_reads = 0;
  uint64_t block_hits = 0;    // blocks served from cache (or an in-flight prefetch)
  uint64_t block_misses = 0;  // blocks fetched by the read itself
  uint64_t gets = 0;          // every data range GET (reads and prefetch)
  uint64_t layout_gets = 0;   // layouts read from the store (cache misses)
  uint64_t prefetch_gets = 0;
  uint64_t prefetch_blocks = 0;
  uint64_t prefetch_dropped = 0;    // prefetches not queued because the queue was full
  uint64_t last_window_blocks = 0;  // blocks in the most recent read-ahead window planned
  uint64_t dropped_behind = 0;      // blocks dropped from the cache once served (drop_behind)
  // Time, summed over reads (microseconds): queued before a pool thread took the read, serving
  // it (callback excluded), and within that waiting for blocks a read-ahead was fetching.
  uint64_t read_queued_us = 0;
  uint64_t read_served_us = 0;
  uint64_t read_inflight_wait_us = 0;
  // Read-ahead windows queued, and the time of their runs' GETs (on fetch helpers) summed
  // (microseconds).
  uint64_t windows = 0;
  uint64_t prefetch_us = 0;
};

class CatchUpReader {
 public:
  using Options = CatchUpReaderOptions;

  CatchUpReader(objstore::ObjectStore& store, BlockCache& cache, Options opts = {});
  ~CatchUpReader();
  CatchUpReader(const CatchUpReader&) = delete;
  CatchUpReader& operator=(const CatchUpReader&) = delete;

  // Queues a read. OK: cb will be called exactly once on a pool thread. Otherwise cb is never
  // called: kResourceExhausted (queue full), kClosed (stopped), kInvalidArgument (no slices).
  Status read(StreamId stream, Offset from, size_t max_bytes, std::vector<ObjectSlice> slices,
              CatchUpCallback cb);
  // Queues a timestamp lookup: the base offset of the first batch whose max timestamp >= ts_ms,
  // using block index max timestamps and then decoding one block. Same queueing contract.
  Status offset_for_timestamp(StreamId stream, int64_t ts_ms, std::vector<ObjectSlice> slices,
                              TimestampCallback cb);

  // Blocks until no read or prefetch is queued or running (tests, benchmarks).
  void wait_idle();
  // Fails queued reads with kClosed, drops prefetches, joins the pool. Idempotent.
  void stop();

  CatchUpStats stats() const;
  // Cached layout of an object, reading it if needed (also used by the stream store).
  Result<std::shared_ptr<const ObjectLayout>> layout(const std::string& key,
                                                     uint64_t object_size = 0);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shale::objfmt
