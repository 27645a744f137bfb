// Compaction helper: merges source objects into new objects that keep only live data.
//
// Given source objects (keys and layouts) and, per stream, the live offset range [start, end),
// builds the merged object(s) with ObjectBuilder: streams sorted by id, offsets ascending, every
// batch that overlaps its stream's live range kept byte-for-byte (a batch straddling `start` is
// kept whole: batches are indivisible), everything else dropped (trimmed or deleted streams).
// A stream whose kept bytes exceed split_threshold gets a stream object of its own. The caller
// (the stream store's compactor) uploads the results and commits the new object index.
//
// Threading: a plain blocking function; run it on the compactor executor. It reads the needed
// blocks with range GETs (adjacent live blocks coalesced) and holds them in memory until it
// returns; the built objects reference those bytes (no copy).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "objfmt/object.h"
#include "objstore/object_store.h"

namespace shale::objfmt {

struct SourceObject {
  std::string key;
  ObjectLayout layout;
};

struct LiveRange {
  Offset start{0};
  Offset end{0};  // exclusive
};

struct CompactOptions {
  size_t target_block_size = kDefaultTargetBlockSize;
  uint64_t split_threshold = 8 * 1024 * 1024;  // live bytes above which a stream is split out
};

struct CompactedObject {
  std::optional<StreamId> stream;  // set for a stream object; nullopt for the stream-set object
  ObjectBuilder::Built built;
};

struct CompactResult {
  // Stream objects in stream-id order, then the stream-set object (if any stream stays in it).
  std::vector<CompactedObject> objects;
  uint64_t bytes_read = 0;  // block bytes fetched from the sources
  uint64_t batches_kept = 0;
  uint64_t batches_dropped = 0;
};

// kCorruption if a source block fails to decode; store errors as returned by the store. When
// sources overlap (the same batches uploaded twice), batches are taken in base-offset order
// (ties: source order) and a batch overlapping one already kept is dropped. Sources are expected
// to repeat whole batches; a batch that only partly overlaps a kept one is dropped too, which
// would leave its other offsets out (it cannot be split), so the caller must not mix differently
// batched copies of one range.
Result<CompactResult> compact(objstore::ObjectStore& store,
                              const std::vector<SourceObject>& sources,
                              const std::map<StreamId, LiveRange>& live,
                              const CompactOptions& opts = {});

}  // namespace shale::objfmt
