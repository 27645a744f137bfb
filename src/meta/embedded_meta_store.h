// EmbeddedMetaStore: the MetaStore of a single-process deployment (and, without persistence,
// of unit tests). etcd v3 semantics (see meta_store.h): a global revision, create/mod revisions
// and versions, ranges, transactions, leases and resumable watches.
//
// Persistence (open_embedded_meta): every mutation is one journal record, fdatasync'd before
// the call returns OK (journal.h, format in README.md). Concurrent mutations share fsyncs
// (group commit): each is planned against the state including queued-but-not-yet-durable
// batches, and a committer thread-of-the-moment writes the whole queue with one fdatasync,
// then makes it visible. Reads and watches only ever see durable state. When the journal exceeds
// snapshot_journal_bytes the store writes a snapshot and starts a new journal, so recovery
// replays at most one journal's worth of records. A journal I/O failure leaves the store
// read-only (mutations fail with kIoError) until it is reopened.
//
// Leases: deadlines are kept in memory on the injected Clock; a background thread checks them
// every lease_check_interval (real time); tests with a ManualClock call expire_leases_now().
// After a restart every lease gets a fresh full TTL (as etcd does on leader change).
//
// Watches: events go to a bounded history (watch_history_events); a watch may start from any
// revision still in it. Callbacks run on one store-owned thread, in revision order per watch;
// a watch that falls behind the history gets compacted=true and ends. After a restart the
// history holds the events replayed from the journal (those after the last snapshot).
//
// Threading: all methods are thread-safe. Reads do not wait for journal fsyncs. Callbacks may
// call the store (including cancel_watch); cancel_watch from another thread waits for a running
// callback of that watch to return.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>

#include "base/clock.h"
#include "io/fs.h"
#include "meta/journal.h"
#include "meta/kv_state.h"
#include "meta/meta_store.h"

namespace shale::meta {

class EmbeddedMetaStore;
struct EmbeddedMetaOptions;

struct EmbeddedMetaOptions {
  uint64_t snapshot_journal_bytes = 8 << 20;  // journal size that triggers a snapshot
  size_t watch_history_events = 100'000;      // events kept for resuming watches
  std::chrono::milliseconds lease_check_interval{100};
  size_t max_events_per_update = 1000;  // events per watch callback (whole revisions)
};

class EmbeddedMetaStore final : public MetaStore {
 public:
  ~EmbeddedMetaStore() override;

  Result<RangeResult> get(const std::string& key, const std::string& range_end = {},
                          int64_t limit = 0) override;
  Result<Revision> put(const std::string& key, const std::string& value,
                       LeaseId lease = LeaseId(0)) override;
  Result<int64_t> del(const std::string& key, const std::string& range_end = {}) override;
  Result<TxnResult> txn(const Txn& t) override;
  Result<LeaseId> grant_lease(std::chrono::seconds ttl) override;
  Status keep_alive(LeaseId id) override;
  Status revoke_lease(LeaseId id) override;
  Result<WatchId> watch(const std::string& key, const std::string& range_end,
                        Revision start_revision, WatchCallback cb) override;
  void cancel_watch(WatchId id) override;

  // Revokes every lease whose deadline (on the Clock) has passed. Called by the background
  // thread; tests call it directly after advancing a ManualClock.
  void expire_leases_now();
  // Writes a snapshot and starts a new journal now (no-op without persistence).
  Status snapshot_now();
  Revision revision() const;
  // Watches can start from revisions above this.
  Revision compacted_revision() const;
  const RecoveryStats& recovery_stats() const { return recovery_; }

 private:
  friend Result<std::unique_ptr<EmbeddedMetaStore>> open_embedded_meta(io::Filesystem&, std::string,
                                                                       Clock&, EmbeddedMetaOptions);
  friend std::unique_ptr<EmbeddedMetaStore> make_mem_meta(Clock&, EmbeddedMetaOptions);
  EmbeddedMetaStore(Clock& clock, EmbeddedMetaOptions opts);
  Status open_journal(io::Filesystem& fs, std::string dir);
  void start();

  struct Watcher {
    WatchId id = 0;
    std::string key, range_end;
    int64_t next_rev = 0;
    WatchCallback cb;
  };
  struct Pending {
    uint64_t seq = 0;
    Batch batch;
  };
  // write_mu_ held: validates b, applies it to tip_ and queues it. Returns its ticket: the seq
  // to wait for (the last queued seq if b is empty, so read-only results wait for what they
  // saw to be durable).
  Result<uint64_t> enqueue_locked(Batch b);
  // Waits until every batch up to ticket is durable and visible, committing queued batches
  // itself if no other thread is (group commit). An error means the batch's fate is unknown.
  Status wait_durable(uint64_t ticket);
  Result<TxnPlan> mutate(const Txn& t);
  void lease_loop();
  void watch_loop();
  // One pass over the watchers; true if any made progress. watch_mu_ held via `l`.
  bool deliver_pass(std::unique_lock<std::mutex>& l);

  Clock& clock_;
  const EmbeddedMetaOptions opts_;

  // Planning. tip_ = state_ + every queued batch; mutations are planned against it so that
  // writers need not wait for each other's fsyncs. Lock order: write_mu_ is never held while
  // taking commit_mu_.
  std::mutex write_mu_;
  KvState tip_{0};
  std::vector<Pending> queue_;  // planned, not yet taken by a committer
  uint64_t last_seq_ = 0;       // seq of the last queued batch
  std::map<int64_t, std::chrono::steady_clock::time_point> deadlines_;

  // Committing: one thread at a time writes a group of queued batches to the journal with one
  // fdatasync and applies them to state_. commit_mu_ guards journal_ and failure_.
  std::mutex commit_mu_;
  std::unique_ptr<Journal> journal_;
  std::atomic<uint64_t> durable_seq_{0};
  std::atomic<uint64_t> failed_from_{UINT64_MAX};  // batches with seq >= this failed
  Status failure_;
  RecoveryStats recovery_;

  mutable std::shared_mutex state_mu_;  // guards state_ (only a committer writes it)
  KvState state_;                       // durable state: what reads and watches see

  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  std::map<WatchId, std::shared_ptr<Watcher>> watchers_;
  WatchId next_watch_ = 1;
  uint64_t generation_ = 0;  // bumped on every applied change and new watch
  WatchId delivering_ = 0;
  bool stop_ = false;
  std::thread watch_thread_;

  std::mutex lease_mu_;
  std::condition_variable lease_cv_;
  bool lease_stop_ = false;
  std::thread lease_thread_;
};

// A persistent store in `dir` on `fs` (created if missing); recovers what is there.
Result<std::unique_ptr<EmbeddedMetaStore>> open_embedded_meta(io::Filesystem& fs, std::string dir,
                                                              Clock& clock,
                                                              EmbeddedMetaOptions opts = {});
// An in-memory store without persistence (tests, tools).
std::unique_ptr<EmbeddedMetaStore> make_mem_meta(Clock& clock = SystemClock::instance(),
                                                 EmbeddedMetaOptions opts = {});

}  // namespace shale::meta
