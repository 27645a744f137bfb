// StreamStoreImpl: the stream store over a WAL, an object store and a metadata store.
// See stream_store.h for the contract and README.md for the metadata layout, the upload cycle,
// recovery and what bounds memory.
//
// Ownership: borrows the Wal, ObjectStore, MetaStore and Clock (they must outlive the store).
// The store drives the WAL's lifecycle: start() calls wal.recover() then wal.start(); stop()
// calls wal.stop(). Owns a BlockCache and a CatchUpReader (the cold-read pool) and two threads:
// the uploader and the maintenance thread (retention, object GC, compaction).
//
// Threading: all public methods are thread-safe. `mu_` guards the in-memory state (streams, log
// cache, object index) and is held only for in-memory work, never across I/O. Each stream's
// `append_mu` orders its WAL enqueues (the per-stream critical section of append()).
// `meta_mu_` serialises this store's metadata mutations (it is held across metadata calls, on
// control/uploader/maintenance threads only, never on append/read paths).
// Durability: an append's callback with a value means the batch is durable in the WAL; the store
// keeps it readable across crashes (WAL replay, then objects) until retention or trim.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "base/clock.h"
#include "meta/meta_store.h"
#include "objfmt/block_cache.h"
#include "objfmt/catchup_reader.h"
#include "objstore/object_store.h"
#include "objstore/throttled_object_store.h"
#include "stream/meta_records.h"
#include "stream/stream_store.h"
#include "wal/wal.h"

namespace shale::stream {

// Called at every named crash point (see README.md, "Crash points"). Returning true simulates a
// process crash at that instant: the operation stops there, the store refuses all further work
// (Errc::kUnavailable) and does no more I/O except stop() joining its threads.
using CrashHook = std::function<bool(std::string_view point)>;

struct StoreOptions {
  NodeId node{0};
  std::string key_prefix = "shale";          // object keys: <prefix>/n<node>/i<inc>/<object id>
  size_t log_cache_bytes = 256 << 20;        // bound on cached batch bytes (back-pressure)
  size_t upload_threshold_bytes = 32 << 20;  // upload when this much is un-uploaded
  int64_t upload_interval_ms = 500;          // ... or when the oldest un-uploaded data is older
  size_t stream_object_bytes = 8 << 20;      // a stream with more data in an upload: own object
  // Object WAL: a WAL object of at least this size whose records are all in an upload is indexed
  // in place instead of uploaded again (adoption, wal.h WalObject). UINT64_MAX: never.
  uint64_t adopt_min_bytes = 1 << 20;
  size_t block_cache_bytes = objfmt::kDefaultBlockCacheBytes;
  size_t cold_read_threads = 2;
  bool cold_read_drop_behind = true;            // objfmt::CatchUpReaderOptions::drop_behind
  int64_t maintenance_interval_ms = 1000;       // retention, GC and compaction cadence
  int64_t delete_grace_ms = 60'000;             // dead objects are deleted this long after death
  size_t compact_small_object_bytes = 8 << 20;  // stream-set objects below this are merged
  size_t compact_min_objects = 4;               // merge when at least this many small ones exist
  size_t compact_max_objects = 32;              // at most this many per compaction
  // Bandwidth budgets (token buckets, see objstore/throttled_object_store.h) so catch-up reads
  // and compaction cannot starve appends' uploads and tail reads. 0 = unlimited.
  uint64_t cold_read_bytes_per_sec = 0;   // object GET bytes of the cold-read pool
  uint64_t compaction_bytes_per_sec = 0;  // GET + PUT bytes of compaction
  uint64_t io_budget_burst_bytes = 8 << 20;
  bool background = true;  // false: no threads (tests drive *_once())
  // stop() uploads what is still only in the WAL. false: it leaves it there (the WAL is durable;
  // the next start() replays it and uploads it), so a clean shutdown is as quick as a crash.
  bool upload_on_stop = true;
  // start() deletes this node's objects that no metadata references (earlier incarnations'
  // uncommitted puts). false for a store that takes over another, possibly still running
  // (zombie) node's WAL: its in-flight put must not vanish under it; the node's own restart
  // sweeps later.
  bool sweep_orphans = true;
  CrashHook crash_hook;
};

std::unique_ptr<class StreamStoreImpl> open_stream_store(StoreOptions opts, wal::Wal& wal,
                                                         objstore::ObjectStore& objects,
                                                         meta::MetaStore& meta, Clock& clock);

struct StoreStats {
  uint64_t cache_bytes = 0;       // batch bytes in the log cache
  uint64_t unuploaded_bytes = 0;  // in flight to the WAL + cached and not uploaded
  uint64_t waiting_appends = 0;   // appends held by back-pressure
  uint64_t uploads = 0;           // committed uploads
  uint64_t objects = 0;           // objects in the index
  uint64_t compactions = 0;
  uint64_t objects_deleted = 0;
  uint64_t cold_reads = 0;
  uint64_t cold_read_budget_bytes = 0;   // bytes charged to the cold-read budget
  uint64_t compaction_budget_bytes = 0;  // bytes charged to the compaction budget
  uint64_t index_full_reads = 0;         // open() re-read every object record
  uint64_t index_incremental_reads = 0;  // open() read only new objects + pending deletes
  uint64_t wal_trim_failures = 0;        // failed WAL trims; after kFenced the store stops trimming
  uint64_t adopted_objects = 0;          // WAL objects indexed in place (not uploaded again)
  uint64_t adopted_bytes = 0;            // their sizes
};

class StreamStoreImpl final : public StreamStore {
 public:
  StreamStoreImpl(StoreOptions opts, wal::Wal& wal, objstore::ObjectStore& objects,
                  meta::MetaStore& meta, Clock& clock);
  ~StreamStoreImpl() override;

  Status start() override;
  void stop() override;
  Result<StreamId> create(const RetentionPolicy& policy = {}) override;
  // One id allocation and one txn per meta::kMaxTxnOps streams.
  Result<std::vector<StreamId>> create_many(size_t n, const RetentionPolicy& policy = {}) override;
  Result<StreamInfo> open(StreamId id, Epoch epoch) override;
  Status close(StreamId id) override;
  Status remove(StreamId id) override;
  Status trim(StreamId id, Offset new_start) override;
  Status set_retention(StreamId id, const RetentionPolicy& policy) override;
  Result<StreamInfo> info(StreamId id) const override;
  void append(StreamId id, Epoch epoch, Buf batch, int32_t count, AppendCallback cb) override;
  void read(StreamId id, Offset from, size_t max_bytes, ReadCallback cb) override;
  std::optional<Result<ReadResult>> try_read_cached(StreamId id, Offset from,
                                                    size_t max_bytes) override;
  void offset_for_timestamp(StreamId id, int64_t ts_ms,
                            std::function<void(Result<Offset>)> cb) override;
  Status flush_uploads() override;

  // Blocking convenience wrappers (tests, tools): wait for the callback.
  Result<AppendResult> append_sync(StreamId id, Epoch epoch, Buf batch, int32_t count);
  Result<ReadResult> read_sync(StreamId id, Offset from, size_t max_bytes);

  // One pass of each background job, on the caller's thread (tests; background=false).
  Status upload_once();
  Status retention_once();
  Status gc_once();
  Status compact_once();
  StoreStats stats() const;

 private:
  struct CacheEntry {
    Offset base{0};
    int32_t count = 0;
    Buf batch;
    int64_t max_ts = -1;
    WalPos pos{0};
    bool uploaded = false;
    Offset end() const { return base + count; }
  };
  struct IndexedSlice {  // one object range of a stream, keyed by start in Stream::index
    ObjectId object{0};
    Offset end{0};
    uint64_t bytes = 0;
    int64_t max_ts = -1;
  };
  struct Stream {
    explicit Stream(StreamId i) : id(i) {}
    const StreamId id;
    std::mutex append_mu;  // orders WAL enqueues of this stream
    // Everything below is guarded by the store's mu_.
    StreamRecord rec;  // last known metadata record
    Revision rev{0};   // its mod revision (the CAS token for fencing)
    bool open_here = false;
    Epoch open_epoch{0};
    bool broken = false;           // fenced, deleted or a WAL error: refuses appends until reopened
    bool wal_error = false;        // broken by a failed WAL append: still ours, and what it
                                   // acknowledged before (the cache) is still to be uploaded
    Offset next{0};                // next offset to assign
    Offset durable{0};             // high watermark: every offset below is durable and readable
    int inflight = 0;              // appends queued in the WAL, not yet called back
    uint64_t generation = 0;       // bumped when un-uploaded entries are dropped
    std::deque<CacheEntry> cache;  // contiguous, durable; uploaded entries form a prefix
    size_t uploaded_prefix = 0;
    std::map<Offset, IndexedSlice> index;  // object ranges by start offset
    uint64_t index_bytes = 0;              // sum of index[*].bytes (dead slices included)
    uint64_t unuploaded_bytes = 0;         // sum of the un-uploaded cache entries' sizes
  };
  struct WaitingAppend {
    StreamId id;
    Epoch epoch;
    Buf batch;
    int32_t count;
    AppendCallback cb;
  };
  using StreamPtr = std::shared_ptr<Stream>;

  // Crash simulation: true (and the store is dead) if the hook asks to crash at `point`.
  bool crash_at(std::string_view point);
  bool dead() const;
  Status dead_status() const;

  StreamPtr find_locked(StreamId id) const;
  void append_now(WaitingAppend w);
  void on_wal_done(const StreamPtr& s, Offset base, int32_t count, Buf batch, int64_t max_ts,
                   Result<WalPos> pos, AppendCallback cb);
  void insert_cache_locked(Stream& s, CacheEntry e);
  void evict_locked();
  void drop_unuploaded_locked(Stream& s);
  void drain_waiting();
  StreamInfo info_locked(const Stream& s) const;
  // StreamInfo::size_bytes: the live bytes, from the two running sums minus the dead prefix.
  uint64_t size_locked(const Stream& s) const;
  Result<ReadResult> read_cached_locked(const Stream& s, Offset from, size_t max_bytes) const;
  std::vector<objfmt::ObjectSlice> slices_locked(const Stream& s, Offset from) const;
  void index_object_locked(const ObjectRecord& r);
  void unindex_object_locked(ObjectId id);

  // Metadata helpers (callers hold meta_mu_).
  Result<uint64_t> allocate_ids(std::string_view counter, uint64_t n);
  // After a commit txn whose answer was lost: the revision at which it applied, read from the
  // record of `first`, an object the txn created (ids are never reused), or nullopt if it has
  // not applied (yet). Never delete an object whose commit is unknown: it may be named later.
  Result<std::optional<Revision>> commit_landed(ObjectId first);
  // A commit whose answer was lost and that had not landed when read back: its objects are
  // kept (it may still apply). The maintenance thread re-reads it on every pass
  // (retry_unsure_locked): landed → the index learns it (`created` in, `replaced` out); still
  // absent delete_grace_ms later → the objects are garbage and deleted.
  void note_unsure_locked(std::vector<ObjectRecord> created, std::vector<ObjectId> replaced);
  Status retry_unsure_locked();
  Status load_metadata();
  Status recover_wal();
  Status sweep_orphans();
  Status refresh_stream(const StreamPtr& s);
  // Cluster: brings the object index up to date before `s` (not open here) is opened: learns
  // objects other nodes committed, forgets deleted ones. Bounded (see README.md, "Opening a
  // stream"): when the index was complete less than delete_grace_ms / 2 ago, reads only object
  // records with ids >= index_scan_from_ and the pending deletes, and keeps the result only if
  // it covers [start, committed_end) of `s` without a gap; otherwise reads every record.
  Status sync_objects(const StreamPtr& s);
  // The two ways of doing it; both set index_synced_ms_ = `started` on success.
  // read_index_changes() returns true when forgetting a deleted object left a gap in a stream
  // it had covered: the object that replaced it (a compaction's output, whose id was allocated
  // before other commits and so lies below index_scan_from_) is found only by a whole read.
  Result<bool> read_index_changes();
  Status read_whole_index(int64_t started);
  // Maintenance: the incremental read, every delete_grace_ms / 4 while the index is fresh, so
  // that open() stays incremental on a node that opens nothing for a while.
  Status refresh_index_once();
  // Every offset of [start, committed_end) is in some indexed object of `s`.
  bool index_covers_locked(const Stream& s) const;
  // Indexes the ranges of `s` held by objects already known (a stream learned late).
  void index_known_objects_locked(const StreamPtr& s);
  // Read-modify-write of the stream record as a CAS on its mod revision; refreshes and retries
  // on a conflict; kFenced (and the stream stops) if another owner's epoch appeared.
  Status write_stream_record(const StreamPtr& s,
                             const std::function<Status(StreamRecord&)>& mutate);
  void fence_locked(Stream& s);
  // Moves objects whose ranges are all dead to pending delete (one txn per object).
  Status collect_dead_objects(const std::set<ObjectId>& candidates);
  bool object_dead_locked(const ObjectRecord& r) const;
  // Compaction leaves it alone (maintenance.cc).
  bool large_single_stream(const ObjectRecord& r) const;

  // Object-store key of a new object: never reused (unique id, per-start incarnation).
  std::string store_key(ObjectId id) const;
  void trim_wal();
  void uploader_loop();
  void maintenance_loop();
  void request_upload();
  int64_t now_ms() const { return clock_.wall_ms(); }

  const StoreOptions opts_;
  wal::Wal& wal_;
  objstore::ObjectStore& objects_;
  meta::MetaStore& meta_;
  Clock& clock_;
  objstore::TokenBucket cold_read_budget_, compaction_budget_;
  objstore::ThrottledObjectStore cold_objects_;     // objects_ under cold_read_budget_
  objstore::ThrottledObjectStore compact_objects_;  // objects_ under compaction_budget_
  objfmt::BlockCache block_cache_;
  std::unique_ptr<objfmt::CatchUpReader> reader_;
  uint64_t incarnation_ = 0;

  mutable std::mutex mu_;
  std::unordered_map<StreamId, StreamPtr> streams_;  // guarded by mu_
  std::map<ObjectId, ObjectRecord> object_records_;  // guarded by mu_
  std::deque<std::pair<StreamId, Offset>> fifo_;     // cache insertion order; guarded by mu_
  size_t cache_bytes_ = 0;                           // guarded by mu_
  size_t unuploaded_bytes_ = 0;                      // guarded by mu_
  int64_t oldest_unuploaded_ms_ = -1;                // guarded by mu_
  int inflight_total_ = 0;                           // guarded by mu_
  WalPos wal_trimmed_{0};                            // guarded by mu_
  bool wal_fenced_ = false;  // guarded by mu_: a trim was fenced (WAL taken over): no more trims
  std::chrono::steady_clock::time_point trim_warned_{};  // guarded by mu_: last failure logged
  uint64_t trim_unlogged_ = 0;         // guarded by mu_: failures since then, not logged
  std::deque<WaitingAppend> waiting_;  // guarded by mu_
  bool started_ = false, closing_ = false, stopping_ = false;  // guarded by mu_
  bool draining_ = false;          // drain_waiting() is moving an append to the WAL; guarded by mu_
  bool upload_requested_ = false;  // guarded by mu_
  StoreStats stats_;               // guarded by mu_
  std::condition_variable cv_;     // uploader wake-up and upload completion
  std::condition_variable idle_cv_;   // inflight appends reach zero
  std::condition_variable maint_cv_;  // maintenance thread wake-up (stop, crash)

  // When appends began to queue behind back-pressure (-1: none); guarded by mu_.
  int64_t backpressure_since_ms_ = -1;

  std::mutex meta_mu_;  // serialises metadata mutations
  // The object index's freshness (guarded by meta_mu_): the next incremental read starts at
  // this object id, and the index reflected every committed and deleted object as of this wall
  // time (-1: never).
  uint64_t index_scan_from_ = 1;
  int64_t index_synced_ms_ = -1;
  struct UnsureCommit {
    std::vector<ObjectRecord> created;  // the objects the commit names (never empty)
    std::vector<ObjectId> replaced;     // the objects it retires (compaction inputs)
    int64_t since_ms;
  };
  std::vector<UnsureCommit> unsure_;  // guarded by meta_mu_
  // WAL objects named by an upload commit whose answer was lost: never adopted again (a late
  // landing of that commit would give one object two records). Guarded by upload_mu_.
  std::set<std::string> adopt_refused_;
  std::mutex upload_mu_;   // one upload at a time
  std::mutex compact_mu_;  // one compaction at a time (uploads run beside it)
  std::atomic<bool> dead_{false};
  std::string dead_point_;  // guarded by mu_
  std::thread uploader_, maintenance_;
};

// Per-stream ranges of a built object from its block index (adjacent blocks merged), sorted.
std::vector<ObjectRange> ranges_of(const std::vector<objfmt::BlockIndexEntry>& index);

// The max timestamp of a Kafka v2 record batch (bytes 35..43, big-endian), or -1 if too short.
int64_t batch_max_timestamp(const Buf& batch);

}  // namespace shale::stream
