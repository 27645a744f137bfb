#include "objfmt/object.h"

#include <algorithm>
#include <cstring>

#include "base/crc32c.h"
#include "base/endian.h"

namespace shale::objfmt {
namespace {

constexpr size_t kHeaderArenaSize = 1024 * kRecordHeaderSize;

Error corrupt(std::string msg) {
  return Error{Errc::kCorruption, std::move(msg)};
}

void encode_entry(uint8_t* p, const BlockIndexEntry& e) {
  store_le<uint64_t>(p + kIdxStreamOff, e.stream.value());
  store_le<int64_t>(p + kIdxStartOff, e.start.value());
  store_le<int64_t>(p + kIdxEndOff, e.end.value());
  store_le<uint64_t>(p + kIdxPositionOff, e.position);
  store_le<uint32_t>(p + kIdxSizeOff, e.size);
  store_le<uint32_t>(p + kIdxBatchCountOff, e.batch_count);
  store_le<int64_t>(p + kIdxMaxTsOff, e.max_timestamp);
}

BlockIndexEntry decode_entry(const uint8_t* p) {
  BlockIndexEntry e;
  e.stream = StreamId(load_le<uint64_t>(p + kIdxStreamOff));
  e.start = Offset(load_le<int64_t>(p + kIdxStartOff));
  e.end = Offset(load_le<int64_t>(p + kIdxEndOff));
  e.position = load_le<uint64_t>(p + kIdxPositionOff);
  e.size = load_le<uint32_t>(p + kIdxSizeOff);
  e.batch_count = load_le<uint32_t>(p + kIdxBatchCountOff);
  e.max_timestamp = load_le<int64_t>(p + kIdxMaxTsOff);
  return e;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// ObjectBuilder

ObjectBuilder::ObjectBuilder(size_t target_block_size)
    : target_(std::max<size_t>(target_block_size, kRecordHeaderSize + 1)) {}

Buf ObjectBuilder::header_slot() {
  if (header_arena_.empty() || header_arena_used_ + kRecordHeaderSize > header_arena_.size()) {
    header_arena_ = Buf::zeros(kHeaderArenaSize);
    header_arena_used_ = 0;
  }
  Buf slot = header_arena_.slice(header_arena_used_, kRecordHeaderSize);
  header_arena_used_ += kRecordHeaderSize;
  return slot;
}

Status ObjectBuilder::add(StreamId stream, Offset base, int32_t count, int64_t max_timestamp,
                          const Buf& batch) {
  if (count <= 0) return Status(Errc::kInvalidArgument, fmt::format("batch count {}", count));
  if (batch.empty() || batch.size() > kMaxBlockSize - kRecordHeaderSize) {
    return Status(Errc::kInvalidArgument, fmt::format("batch size {}", batch.size()));
  }
  if (base.value() < 0 || base.value() > INT64_MAX - count) {
    return Status(Errc::kInvalidArgument, fmt::format("base offset {}", base));
  }
  const bool open = cur_.batch_count > 0;
  const bool same_stream = open && cur_.stream == stream;
  if (same_stream) {
    if (base < cur_.end) {
      return Status(Errc::kInvalidArgument,
                    fmt::format("stream {}: batch at {} overlaps or precedes offset {}", stream,
                                base, cur_.end));
    }
  } else if (finished_streams_.count(stream)) {
    return Status(Errc::kInvalidArgument,
                  fmt::format("stream {} was already finished in this object", stream));
  }
  const size_t rec_size = kRecordHeaderSize + batch.size();
  if (open && (!same_stream || base != cur_.end || cur_.size + rec_size > target_)) {
    if (!same_stream) finished_streams_.insert(cur_.stream);
    close_block();
  }
  if (cur_.batch_count == 0) {
    cur_.stream = stream;
    cur_.start = base;
    cur_.position = data_bytes_;
    cur_.size = 0;
    cur_.max_timestamp = -1;
  }
  Buf hdr = header_slot();
  uint8_t* h = hdr.mutable_data();
  store_le<uint32_t>(h + kRecLengthOff, static_cast<uint32_t>(batch.size()));
  store_le<int32_t>(h + kRecCountOff, count);
  store_le<uint32_t>(h + kRecReservedOff, 0);
  store_le<int64_t>(h + kRecBaseOff, base.value());
  store_le<int64_t>(h + kRecMaxTsOff, max_timestamp);
  uint32_t crc = crc32c(h + 4, kRecordHeaderSize - 4);
  crc = crc32c_extend(crc, batch.data(), batch.size());
  store_le<uint32_t>(h + kRecCrcOff, crc);
  parts_.push_back(std::move(hdr));
  parts_.push_back(batch);
  cur_.end = base + count;
  cur_.batch_count++;
  cur_.size += static_cast<uint32_t>(rec_size);
  cur_.max_timestamp = std::max(cur_.max_timestamp, max_timestamp);
  data_bytes_ += rec_size;
  return Status();
}

void ObjectBuilder::close_block() {
  if (cur_.batch_count == 0) return;
  blocks_.push_back(cur_);
  cur_ = BlockIndexEntry{};
}

std::vector<Buf> ObjectBuilder::take_parts() {
  std::vector<Buf> out = std::move(parts_);
  parts_.clear();
  return out;
}

ObjectBuilder::Built ObjectBuilder::finish() {
  close_block();
  Built out;
  out.parts = std::move(parts_);
  out.index = std::move(blocks_);
  const uint64_t index_pos = data_bytes_;
  const uint64_t index_len = out.index.size() * kIndexEntrySize;
  std::vector<uint8_t> tail(index_len + kFooterSize);
  for (size_t i = 0; i < out.index.size(); i++) {
    encode_entry(tail.data() + i * kIndexEntrySize, out.index[i]);
  }
  uint8_t* f = tail.data() + index_len;
  store_le<uint64_t>(f + kFtIndexPosOff, index_pos);
  store_le<uint64_t>(f + kFtIndexLenOff, index_len);
  store_le<uint32_t>(f + kFtBlockCountOff, static_cast<uint32_t>(out.index.size()));
  store_le<uint32_t>(f + kFtIndexCrcOff, crc32c(tail.data(), index_len));
  store_le<uint16_t>(f + kFtVersionOff, kFormatVersion);
  store_le<uint16_t>(f + kFtFlagsOff, 0);
  store_le<uint32_t>(f + kFtFooterCrcOff, crc32c(f, kFtFooterCrcOff));
  store_le<uint64_t>(f + kFtMagicOff, kFooterMagic);
  out.parts.push_back(Buf::take(std::move(tail)));
  out.size = index_pos + index_len + kFooterSize;

  parts_.clear();
  blocks_.clear();
  finished_streams_.clear();
  data_bytes_ = 0;
  header_arena_ = Buf();
  header_arena_used_ = 0;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Layout

Result<ObjectLayout> parse_layout(const Buf& tail, uint64_t object_size, uint64_t* need_from) {
  if (object_size < kFooterSize) {
    return corrupt(fmt::format("object of {} bytes is shorter than the {}-byte footer", object_size,
                               kFooterSize));
  }
  if (tail.size() < kFooterSize || tail.size() > object_size) {
    return Error{Errc::kInvalidArgument,
                 fmt::format("tail of {} bytes for an object of {}", tail.size(), object_size)};
  }
  const uint64_t tail_start = object_size - tail.size();  // object position of tail[0]
  const uint64_t footer_pos = object_size - kFooterSize;
  const uint8_t* f = tail.data() + (tail.size() - kFooterSize);
  const uint64_t magic = load_le<uint64_t>(f + kFtMagicOff);
  if (magic != kFooterMagic) {
    return corrupt(
        fmt::format("bad footer magic {:#018x} at byte {}", magic, footer_pos + kFtMagicOff));
  }
  const uint32_t footer_crc = load_le<uint32_t>(f + kFtFooterCrcOff);
  if (crc32c(f, kFtFooterCrcOff) != footer_crc) {
    return corrupt(fmt::format("footer crc mismatch at byte {}", footer_pos + kFtFooterCrcOff));
  }
  const uint16_t version = load_le<uint16_t>(f + kFtVersionOff);
  if (version != kFormatVersion) {
    return corrupt(fmt::format("unsupported format version {} at byte {} (supported: {})", version,
                               footer_pos + kFtVersionOff, kFormatVersion));
  }
  const uint16_t flags = load_le<uint16_t>(f + kFtFlagsOff);
  if (flags != 0) {
    return corrupt(
        fmt::format("unknown footer flags {:#x} at byte {}", flags, footer_pos + kFtFlagsOff));
  }
  const uint64_t index_pos = load_le<uint64_t>(f + kFtIndexPosOff);
  const uint64_t index_len = load_le<uint64_t>(f + kFtIndexLenOff);
  const uint32_t block_count = load_le<uint32_t>(f + kFtBlockCountOff);
  if (index_pos > footer_pos || index_len > footer_pos - index_pos ||
      index_pos + index_len != footer_pos) {
    return corrupt(
        fmt::format("index [{}, +{}) does not end at the footer (byte {}) of a {}-byte object",
                    index_pos, index_len, footer_pos, object_size));
  }
  if (index_len != uint64_t{block_count} * kIndexEntrySize) {
    return corrupt(fmt::format("index length {} at byte {} is not {} entries of {} bytes",
                               index_len, footer_pos + kFtIndexLenOff, block_count,
                               kIndexEntrySize));
  }
  if (index_pos < tail_start) {
    if (need_from) *need_from = index_pos;
    return Error{Errc::kOutOfRange, fmt::format("index starts at byte {}, before the tail at {}",
                                                index_pos, tail_start)};
  }
  const uint8_t* idx = tail.data() + (index_pos - tail_start);
  if (crc32c(idx, index_len) != load_le<uint32_t>(f + kFtIndexCrcOff)) {
    return corrupt(
        fmt::format("index crc mismatch: index at byte {} length {}", index_pos, index_len));
  }
  ObjectLayout out;
  out.object_size = object_size;
  out.index.reserve(block_count);
  uint64_t expect_pos = 0;
  for (uint32_t i = 0; i < block_count; i++) {
    BlockIndexEntry e = decode_entry(idx + i * kIndexEntrySize);
    const uint64_t at = index_pos + uint64_t{i} * kIndexEntrySize;
    if (e.position != expect_pos) {
      return corrupt(fmt::format("index entry {} at byte {}: block position {}, expected {}", i, at,
                                 e.position, expect_pos));
    }
    if (e.size < kRecordHeaderSize || e.size > index_pos - e.position) {
      return corrupt(
          fmt::format("index entry {} at byte {}: block size {} at position {} "
                      "outside the data region [0, {})",
                      i, at, e.size, e.position, index_pos));
    }
    if (e.start.value() < 0 || e.end <= e.start || e.batch_count == 0 ||
        uint64_t(e.end - e.start) < e.batch_count ||
        uint64_t{e.batch_count} * (kRecordHeaderSize + 1) > e.size) {
      return corrupt(fmt::format("index entry {} at byte {}: bad range [{}, {}) with {} batches", i,
                                 at, e.start, e.end, e.batch_count));
    }
    if (!out.index.empty()) {
      const BlockIndexEntry& p = out.index.back();
      if (p.stream == e.stream && e.start < p.end) {
        return corrupt(fmt::format("index entry {} at byte {}: stream {} offset {} precedes {}", i,
                                   at, e.stream, e.start, p.end));
      }
    }
    expect_pos = e.position + e.size;
    out.index.push_back(e);
  }
  if (expect_pos != index_pos) {
    return corrupt(fmt::format("blocks end at byte {} but the index starts at byte {}", expect_pos,
                               index_pos));
  }
  return out;
}

Result<ObjectLayout> read_layout(objstore::ObjectStore& store, const std::string& key,
                                 uint64_t object_size_hint) {
  objstore::ByteRange range;
  if (object_size_hint != 0) {
    const uint64_t n = std::min<uint64_t>(kTailReadSize, object_size_hint);
    range = objstore::ByteRange::at(object_size_hint - n, n);
  } else {
    range = objstore::ByteRange::last(kTailReadSize);
  }
  auto got = store.get(key, range);
  if (!got.ok()) {
    if (got.code() == Errc::kOutOfRange && object_size_hint != 0) {
      return corrupt(
          fmt::format("object {} is shorter than its expected {} bytes", key, object_size_hint));
    }
    return got.error();
  }
  const uint64_t size = got->object_size;
  if (object_size_hint != 0 && size != object_size_hint) {
    return corrupt(fmt::format("object {} is {} bytes, expected {}", key, size, object_size_hint));
  }
  Buf tail = got->data;
  if (tail.size() != std::min<uint64_t>(kTailReadSize, size)) {
    return corrupt(fmt::format("object {}: tail read returned {} bytes of a {}-byte object", key,
                               tail.size(), size));
  }
  uint64_t need_from = 0;
  auto layout = parse_layout(tail, size, &need_from);
  if (layout.ok() || layout.code() != Errc::kOutOfRange) {
    if (!layout.ok()) return corrupt(fmt::format("object {}: {}", key, layout.error().message));
    return layout;
  }
  // The index is larger than the tail: fetch the front of it and parse again.
  const uint64_t tail_start = size - tail.size();
  auto front = store.get(key, objstore::ByteRange::at(need_from, tail_start - need_from));
  if (!front.ok()) return front.error();
  if (front->data.size() != tail_start - need_from) {
    return corrupt(fmt::format("object {}: index read returned {} bytes, expected {}", key,
                               front->data.size(), tail_start - need_from));
  }
  std::vector<uint8_t> joined(front->data.size() + tail.size());
  std::memcpy(joined.data(), front->data.data(), front->data.size());
  std::memcpy(joined.data() + front->data.size(), tail.data(), tail.size());
  auto full = parse_layout(Buf::take(std::move(joined)), size);
  if (!full.ok()) return corrupt(fmt::format("object {}: {}", key, full.error().message));
  return full;
}

// ---------------------------------------------------------------------------------------------
// Blocks

Result<std::vector<DecodedBatch>> decode_block(const Buf& block, const BlockIndexEntry& e) {
  if (block.size() != e.size) {
    return corrupt(fmt::format("block at byte {}: got {} bytes, index says {}", e.position,
                               block.size(), e.size));
  }
  std::vector<DecodedBatch> out;
  out.reserve(e.batch_count);
  size_t pos = 0;
  Offset next = e.start;
  int64_t max_ts = -1;
  while (pos < block.size()) {
    const uint64_t at = e.position + pos;
    if (block.size() - pos < kRecordHeaderSize) {
      return corrupt(fmt::format("truncated record header at byte {}", at));
    }
    const uint8_t* h = block.data() + pos;
    const uint32_t len = load_le<uint32_t>(h + kRecLengthOff);
    if (len == 0 || len > block.size() - pos - kRecordHeaderSize) {
      return corrupt(fmt::format("record at byte {}: length {} exceeds its block", at, len));
    }
    uint32_t crc = crc32c(h + 4, kRecordHeaderSize - 4);
    crc = crc32c_extend(crc, h + kRecordHeaderSize, len);
    if (crc != load_le<uint32_t>(h + kRecCrcOff)) {
      return corrupt(fmt::format("record crc mismatch at byte {}", at));
    }
    DecodedBatch b;
    b.base = Offset(load_le<int64_t>(h + kRecBaseOff));
    b.count = load_le<int32_t>(h + kRecCountOff);
    b.max_timestamp = load_le<int64_t>(h + kRecMaxTsOff);
    if (load_le<uint32_t>(h + kRecReservedOff) != 0 || b.count <= 0 || b.base != next ||
        b.base.value() > INT64_MAX - b.count) {
      return corrupt(fmt::format("record at byte {}: base {} count {}, expected base {}", at,
                                 b.base, b.count, next));
    }
    b.batch = block.slice(pos + kRecordHeaderSize, len);
    next = b.end();
    max_ts = std::max(max_ts, b.max_timestamp);
    pos += kRecordHeaderSize + len;
    out.push_back(std::move(b));
  }
  if (next != e.end || out.size() != e.batch_count || max_ts != e.max_timestamp) {
    return corrupt(fmt::format(
        "block at byte {}: records cover [{}, {}) in {} batches (max ts {}), index says [{}, {}) "
        "in {} (max ts {})",
        e.position, e.start, next, out.size(), max_ts, e.start, e.end, e.batch_count,
        e.max_timestamp));
  }
  return out;
}

}  // namespace shale::objfmt
