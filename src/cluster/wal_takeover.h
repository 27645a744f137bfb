// WAL takeover: recovers what a dead broker acknowledged but had not uploaded yet, from its
// object WAL (wal/object_wal.h) in the shared object store, before its partitions move.
//
//   1. open an ObjectWal for the dead node with next_epoch: claims (stored epoch + 1), fencing
//      the node's WAL writer (a zombie that wakes up fails every WAL commit: Errc::kFenced). The
//      claim is guarded by "shale/brokers/<node> is absent", so a node that has come back and
//      registered (it registers before it opens its own WAL) is never fenced by a takeover;
//   2. run a temporary StreamStoreImpl for the dead node id over that WAL (no threads, no orphan
//      sweep): its start() replays the WAL into the log cache exactly as the node's own restart
//      would (records at each stream's stored owner epoch, past its committed end);
//   3. flush_uploads(): uploads them into objects committed to the streams at the dead owner's
//      epoch (CAS on each stream record), then trims the WAL; stop();
//   4. deletes the uncommitted leftovers of earlier takeovers of this node (see below).
//
// Takeover vs the node's restart: the takeover's objects live under their own key space
// (takeover_key_prefix(): <prefix>/takeover/n<node>/i<incarnation>/<object id>), never under the
// node's <prefix>/n<node>/ that the restarted node's orphan sweep deletes from; so a restart that
// runs while a takeover is between put and commit cannot delete an object that is then committed
// (which would leave the index pointing at nothing). Whichever of the two commits the records
// first wins (CAS on the stream records); the loser's upload is discarded, and if discarding
// failed or the controller died between put and commit, the object stays unreferenced under the
// takeover key space until the next successful takeover of that node deletes it (step 4: only
// after our own commit, when an earlier takeover's pending commit can no longer succeed).
// Only after this succeeds does the controller reassign the node's partitions at epoch + 1, so
// the new owner's open() sees every acknowledged record.
//
// Idempotent: a second takeover of the same node finds an empty (trimmed) WAL.
// Ownership: borrows the stores; everything it creates is destroyed before it returns.
// Threading: blocking (metadata + object I/O); call from the agent thread.
#pragma once

#include <cstdint>
#include <string>

#include "base/clock.h"
#include "base/result.h"
#include "meta/meta_store.h"
#include "objstore/object_store.h"
#include "stream/stream_store_impl.h"
#include "wal/object_wal.h"

namespace shale::cluster {

struct WalTakeoverStats {
  int64_t wal_epoch = 0;         // the epoch claimed on the dead node's WAL
  uint64_t recovered_bytes = 0;  // acknowledged bytes that were only in the WAL
  uint64_t uploads = 0;          // committed uploads
  int64_t millis = 0;            // wall time of the whole takeover
  size_t swept = 0;              // leftovers of earlier takeovers deleted
};

// Object keys of takeovers: <store_prefix>/takeover (then /n<node>/i<incarnation>/<object id>).
std::string takeover_key_prefix(const std::string& store_prefix);

// `store` and `wal` carry the deployment's settings (key prefixes, thresholds); their node,
// epoch and lifecycle fields are overridden for the dead node.
Result<WalTakeoverStats> take_over_object_wal(meta::MetaStore& meta, objstore::ObjectStore& objects,
                                              Clock& clock, int32_t node,
                                              stream::StoreOptions store,
                                              wal::ObjectWalOptions wal);

}  // namespace shale::cluster
