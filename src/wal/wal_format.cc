#include "wal/wal_format.h"

#include <fmt/format.h>

#include <cstring>

#include "base/crc32c.h"
#include "base/endian.h"

namespace shale::wal::format {

void encode_checkpoint(const Checkpoint& c, uint8_t out[kCheckpointSize]) {
  std::memset(out, 0, kCheckpointSize);
  store_le<uint32_t>(out + 4, kCheckpointMagic);
  store_le<uint32_t>(out + 8, kFormatVersion);
  store_le<uint32_t>(out + 12, c.slot_count);
  store_le<uint64_t>(out + 16, c.segment_size);
  store_le<uint64_t>(out + 24, c.trim_pos);
  store_le<uint64_t>(out + 32, c.generation);
  store_le<uint32_t>(out, crc32c(out + 4, kCheckpointSize - 4));
}

Result<Checkpoint> decode_checkpoint(const uint8_t* p, size_t n) {
  if (n != kCheckpointSize) {
    return Error{Errc::kCorruption,
                 fmt::format("wal checkpoint has {} bytes, want {}", n, kCheckpointSize)};
  }
  if (load_le<uint32_t>(p) != crc32c(p + 4, kCheckpointSize - 4)) {
    return Error{Errc::kCorruption, "wal checkpoint checksum mismatch"};
  }
  if (load_le<uint32_t>(p + 4) != kCheckpointMagic) {
    return Error{Errc::kCorruption, "wal checkpoint has wrong magic"};
  }
  uint32_t version = load_le<uint32_t>(p + 8);
  if (version != kFormatVersion) {
    return Error{Errc::kCorruption, fmt::format("wal checkpoint version {} unsupported", version)};
  }
  Checkpoint c;
  c.slot_count = load_le<uint32_t>(p + 12);
  c.segment_size = load_le<uint64_t>(p + 16);
  c.trim_pos = load_le<uint64_t>(p + 24);
  c.generation = load_le<uint64_t>(p + 32);
  return c;
}

void encode_segment_header(const SegmentHeader& h, uint8_t out[kSegmentHeaderSize]) {
  std::memset(out, 0, kSegmentHeaderSize);
  store_le<uint32_t>(out + 4, kSegmentMagic);
  store_le<uint32_t>(out + 8, kFormatVersion);
  store_le<uint32_t>(out + 12, static_cast<uint32_t>(kSegmentHeaderSize));
  store_le<uint64_t>(out + 16, h.seq);
  store_le<uint64_t>(out + 24, h.start_pos);
  store_le<uint64_t>(out + 32, h.segment_size);
  store_le<uint32_t>(out + 40, h.generation);
  store_le<uint32_t>(out + 44, h.slot_count);
  store_le<uint32_t>(out, crc32c(out + 4, kSegmentHeaderUsed - 4));
}

Result<SegmentHeader> decode_segment_header(const uint8_t* p, size_t n) {
  if (n < kSegmentHeaderUsed) return Error{Errc::kNotFound, "segment file too short"};
  if (load_le<uint32_t>(p) != crc32c(p + 4, kSegmentHeaderUsed - 4)) {
    return Error{Errc::kNotFound, "segment header checksum mismatch"};
  }
  if (load_le<uint32_t>(p + 4) != kSegmentMagic) {
    return Error{Errc::kNotFound, "segment header has wrong magic"};
  }
  uint32_t version = load_le<uint32_t>(p + 8);
  if (version != kFormatVersion) {
    return Error{Errc::kCorruption, fmt::format("segment format version {} unsupported", version)};
  }
  if (load_le<uint32_t>(p + 12) != kSegmentHeaderSize) {
    return Error{Errc::kCorruption, "segment header size unsupported"};
  }
  SegmentHeader h;
  h.seq = load_le<uint64_t>(p + 16);
  h.start_pos = load_le<uint64_t>(p + 24);
  h.segment_size = load_le<uint64_t>(p + 32);
  h.generation = load_le<uint32_t>(p + 40);
  h.slot_count = load_le<uint32_t>(p + 44);
  return h;
}

uint32_t encode_record(const RecordHeader& h, const uint8_t* payload,
                       uint8_t out[kRecordHeaderSize]) {
  store_le<uint32_t>(out + 4, kRecordMagic);
  out[8] = h.type;
  out[9] = 0;
  store_le<uint16_t>(out + 10, 0);
  store_le<uint32_t>(out + 12, h.payload_len);
  store_le<uint64_t>(out + 16, h.pos);
  store_le<uint64_t>(out + 24, h.synced_before);
  store_le<uint32_t>(out + 32, h.generation);
  store_le<int32_t>(out + 36, h.count);
  store_le<uint64_t>(out + 40, h.stream);
  store_le<int64_t>(out + 48, h.epoch);
  store_le<int64_t>(out + 56, h.base);
  uint32_t crc = crc32c(out + 4, kRecordHeaderSize - 4);
  if (h.payload_len > 0) crc = crc32c_extend(crc, payload, h.payload_len);
  store_le<uint32_t>(out, crc);
  return crc;
}

const char* record_check_name(RecordCheck c) {
  switch (c) {
    case RecordCheck::kOk:
      return "ok";
    case RecordCheck::kTooShort:
      return "too short";
    case RecordCheck::kBadMagic:
      return "bad magic";
    case RecordCheck::kBadType:
      return "bad type";
    case RecordCheck::kBadLength:
      return "bad length";
    case RecordCheck::kBadChecksum:
      return "bad checksum";
    case RecordCheck::kWrongPos:
      return "wrong position (stale record)";
  }
  return "?";
}

RecordCheck check_record(const uint8_t* p, size_t avail, uint64_t expected_pos, RecordHeader* h) {
  if (avail < kRecordHeaderSize) return RecordCheck::kTooShort;
  if (load_le<uint32_t>(p + 4) != kRecordMagic) return RecordCheck::kBadMagic;
  uint8_t type = p[8];
  if (type != kTypeData && type != kTypeSegmentEnd) return RecordCheck::kBadType;
  uint32_t len = load_le<uint32_t>(p + 12);
  if (record_span(len) > avail || (type == kTypeSegmentEnd && len != 0)) {
    return RecordCheck::kBadLength;
  }
  uint32_t crc = crc32c(p + 4, kRecordHeaderSize - 4);
  if (len > 0) crc = crc32c_extend(crc, p + kRecordHeaderSize, len);
  if (crc != load_le<uint32_t>(p)) return RecordCheck::kBadChecksum;
  uint64_t pos = load_le<uint64_t>(p + 16);
  if (pos != expected_pos) return RecordCheck::kWrongPos;
  h->type = type;
  h->payload_len = len;
  h->pos = pos;
  h->synced_before = load_le<uint64_t>(p + 24);
  h->generation = load_le<uint32_t>(p + 32);
  h->count = load_le<int32_t>(p + 36);
  h->stream = load_le<uint64_t>(p + 40);
  h->epoch = load_le<int64_t>(p + 48);
  h->base = load_le<int64_t>(p + 56);
  return RecordCheck::kOk;
}

}  // namespace shale::wal::format
