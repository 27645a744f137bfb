// ObjectWal: the Wal seam on object storage + the metadata store. Each group commit is one
// object; an append is acknowledged only after its object is uploaded AND the object's index
// entry is committed in the MetaStore (with a fencing compare on the node's WAL epoch).
//
// Keys (node id zero-padded to 10 digits, epoch and positions to 20, so they sort):
//   object  <key_prefix><node>/<epoch>/<start_pos>            (If-None-Match when supported)
//   index   <meta_prefix><node>/idx/<start_pos> = "<epoch> <end_pos> <object key>"
//   epoch   <meta_prefix><node>/epoch = "<epoch>"   highest writer epoch; committing needs ==
//   trim    <meta_prefix><node>/trim  = "<pos>"     records below it are released
// A stale writer (older epoch) can neither overwrite objects (its keys carry its own epoch) nor
// commit index entries (the compare fails: it gets Errc::kFenced and stops).
//
// Commit order (CommitOrder): sequential = PUT, then index commit (an ack costs their sum);
// parallel = both at once (an ack costs their max), only on stores with conditional PUT. Then
// an index entry may name an object that never lands: recover() conditionally PUTs a tombstone
// at such a key, and drops the entry (and every later one) if the tombstone wins. The argument
// is in README.md ("Parallel PUT and index commit").
//
// Positions: an object covering [start, end) holds its records at start + their byte offset in
// the object; end = start + object size. Positions increase, but are not dense across restarts.
//
// Ownership: borrows the ObjectStore and MetaStore (both must outlive the WAL).
// Threading: append() never blocks; callbacks run on the WAL's committer (one uploader or the
// writer thread at a time), in append order. recover() once, before start(); trim() and stats()
// thread-safe.
// Durability: an acknowledged record is in a stored object referenced by a committed index.
// Back-pressure: at most max_inflight_uploads PUTs are in flight, and at most twice as many
// objects await their (in-order) acknowledgement; further appends wait in memory and are
// flushed when a slot frees up. Failure: a failed upload is retried until it
// succeeds (an object store outage delays acknowledgements, it does not fail them); a failed
// index commit or a non-retryable upload error makes the WAL fail every append after it (it
// never acknowledges past a hole); restart to recover.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "meta/meta_store.h"
#include "objfmt/object.h"
#include "objstore/object_store.h"
#include "wal/wal.h"

namespace shale::wal {

// ---- Object format (little-endian) ------------------------------------------------------------
// Header (kObjHeaderSize bytes):
//   0 u32 magic kObjMagic ("SOW1")   4 u32 version (1)   8 i32 node   12 u32 record count
//  16 i64 epoch                     24 u64 start_pos
// Record (kObjRecordHeaderSize bytes + payload):
//   0 u32 crc32c of bytes [4, 36) followed by the payload
//   4 u32 payload_len   8 u64 stream   16 i64 epoch   24 i64 base offset   32 i32 count
inline constexpr uint32_t kObjMagic = 0x31574F53;  // "SOW1"
inline constexpr size_t kObjHeaderSize = 32;
inline constexpr size_t kObjRecordHeaderSize = 36;
// Index entries one trim txn deletes at most: etcd refuses txns of more than 128 operations
// (its --max-txn-ops default), and a trim after a long metadata outage can cover hundreds.
inline constexpr size_t kMaxTrimDeletesPerTxn = 100;
static_assert(kObjHeaderSize == 4 + 4 + 4 + 4 + 8 + 8);
static_assert(kObjRecordHeaderSize == 4 + 4 + 8 + 8 + 8 + 4);
// Format 2 (ObjectWalOptions::objfmt_objects, the default): the object is a stream-set object
// in the src/objfmt format (objfmt/format.h), so the stream store can index it in place
// (adoption, wal.h WalObject). Its first block belongs to stream 0 (never a real stream: ids
// start at 1) and holds one record (base 0, count 1, max ts -1) whose payload is the WAL header:
//   0 u32 magic kObj2Magic ("SOW2")   4 u32 version (2)   8 i32 node   12 u32 record count
//  16 i64 WAL epoch                   24 u64 start_pos    32 u32 stream count n   36 u32 0
//  40 n x {u64 stream, i64 stream epoch}   (ascending stream; one epoch per stream per object)
// The data records follow in the object's block order (grouped by stream, ascending offsets);
// the k-th of them (0-based, in that order) has position start_pos + 1 + k. The objfmt record
// crc32c covers every header and batch. A batch the objfmt format cannot hold (empty payload,
// count <= 0, negative base) makes the writer use format 1 for that object.
inline constexpr uint32_t kObj2Magic = 0x32574F53;  // "SOW2"
inline constexpr size_t kObj2HeaderSize = 40;
inline constexpr size_t kObj2StreamEntrySize = 16;
static_assert(kObj2HeaderSize == 4 + 4 + 4 + 4 + 8 + 8 + 4 + 4);
// Keep keys (adoption): <meta_prefix>keep/<object key without key_prefix>, any value.
// Tombstone (kTombstoneSize bytes), PUT by recover() with If-None-Match at the key of an index
// entry whose object is missing (parallel commit order):
//   0 u32 magic kTombstoneMagic ("SOWT")   4 u32 version (1)   8 i64 epoch of the recovering
//   writer   16 i64 creation time, ms since the Unix epoch (its writer's wall clock)
// Smaller than any WAL object (header + one record), so a listing tells tombstones by size.
inline constexpr uint32_t kTombstoneMagic = 0x54574F53;  // "SOWT"
inline constexpr size_t kTombstoneSize = 24;
static_assert(kTombstoneSize == 4 + 4 + 8 + 8);
static_assert(kTombstoneSize < kObjHeaderSize + kObjRecordHeaderSize);
// True if `data` (an object read back) is a tombstone: its size and its magic.
bool is_tombstone(const Buf& data);

// The per-stream ranges of a format 2 object's data blocks (the header block left out); a
// stream's blocks with adjacent offsets merge into one range.
std::vector<WalObjectRange> ranges_of_blocks(const std::vector<objfmt::BlockIndexEntry>& index);

// Sequential: PUT, then the index commit. Parallel: both at once (needs conditional PUT).
// Auto: parallel when the store's capabilities().conditional_put, else sequential.
enum class CommitOrder { kAuto, kSequential, kParallel };

struct ObjectWalOptions {
  NodeId node{0};
  Epoch epoch{0};  // must be greater than every earlier writer's epoch for this node
  // true: ignore `epoch` and claim (stored epoch + 1) in recover(), atomically (CAS on the epoch
  // key), so a restarted process needs no epoch of its own. epoch() tells which one was claimed.
  bool next_epoch = false;
  // Extra compares for the epoch-claim txn (all must hold, or recover() fails with kFenced). A
  // broker taking over a dead node's WAL passes "that node's broker key is absent", so it never
  // fences a node that has come back and registered.
  std::vector<meta::Compare> claim_guard;
  std::string key_prefix = "wal/";
  std::string meta_prefix = "/shale/wal/";
  uint64_t flush_bytes = 8ull << 20;          // upload when this much is pending ...
  std::chrono::milliseconds flush_delay{50};  // ... or the oldest pending append is this old
  // ... or this much is pending and an upload slot is free (0: flush_bytes / 2; UINT64_MAX:
  // off). A producer that waits for acks before sending more (acks=all, bounded in-flight
  // window) otherwise keeps only window / flush_bytes uploads busy. On RGW, 4 MiB objects with
  // 4 uploads beat 8 MiB (fewer uploads in flight) and 2 MiB (per-object cost): BENCHMARKS.md §5.
  uint64_t early_flush_bytes = 0;
  int max_inflight_uploads = 4;
  // A failed upload (I/O error, timeout, unavailable: after the store's own retries) is retried
  // with doubling waits from retry_base up to retry_cap until it succeeds or stop().
  std::chrono::milliseconds retry_base{100};
  std::chrono::milliseconds retry_cap{2000};
  // kParallel on a store without conditional PUT runs sequentially (and logs why).
  CommitOrder commit_order = CommitOrder::kAuto;
  // Parallel order: a PUT that succeeds later than this after its batch was built is
  // acknowledged only after a read shows the stored epoch is still ours; recover() keeps a
  // tombstone at least tombstone_keep (>= 10 x put_ack_deadline, enforced) before deleting it.
  // Together they make "a late PUT landed after its tombstone was deleted" impossible to ack.
  std::chrono::milliseconds put_ack_deadline{10'000};
  std::chrono::milliseconds tombstone_keep{3'600'000};
  // Wall clock for tombstone ages (ms since the Unix epoch); null: the system clock.
  std::function<int64_t()> wall_ms;
  // Format 2 objects (adoptable by the stream store); false: format 1 (not adoptable).
  bool objfmt_objects = true;
};

// Where an ack's time went (since start(); medians over the last kTimingSamples objects).
struct ObjectWalTimings {
  uint64_t objects = 0;
  double wait_p50_us = 0;    // first append of the object -> object built
  double put_p50_us = 0;     // object built -> PUT returned (incl. the hop to an uploader)
  double hop_p50_us = 0;     // object built -> an uploader starts its PUT
  double commit_p50_us = 0;  // index commit started -> returned
  double ack_p50_us = 0;     // object built -> its callbacks run
  double ack_p99_us = 0;
};

class ObjectWal final : public Wal {
 public:
  ObjectWal(objstore::ObjectStore& store, meta::MetaStore& meta, ObjectWalOptions opts);
  ~ObjectWal() override;

  // Claims the node's WAL epoch (kFenced if a newer writer exists), replays the committed index
  // from the trim point, and deletes this node's uploaded-but-uncommitted objects.
  Status recover(const std::function<void(WalPos, const WalRecord&)>& visit) override;
  Status start() override;
  void stop() override;
  void append(WalRecord rec, WalAppendCallback cb) override;
  // Deletes index entries and objects wholly before `upto`; records trim point.
  Status trim(WalPos upto) override;
  WalPos end() const override;
  WalStats stats() const override;
  std::shared_ptr<const WalObject> object_at(WalPos pos) const override;
  std::string keep_key_for(const std::string& object_key) const override;
  std::string own_object_prefix() const override;
  Result<bool> still_indexed(const std::string& object_key) const override;

  std::string object_key(Epoch epoch, uint64_t start) const;
  Epoch epoch() const { return epoch_; }  // the claimed epoch (after recover())
  // The node's WAL epoch as stored now; greater than epoch() once another writer (a restart,
  // or a cluster WAL takeover) has fenced this one.
  Result<Epoch> stored_epoch() const;
  uint64_t upload_retries() const;  // uploads repeated after a failed put
  uint64_t commit_retries() const;  // index commits repeated after a metadata outage
  std::string index_key(uint64_t start) const;
  bool parallel_commit() const { return parallel_; }  // the resolved CommitOrder
  ObjectWalTimings timings() const;
  // The entries recover() dropped because their object never landed (tombstoned), and the
  // tombstones it deleted (older than tombstone_keep).
  uint64_t dropped_entries() const { return dropped_entries_; }
  uint64_t tombstones_deleted() const { return tombstones_deleted_; }

  static constexpr size_t kTimingSamples = 4096;
  // Parallel order: the index commit waits at most this long for an uploader to take the object.
  static constexpr std::chrono::milliseconds kCommitAfterPutWait{2};

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Pending {
    WalRecord rec;
    WalAppendCallback cb;
    TimePoint at;
  };
  struct Batch {
    uint64_t start = 0, end = 0;
    std::string key;
    Buf data;
    std::vector<std::pair<uint64_t, WalAppendCallback>> acks;  // position, callback
    TimePoint first_append, built, put_start, put_end, commit_start, commit_end;
    bool put_started = false;  // an uploader took it (the parallel commit waits for this)
    bool put_done = false;
    Status put_status;
    bool commit_done = false;
    Status commit_status;
    bool commit_ambiguous = false;         // an attempt may have landed though it reported failure
    std::shared_ptr<const WalObject> obj;  // format 2 only: published once committed
  };
  struct Committed {
    uint64_t end = 0;
    std::string key;
  };

  void writer_loop();
  void upload_loop();
  // Commits (sequential order) and settles finished batches in order; runs their callbacks.
  void commit_ready();
  Status settle(Batch& b);        // parallel order: both halves done -> the append's result
  Status commit_index(Batch& b);  // the index txn, repeated through a metadata outage
  Status put_object(Batch& b, const objstore::PutOptions& o, std::unique_lock<std::mutex>& lk);
  std::shared_ptr<Batch> build_batch_locked();
  // Format 2 body of the first n pending records (false: one of them needs format 1).
  bool build_objfmt_locked(Batch& b, size_t n);
  // Keys of this node's objects that an adopter holds (their keep keys exist); with `among`
  // non-empty, only keys between its least and greatest (one bounded range read).
  Result<std::set<std::string>> kept_objects(const std::vector<std::string>& among = {}) const;
  Status claim_epoch();
  Status same_object(const std::string& key, const Buf& data);
  // recover(): the entry's object, or nullopt when it never landed (tombstoned now or before).
  Result<std::optional<Buf>> object_or_tombstone(const std::string& key);
  Status drop_entries(const std::vector<uint64_t>& starts);
  Status sweep(const std::map<uint64_t, Committed>& live);
  Buf tombstone() const;
  int64_t wall_now_ms() const;
  void record_timing_locked(const Batch& b, TimePoint acked);

  objstore::ObjectStore& store_;
  meta::MetaStore& meta_;
  const ObjectWalOptions opts_;
  const uint64_t early_flush_bytes_;  // resolved opts_.early_flush_bytes
  const bool parallel_;               // resolved opts_.commit_order
  const std::string epoch_key_, trim_key_;
  Epoch epoch_;  // opts_.epoch, or the one claimed by recover() with next_epoch; then constant

  mutable std::mutex mu_;
  // One condition variable per kind of waiter, each notified only for what it waits on: with
  // one for all, every append, PUT and commit woke the writer and every idle uploader (5
  // threads by default), and all but one went back to sleep.
  std::condition_variable writer_cv_;  // the writer: appends pending, a slot freed
  std::condition_variable upload_cv_;  // idle uploaders: upload_q_ non-empty (one per object)
  std::condition_variable stop_cv_;    // retry back-off waits: stopping_
  std::deque<Pending> pending_;
  uint64_t pending_bytes_ = 0;
  std::chrono::steady_clock::time_point oldest_;
  std::deque<std::shared_ptr<Batch>> inflight_;  // append order
  std::deque<std::shared_ptr<Batch>> upload_q_;
  size_t puts_in_flight_ = 0;                // batches built and not yet PUT (queued or PUTting)
  std::map<uint64_t, Committed> committed_;  // start -> object
  std::map<uint64_t, std::shared_ptr<const WalObject>> adoptable_;  // start -> committed format 2
  bool committing_ = false;
  bool stopping_ = false;
  bool started_ = false;
  bool recovered_ = false;
  Status failed_;  // sticky
  uint64_t next_pos_ = 0;
  uint64_t durable_end_ = 0;
  uint64_t trim_pos_ = 0;
  WalStats stats_;
  uint64_t upload_retries_ = 0;
  uint64_t commit_retries_ = 0;
  uint64_t dropped_entries_ = 0;     // set by recover()
  uint64_t tombstones_deleted_ = 0;  // set by recover()
  Status commit_failed_;             // parallel order: no index commit after a failed one
  struct Sample {
    int64_t wait_us, put_us, hop_us, commit_us, ack_us;
  };
  std::vector<Sample> samples_;  // ring of kTimingSamples
  uint64_t timed_ = 0;
  std::thread writer_;
  std::vector<std::thread> uploaders_;
};

}  // namespace shale::wal
