// On-disk format of the file WAL (FileWal). Every integer is little-endian. See README.md for the
// rationale; this header is the single source of truth for offsets and sizes.
//
// Directory layout:  DIR/CHECKPOINT            the trim point and format parameters (48 bytes)
//                    DIR/seg-000000.wal ...    `slot_count` preallocated segment files (slots)
// Segment `seq` always lives in slot seq % slot_count and covers the logical WAL positions
// [seq * capacity, (seq + 1) * capacity) where capacity = segment_size - kSegmentHeaderSize.
// Logical position p of segment seq is at file offset kSegmentHeaderSize + (p - seq * capacity).
//
// Pure functions, no I/O; thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "base/result.h"

namespace shale::wal::format {

// ---- Checkpoint file (written with temp + fdatasync + rename + fsync(dir)) -------------------
//   0 u32 crc32c of bytes [4, 48)
//   4 u32 magic kCheckpointMagic ("SWCK")
//   8 u32 version kFormatVersion
//  12 u32 slot_count          number of segment files (ring size)
//  16 u64 segment_size        bytes per segment file, header included
//  24 u64 trim_pos            records at logical positions < trim_pos are released
//  32 u64 generation          highest writer generation ever used (see record header)
//  40 u64 reserved (0)
inline constexpr uint32_t kCheckpointMagic = 0x4B435753;  // "SWCK"
inline constexpr size_t kCheckpointSize = 48;
inline constexpr uint32_t kFormatVersion = 1;

// ---- Segment header: the first kSegmentHeaderSize bytes of each segment file ----------------
//   0 u32 crc32c of bytes [4, 48)
//   4 u32 magic kSegmentMagic ("SWSG")
//   8 u32 version kFormatVersion
//  12 u32 header_size kSegmentHeaderSize
//  16 u64 seq                 segment sequence number (0, 1, 2, ... forever)
//  24 u64 start_pos           logical WAL position of the first data byte (= seq * capacity)
//  32 u64 segment_size
//  40 u32 generation          writer generation that started this segment
//  44 u32 slot_count
// The rest of the 4 KiB is zero, so record data starts page-aligned.
inline constexpr uint32_t kSegmentMagic = 0x47535753;  // "SWSG"
inline constexpr size_t kSegmentHeaderUsed = 48;
inline constexpr size_t kSegmentHeaderSize = 4096;
static_assert(kSegmentHeaderUsed <= kSegmentHeaderSize);

// ---- Record: header + payload, padded with zeros to a multiple of kRecordAlign --------------
//   0 u32 crc32c of header bytes [4, 64) followed by the payload
//   4 u32 magic kRecordMagic ("SWR1")
//   8 u8  type (kTypeData / kTypeSegmentEnd), u8 flags (0), u16 reserved (0)
//  12 u32 payload_len
//  16 u64 pos                 the record's own logical WAL position
//  24 u64 synced_before       every byte of the log before this position was durable (fdatasync
//                             returned) when this record was written. Format version 1 wrote
//                             one commit at a time and stored its commit's first position here,
//                             which satisfies the same rule, so old segments recover unchanged.
//  32 u32 generation          writer generation; non-decreasing along a valid log
//  36 i32 count               WalRecord::count
//  40 u64 stream              WalRecord::stream
//  48 i64 epoch               WalRecord::epoch
//  56 i64 base                WalRecord::base
// `pos` makes stale bytes of a recycled segment (written at another logical position) fail
// validation; `generation` does the same for stale bytes at the same position left by an
// earlier writer incarnation after a torn tail or a failed commit; `synced_before` lets recovery
// prove a bad record was durable once (a valid record after it with synced_before beyond it), so
// it is corruption and not a torn tail (see README.md). The pipelined writer (a commit written
// while the previous one is in fdatasync) stores the durable end at the time of its write.
inline constexpr uint32_t kRecordMagic = 0x31525753;  // "SWR1"
inline constexpr size_t kRecordHeaderSize = 64;
inline constexpr size_t kRecordAlign = 8;
inline constexpr uint8_t kTypeData = 1;
inline constexpr uint8_t kTypeSegmentEnd = 2;  // header only: the rest of the segment is unused
static_assert(kRecordHeaderSize % kRecordAlign == 0);
static_assert(kSegmentHeaderSize % kRecordAlign == 0);

constexpr uint64_t align_up(uint64_t n, uint64_t a) {
  return (n + a - 1) / a * a;
}
// Bytes a record with this payload occupies in a segment.
constexpr uint64_t record_span(uint64_t payload_len) {
  return align_up(kRecordHeaderSize + payload_len, kRecordAlign);
}
static_assert(record_span(0) == 64 && record_span(1) == 72 && record_span(8) == 72);

struct Checkpoint {
  uint32_t slot_count = 0;
  uint64_t segment_size = 0;
  uint64_t trim_pos = 0;
  uint64_t generation = 0;
};

struct SegmentHeader {
  uint64_t seq = 0;
  uint64_t start_pos = 0;
  uint64_t segment_size = 0;
  uint32_t generation = 0;
  uint32_t slot_count = 0;
};

struct RecordHeader {
  uint8_t type = kTypeData;
  uint32_t payload_len = 0;
  uint64_t pos = 0;
  uint64_t synced_before = 0;
  uint32_t generation = 0;
  int32_t count = 0;
  uint64_t stream = 0;
  int64_t epoch = 0;
  int64_t base = 0;
};

void encode_checkpoint(const Checkpoint& c, uint8_t out[kCheckpointSize]);
// kCorruption on bad size, crc, magic or version.
Result<Checkpoint> decode_checkpoint(const uint8_t* p, size_t n);

// Writes the whole kSegmentHeaderSize bytes (used fields + zeros).
void encode_segment_header(const SegmentHeader& h, uint8_t out[kSegmentHeaderSize]);
// kNotFound when the bytes are not a segment header (bad crc or magic: zeros, torn or foreign
// bytes); kCorruption when the crc is right but the version or header size is unknown.
Result<SegmentHeader> decode_segment_header(const uint8_t* p, size_t n);

// Writes the record header; `payload` must be the bytes that follow it. Returns the crc stored.
uint32_t encode_record(const RecordHeader& h, const uint8_t* payload,
                       uint8_t out[kRecordHeaderSize]);

// Why a record at some position is not valid.
enum class RecordCheck {
  kOk,
  kTooShort,  // fewer than kRecordHeaderSize bytes remain in the segment
  kBadMagic,  // zeros, garbage, or a torn header
  kBadType,
  kBadLength,  // payload_len runs past the end of the segment
  kBadChecksum,
  kWrongPos,  // valid record written at another logical position (recycled segment)
};
const char* record_check_name(RecordCheck c);

// Validates the record that starts at p (avail bytes until the end of the segment), which must
// sit at logical position expected_pos. Fills *h when kOk.
RecordCheck check_record(const uint8_t* p, size_t avail, uint64_t expected_pos, RecordHeader* h);

}  // namespace shale::wal::format
