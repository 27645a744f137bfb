// Producer-state recovery: rebuilds a partition's ProducerStateTable when it is opened (after a
// restart or a move), so that a retry of a batch acknowledged before the crash is still
// recognised as a duplicate.
//
// Snapshot: `shale/producer-state/<stream id>` in the metadata store, JSON
//   {"version":1,"offset":N,"table":<ProducerStateTable::encode()>}
// where every idempotent batch below offset N is in the table. Rebuild = decode the snapshot,
// then scan the batch headers of [max(N, log start), end) and replay them. The snapshot is
// written after each rebuild that scanned something, every kProducerSnapshotEvery idempotent
// batches, and when the partition closes cleanly; so the scan after a crash covers at most the
// batches since the last snapshot (about 20k batches), never the whole log.
//
// Threading: blocking (metadata store and store reads); call on a control thread.
#pragma once

#include <cstdint>
#include <string>

#include "base/ids.h"
#include "base/result.h"
#include "broker/producer_state.h"
#include "meta/meta_store.h"
#include "stream/stream_store.h"

namespace shale::broker {

std::string producer_snapshot_key(StreamId stream);

struct ProducerRecovery {
  ProducerStateTable table;
  int64_t snapshot_offset = -1;  // -1: no usable snapshot
  int64_t scanned_from = 0;
  int64_t scanned_batches = 0;
  int64_t scanned_bytes = 0;
};

Result<ProducerRecovery> recover_producer_state(meta::MetaStore& meta, stream::StreamStore& store,
                                                StreamId stream, const stream::StreamInfo& opened);

Status save_producer_snapshot(meta::MetaStore& meta, StreamId stream, int64_t offset,
                              const std::string& table_json);

}  // namespace shale::broker
