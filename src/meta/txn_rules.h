// Rules about transactions that every MetaStore backend applies the same way: etcd's limit on
// operations per txn, compare evaluation, and which txns may be repeated after an answer was
// lost (the contract is in meta_store.h, "Ambiguous outcomes").
//
// Pure functions of their arguments; thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "base/result.h"
#include "meta/meta_store.h"

namespace shale::meta {

// etcd's default --max-txn-ops: no branch of a txn (compares, success ops, failure ops) may
// hold more. Both backends refuse a bigger txn with kInvalidArgument and etcd's own message,
// kTooManyTxnOpsMessage, and apply nothing.
inline constexpr size_t kMaxTxnOps = 128;
inline constexpr const char* kTooManyTxnOpsMessage =
    "etcdserver: too many operations in txn request";
Status check_txn_size(const Txn& t);

// Whether compare c holds against kv (nullopt = the key is absent), with etcd's semantics
// (a value compare on an absent key fails; numbers of an absent key are 0).
bool compare_holds(const Compare& c, const std::optional<KeyValue>& kv);

// The puts of t that make it self-fencing: a put on a key that a compare of t checks in a way
// the put itself must falsify (version, or mod revision, EQUAL to a number; value EQUAL to a
// value other than the one put; create revision EQUAL 0). Once t applied, such a compare fails,
// so repeating t can never apply it twice. Empty: t is not self-fencing (or reads in its
// success branch, whose answer a repeat could not reproduce).
std::vector<const PutOp*> fencing_puts(const Txn& t);

// After a repeat of self-fencing t failed its compares: true if `now` (the current kvs of the
// fencing puts' keys, in any order) shows that an earlier attempt of t applied: every fencing
// key holds the value and lease t put, all from one revision, and every fencing compare now
// fails on it. That revision is stored in *revision.
bool landed(const Txn& t, const std::vector<const PutOp*>& fencing,
            const std::vector<KeyValue>& now, Revision* revision);

}  // namespace shale::meta
