// Journal: the durable log and snapshots of the embedded metadata store (format: meta_format.h,
// README.md). It owns the files in one directory:
//   snapshot-<S>.snap   the state after every journal numbered < S
//   journal-<S>.log     batches applied after snapshot S (one record per batch)
// recover() loads the newest snapshot, replays the journals numbered >= S through
// KvState::apply(), truncates a torn tail of the last journal, and deletes obsolete files.
// append() writes one record and fdatasyncs it. snapshot() writes snapshot-<S+1> (temp, sync,
// rename, sync_dir), starts journal-<S+1> and deletes the older files.
//
// After an append or snapshot failure that may have left the files inconsistent with memory,
// the journal is broken: every later call fails and the store must be reopened (the same rule
// as PostgreSQL's after a failed fsync; retrying an fsync can lie).
// Not thread-safe; the store serializes calls.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "io/fs.h"
#include "meta/kv_state.h"

namespace shale::meta {

struct RecoveryStats {
  uint64_t snapshot_seq = 0;  // 0 = no snapshot
  uint64_t records_replayed = 0;
  uint64_t torn_bytes_dropped = 0;
};

class Journal {
 public:
  static Result<std::unique_ptr<Journal>> recover(io::Filesystem& fs, std::string dir,
                                                  KvState* state, RecoveryStats* stats);

  // Appends one record per batch with a single write and a single fdatasync (group commit).
  Status append(const std::vector<const Batch*>& batches);
  Status append(const Batch& b) { return append(std::vector<const Batch*>{&b}); }
  Status snapshot(const KvState& state);
  // Bytes in the current journal file (header included).
  uint64_t size() const { return offset_; }
  uint64_t seq() const { return seq_; }
  bool broken() const { return broken_; }

 private:
  Journal(io::Filesystem& fs, std::string dir) : fs_(fs), dir_(std::move(dir)) {}
  // Creates journal-<seq> with a header, durably, and makes it current.
  Status start_journal(uint64_t seq);
  // Replays one journal file into state; `last` allows (and truncates) a torn tail.
  Status replay(uint64_t seq, bool last, KvState* state, RecoveryStats* stats);
  Status remove_older_than(uint64_t seq);

  io::Filesystem& fs_;
  const std::string dir_;
  std::unique_ptr<io::File> file_;
  uint64_t seq_ = 0;
  uint64_t offset_ = 0;
  bool broken_ = false;
};

}  // namespace shale::meta
