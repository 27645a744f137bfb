// MetaStore: the seam for cluster metadata. The model is etcd v3's, so that the etcd backend is
// a thin translation: a flat ordered key space of byte strings, a global revision that every
// mutation increments, per-key create/mod revisions and versions, multi-key compare-and-set
// transactions, watches that resume from a revision, and leases that delete their keys on expiry.
//
// Implementations: EmbeddedMetaStore (in memory + fsync'd journal + snapshots in the data
// directory; single process), MemMetaStore = EmbeddedMetaStore without a journal (tests),
// FaultyMetaStore (injects errors/latency), and etcd::EtcdMetaStore.
//
// Threading: all calls are blocking and thread-safe; they run on the metadata executor.
// Durability: when a mutating call returns OK, the mutation is durable (journal fsync'd).
// Watch callbacks run on a store-owned thread, in revision order, and must not block for long.
//
// Ambiguous outcomes (networked backends; txn_rules.h has the rules as code). A mutation whose
// answer was lost may have been applied. A backend repeats (on another server, after a bounded
// attempt) only what cannot apply twice, and reports the truth:
// - reads, unconditional put/del and lease keep-alives are repeated freely;
// - a *self-fencing* txn that opts in (Txn::repeat_if_lost) is repeated: a compare of it checks
//   a key its success branch puts in a way that put falsifies (version or mod revision EQUAL n,
//   create revision EQUAL 0 = absent, value EQUAL something other than the value put), so it
//   can never apply twice. If the repeat's compares fail, the backend reads those keys back in
//   the same txn; if each holds the value and lease the txn put, all from one revision, and the
//   compare now fails on it, an earlier attempt applied: the result is succeeded=true at that
//   revision (responses empty). That is only true if no other writer could have put the same
//   bytes, hence the opt-in. A late earlier attempt that applies after the repeat fails its
//   compare and changes nothing.
// - every other mutation (other txns, lease revoke) returns kUnavailable after one ambiguous
//   attempt; the caller re-reads, or repeats it if repeating is safe for its keys (e.g. the
//   object WAL's index commit: the same put under the same epoch compare; a counter's CAS is
//   re-read and retried).
// Txns over etcd's operation limit (kMaxTxnOps per branch) are refused by every backend.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base/ids.h"
#include "base/result.h"

namespace shale::meta {

struct KeyValue {
  std::string key;
  std::string value;
  Revision create_revision{0};
  Revision mod_revision{0};
  int64_t version = 0;  // number of puts since creation (1 after create)
  LeaseId lease{0};     // 0 = none
};

// range_end semantics as etcd: empty = the single key; "\0" = every key >= key;
// otherwise the half-open range [key, range_end). prefix_end("a/") == "a0".
std::string prefix_end(const std::string& prefix);

struct RangeResult {
  std::vector<KeyValue> kvs;
  Revision revision{0};  // store revision at the time of the read
  bool more = false;     // limit cut the result
};

struct Compare {
  enum class Target { kVersion, kCreateRevision, kModRevision, kValue };
  enum class Op { kEqual, kNotEqual, kGreater, kLess };
  std::string key;
  Target target = Target::kVersion;
  Op op = Op::kEqual;
  int64_t number = 0;  // for version/revisions (0 = absent key)
  std::string value;   // for kValue

  static Compare absent(std::string k) {
    return {std::move(k), Target::kVersion, Op::kEqual, 0, {}};
  }
  static Compare mod_rev(std::string k, Revision r) {
    return {std::move(k), Target::kModRevision, Op::kEqual, r.value(), {}};
  }
  static Compare value_eq(std::string k, std::string v) {
    return {std::move(k), Target::kValue, Op::kEqual, 0, std::move(v)};
  }
};

struct PutOp {
  std::string key;
  std::string value;
  LeaseId lease{0};
};
struct DeleteOp {
  std::string key;
  std::string range_end;
};
struct GetOp {
  std::string key;
  std::string range_end;
};
using Op = std::variant<PutOp, DeleteOp, GetOp>;

struct Txn {
  std::vector<Compare> compares;
  std::vector<Op> success;
  std::vector<Op> failure;
  // The values this txn puts on its fencing keys identify the write (they carry a lease, or a
  // record whose every field the writer owns), so a backend may repeat it after a lost answer
  // and take "my values are there" for "my earlier attempt landed" ("Ambiguous outcomes"
  // above). Never for counters or bare epochs: a competitor's identical value would be taken
  // for ours (two owners of one epoch or id).
  bool repeat_if_lost = false;
};

struct TxnResult {
  bool succeeded = false;
  Revision revision{0};
  // One entry per executed op; GetOp entries hold the keys read, others are empty.
  std::vector<std::vector<KeyValue>> responses;
};

struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;  // for kDelete: key and mod_revision of the deletion
};

// Called with batches of events in revision order. If the store cannot deliver from the
// requested revision (compacted), it calls with compacted=true and the watch ends; the caller
// re-reads the range and watches again.
struct WatchUpdate {
  std::vector<WatchEvent> events;
  bool compacted = false;
  Revision compact_revision{0};
};
using WatchCallback = std::function<void(const WatchUpdate&)>;
using WatchId = int64_t;

class MetaStore {
 public:
  virtual ~MetaStore() = default;

  virtual Result<RangeResult> get(const std::string& key, const std::string& range_end = {},
                                  int64_t limit = 0) = 0;
  virtual Result<Revision> put(const std::string& key, const std::string& value,
                               LeaseId lease = LeaseId(0)) = 0;
  // Returns the number of keys deleted.
  virtual Result<int64_t> del(const std::string& key, const std::string& range_end = {}) = 0;
  // All-or-nothing: if every compare holds, run success ops, else failure ops; atomically.
  virtual Result<TxnResult> txn(const Txn& t) = 0;

  virtual Result<LeaseId> grant_lease(std::chrono::seconds ttl) = 0;
  // Refreshes the lease's TTL; Errc::kNotFound if it already expired.
  virtual Status keep_alive(LeaseId id) = 0;
  virtual Status revoke_lease(LeaseId id) = 0;

  // Delivers every change to [key, range_end) with revision >= start_revision (0 = from now).
  virtual Result<WatchId> watch(const std::string& key, const std::string& range_end,
                                Revision start_revision, WatchCallback cb) = 0;
  virtual void cancel_watch(WatchId id) = 0;
};

}  // namespace shale::meta
