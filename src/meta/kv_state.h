// KvState: the deterministic state machine behind EmbeddedMetaStore — the key space, revisions,
// leases (ids and TTLs; deadlines live in the store) and a bounded history of watch events.
//
// Mutations happen in two steps: plan_*() computes a Batch of primitive effects from the current
// state without changing it, and apply() applies a Batch. The store journals the Batch between
// the two, and recovery replays journaled Batches through the same apply(), so a replayed state
// is identical to the one that acknowledged the writes.
//
// Not thread-safe; the store serializes access.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "meta/meta_format.h"
#include "meta/meta_store.h"

namespace shale::meta {

// True if k lies in etcd's range [key, range_end) (see meta_store.h).
bool key_in_range(const std::string& k, const std::string& key, const std::string& range_end);

struct TxnPlan {
  TxnResult result;              // responses filled; revision is the revision after the batch
  std::vector<int64_t> deleted;  // per executed op: keys deleted by a DeleteOp (0 for others)
  Batch batch;                   // empty effects when the txn changes nothing
};

class KvState {
 public:
  explicit KvState(size_t history_limit) : history_limit_(history_limit) {}

  int64_t revision() const { return revision_; }
  // Every event with revision <= compacted() has left the history.
  int64_t compacted() const { return compacted_; }

  RangeResult range(const std::string& key, const std::string& range_end, int64_t limit) const;
  bool lease_exists(int64_t id) const { return leases_.count(id) > 0; }
  int64_t lease_ttl_ms(int64_t id) const;
  std::vector<int64_t> lease_ids() const;

  // Plans. They validate (e.g. lease exists) and return an error without effects if invalid.
  Result<TxnPlan> plan_txn(const Txn& t) const;
  Batch plan_grant(int64_t ttl_ms) const;
  Batch plan_revoke(int64_t id) const;  // deletes the lease's keys; error-free

  // Applies a batch. Errc::kCorruption if it does not follow the current state (replay of a
  // journal that does not belong to this state).
  Status apply(const Batch& b, std::vector<WatchEvent>* events = nullptr);

  // Events with revision >= from whose key is in [key, range_end), in revision order, at most
  // max_events (never splitting a revision). Returns the revision up to which the history was
  // scanned (the caller's next start is that + 1).
  int64_t events_since(int64_t from, const std::string& key, const std::string& range_end,
                       size_t max_events, std::vector<WatchEvent>* out) const;

  // A copy of the key space and leases without watch history (and keeping none): the
  // store's planning state.
  KvState clone_without_history() const {
    KvState k(0);
    k.kvs_ = kvs_;
    k.leases_ = leases_;
    k.revision_ = revision_;
    k.next_lease_id_ = next_lease_id_;
    k.compacted_ = revision_;
    return k;
  }

  SnapshotData snapshot() const;
  // Replaces the whole state (history starts empty, compacted = snapshot revision).
  void restore(const SnapshotData& s);

 private:
  struct Lease {
    int64_t ttl_ms = 0;
    std::set<std::string> keys;
  };
  void record(WatchEvent ev);

  std::map<std::string, KeyValue> kvs_;
  std::map<int64_t, Lease> leases_;
  int64_t revision_ = 1;  // as in etcd, an empty store is at revision 1
  int64_t next_lease_id_ = 1;
  int64_t compacted_ = 0;           // a fresh store has lost nothing
  std::deque<WatchEvent> history_;  // kv.mod_revision is the event's revision
  size_t history_limit_;
};

}  // namespace shale::meta
