// Compaction helper: merges source objects into new objects that keep only live data.
//
// Given source objects (keys and layouts) and, per stream, the live offset range [start, end),
// builds the merged object(s) with ObjectBuilder: streams sorted by id, offsets ascending, every
// batch that overlaps its stream's live range kept byte-for-byte (a batch straddling `start` is
// kept whole: batches are indivisible), everything else dropped (trimmed or deleted streams).
// A stream whose live blocks (by the sources' indexes) exceed split_threshold bytes gets a stream
// object of its own.
//
// The merge streams: one stream at a time (ids ascending), a cursor per source holds one range
// GET of that stream's adjacent live blocks (at most fetch_bytes, or one block if bigger) and
// batches are merged across the cursors in offset order. Two ways to emit the result:
//   compact()           builds the objects in memory (they reference the fetched bytes); the
//                       caller uploads them. For tests and small inputs.
//   compact_to_store()  writes each object to the store while it is built, as a multipart
//                       upload of part_size parts (a single PUT when it stays below one part), so
//                       memory stays at about sources x fetch_bytes + 2 x part_size whatever the
//                       objects' sizes. The stream store's compactor uses it.
//
// Threading: plain blocking functions; run them on the compactor executor.
#pragma once

#include <functional>
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
  uint64_t fetch_bytes = 4 << 20;              // the most one range GET of a source fetches
  uint64_t part_size = 8 << 20;                // compact_to_store: multipart parts (S3: >= 5 MiB)
};

struct CompactedObject {
  std::optional<StreamId> stream;  // set for a stream object; nullopt for the stream-set object
  // compact(): the whole object. compact_to_store(): parts empty (already written), size and
  // index set.
  ObjectBuilder::Built built;
  std::string key;  // compact_to_store(): where it was written
};

struct CompactResult {
  // Stream objects in stream-id order, then the stream-set object (if any stream stays in it).
  std::vector<CompactedObject> objects;
  uint64_t bytes_read = 0;  // block bytes fetched from the sources
  uint64_t batches_kept = 0;
  uint64_t batches_dropped = 0;
  // compact_to_store(): the most bytes held at once (fetched source bytes + bytes waiting to be
  // written as a part), the measure of its memory bound.
  uint64_t peak_buffered_bytes = 0;
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

// Names the output objects once their number is known, before anything is written (the stream
// store allocates object ids here). An error aborts the compaction.
using CompactKeys = std::function<Result<std::vector<std::string>>(size_t outputs)>;

// compact(), writing each output object to `store` under the keys given by `keys` (in output
// order) as it is built. On an error the unfinished multipart upload is aborted; objects already
// complete stay (the caller deletes the keys it was given).
Result<CompactResult> compact_to_store(objstore::ObjectStore& store,
                                       const std::vector<SourceObject>& sources,
                                       const std::map<StreamId, LiveRange>& live,
                                       const CompactOptions& opts, const CompactKeys& keys);

}  // namespace shale::objfmt
