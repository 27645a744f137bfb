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
// Positions: an object covering [start, end) holds its records at start + their byte offset in
// the object; end = start + object size. Positions increase, but are not dense across restarts.
//
// Ownership: borrows the ObjectStore and MetaStore (both must outlive the WAL).
// Threading: append() never blocks; callbacks run on the WAL's committer (one uploader thread at
// a time), in append order. recover() once, before start(); trim() and stats() thread-safe.
// Durability: an acknowledged record is in a stored object referenced by a committed index.
// Back-pressure: at most max_inflight_uploads objects are in flight; further appends wait in
// memory and are flushed when a slot frees up. Failure: a failed upload is retried until it
// succeeds (an object store outage delays acknowledgements, it does not fail them); a failed
// index commit or a non-retryable upload error makes the WAL fail every append after it (it
// never acknowledges past a hole); restart to recover.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "meta/meta_store.h"
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

  std::string object_key(Epoch epoch, uint64_t start) const;
  Epoch epoch() const { return epoch_; }  // the claimed epoch (after recover())
  // The node's WAL epoch as stored now; greater than epoch() once another writer (a restart,
  // or a cluster WAL takeover) has fenced this one.
  Result<Epoch> stored_epoch() const;
  uint64_t upload_retries() const;  // uploads repeated after a failed put
  uint64_t commit_retries() const;  // index commits repeated after a metadata outage
  std::string index_key(uint64_t start) const;

 private:
  struct Pending {
    WalRecord rec;
    WalAppendCallback cb;
  };
  struct Batch {
    uint64_t start = 0, end = 0;
    std::string key;
    Buf data;
    std::vector<std::pair<uint64_t, WalAppendCallback>> acks;  // position, callback
    bool done = false;
    Status status;
  };
  struct Committed {
    uint64_t end = 0;
    std::string key;
  };

  void writer_loop();
  void upload_loop();
  void commit_ready();  // commits finished batches in order and runs their callbacks
  std::shared_ptr<Batch> build_batch_locked();
  Status claim_epoch();
  Status same_object(const std::string& key, const Buf& data);

  objstore::ObjectStore& store_;
  meta::MetaStore& meta_;
  const ObjectWalOptions opts_;
  const uint64_t early_flush_bytes_;  // resolved opts_.early_flush_bytes
  const std::string epoch_key_, trim_key_;
  Epoch epoch_;  // opts_.epoch, or the one claimed by recover() with next_epoch; then constant

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> pending_;
  uint64_t pending_bytes_ = 0;
  std::chrono::steady_clock::time_point oldest_;
  std::deque<std::shared_ptr<Batch>> inflight_;  // append order
  std::deque<std::shared_ptr<Batch>> upload_q_;
  std::map<uint64_t, Committed> committed_;  // start -> object
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
  std::thread writer_;
  std::vector<std::thread> uploaders_;
};

}  // namespace shale::wal
