// Building and parsing Shale objects (stream-set objects and stream objects). The byte layout is
// in format.h and docs/formats.md ("Objects").
//
// ObjectBuilder packs record batches into per-stream data blocks, then appends the index and the
// footer. read_layout() learns an object's layout with one tail range-GET (two if the index is
// larger than kTailReadSize). decode_block() turns one fetched data block back into batches,
// verifying every record's crc32c. Every malformed input is Errc::kCorruption with a message
// naming the byte position.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "base/buf.h"
#include "base/ids.h"
#include "base/result.h"
#include "objfmt/format.h"
#include "objstore/object_store.h"

namespace shale::objfmt {

// One data block, as listed in the object's index.
struct BlockIndexEntry {
  StreamId stream{0};
  Offset start{0};  // base offset of the first batch
  Offset end{0};    // exclusive: last batch's base + count
  uint32_t batch_count = 0;
  uint64_t position = 0;  // byte position of the block in the object
  uint32_t size = 0;      // block size in bytes
  int64_t max_timestamp = -1;
  bool operator==(const BlockIndexEntry&) const = default;
};

// Builds one object in memory.
// Ownership: holds references (Buf) to the added batches; no batch bytes are copied.
// Threading: not thread-safe; one builder per object being built.
class ObjectBuilder {
 public:
  explicit ObjectBuilder(size_t target_block_size = kDefaultTargetBlockSize);

  // Adds one record batch covering offsets [base, base + count). Batches must arrive grouped by
  // stream (a stream, once left, may not come back) with ascending, non-overlapping offsets
  // within a stream. A gap in a stream's offsets starts a new block (blocks are contiguous
  // inside). Errc::kInvalidArgument on a violation; the builder is unchanged then.
  Status add(StreamId stream, Offset base, int32_t count, int64_t max_timestamp, const Buf& batch);

  // Finishes the object: the bytes as parts (record headers, batch slices, index, footer; their
  // concatenation is the object) and the index. The builder is empty afterwards.
  struct Built {
    std::vector<Buf> parts;
    uint64_t size = 0;
    std::vector<BlockIndexEntry> index;
  };
  Built finish();
  // Moves out the bytes of the records added so far (headers and batch slices, in object order)
  // so a streaming writer can upload them before finish(); finish() then returns only the rest
  // (its `size` is still the whole object's). Positions in the index are unaffected.
  std::vector<Buf> take_parts();

  // Bytes added so far, including record headers (not index and footer).
  size_t bytes() const { return data_bytes_; }
  bool empty() const { return blocks_.empty() && cur_.batch_count == 0; }

 private:
  void close_block();
  Buf header_slot();

  size_t target_;
  std::vector<Buf> parts_;
  std::vector<BlockIndexEntry> blocks_;
  BlockIndexEntry cur_;                            // the open block; batch_count == 0 when none
  std::unordered_set<StreamId> finished_streams_;  // streams left behind (may not come back)
  uint64_t data_bytes_ = 0;
  Buf header_arena_;
  size_t header_arena_used_ = 0;
};

struct ObjectLayout {
  uint64_t object_size = 0;
  std::vector<BlockIndexEntry> index;  // in block order (position ascending)
};

// Reads and validates the footer and index of `key`. With object_size_hint != 0 the tail GET is
// an absolute range and a size mismatch is corruption; with 0 it is a suffix range.
// Errc::kNotFound if the object does not exist, kCorruption for any malformed layout.
Result<ObjectLayout> read_layout(objstore::ObjectStore& store, const std::string& key,
                                 uint64_t object_size_hint = 0);

// Parses a layout from the last tail.size() bytes of an object of object_size bytes. If the index
// starts before the tail, returns Errc::kOutOfRange with `need_from` set to the index position
// (read_layout then fetches the missing front).
Result<ObjectLayout> parse_layout(const Buf& tail, uint64_t object_size,
                                  uint64_t* need_from = nullptr);

// One batch decoded from a data block; `batch` is a slice of the block (no copy).
struct DecodedBatch {
  Offset base{0};
  int32_t count = 0;
  int64_t max_timestamp = -1;
  Buf batch;
  Offset end() const { return base + count; }
};

// Decodes one data block (exactly e.size bytes fetched from e.position) into its batches;
// verifies every record crc and that the records match the index entry.
Result<std::vector<DecodedBatch>> decode_block(const Buf& block, const BlockIndexEntry& e);

}  // namespace shale::objfmt
