// On-object layout of Shale's stream-set objects and stream objects (format version 1).
// docs/formats.md ("Objects") is the prose version of this file; keep them in step.
//
//   object  := block* index footer                      (all integers little-endian)
//   block   := record+                                  (one stream only; whole record batches)
//   record  := record_header(32) payload(length)
//   index   := index_entry(48) * block_count            (in block order: position ascending)
//   footer  := 40 bytes, the last bytes of the object
//
// A reader fetches the last kTailReadSize bytes with one ranged GET; that holds the footer and,
// unless the index is larger than the tail, the whole index.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shale::objfmt {

inline constexpr uint16_t kFormatVersion = 1;
// "SHALEOB1" read as a little-endian u64; the last 8 bytes of every object.
inline constexpr uint64_t kFooterMagic = 0x3142'4f45'4c41'4853ULL;
static_assert((kFooterMagic & 0xff) == 'S' && (kFooterMagic >> 56) == '1');

// Record header, 32 bytes, before every record batch inside a data block:
//   [0,4)   u32 crc32c of bytes [4,32) of this header followed by the payload
//   [4,8)   u32 payload length in bytes (> 0)
//   [8,12)  i32 record (offset) count of the batch (> 0)
//   [12,16) u32 reserved, must be 0
//   [16,24) i64 base offset of the batch
//   [24,32) i64 max timestamp of the batch (ms; -1 if unknown)
inline constexpr size_t kRecordHeaderSize = 32;
inline constexpr size_t kRecCrcOff = 0;
inline constexpr size_t kRecLengthOff = 4;
inline constexpr size_t kRecCountOff = 8;
inline constexpr size_t kRecReservedOff = 12;
inline constexpr size_t kRecBaseOff = 16;
inline constexpr size_t kRecMaxTsOff = 24;
static_assert(kRecMaxTsOff + 8 == kRecordHeaderSize);

// Index entry, 48 bytes, one per data block:
//   [0,8)   u64 stream id
//   [8,16)  i64 start offset (base offset of the block's first batch)
//   [16,24) i64 end offset, exclusive (last batch's base + count)
//   [24,32) u64 position of the block in the object
//   [32,36) u32 block size in bytes
//   [36,40) u32 batch (record) count in the block
//   [40,48) i64 max timestamp over the block's batches
inline constexpr size_t kIndexEntrySize = 48;
inline constexpr size_t kIdxStreamOff = 0;
inline constexpr size_t kIdxStartOff = 8;
inline constexpr size_t kIdxEndOff = 16;
inline constexpr size_t kIdxPositionOff = 24;
inline constexpr size_t kIdxSizeOff = 32;
inline constexpr size_t kIdxBatchCountOff = 36;
inline constexpr size_t kIdxMaxTsOff = 40;
static_assert(kIdxMaxTsOff + 8 == kIndexEntrySize);

// Footer, 40 bytes, the very end of the object:
//   [0,8)   u64 index position (== total size of the data blocks)
//   [8,16)  u64 index length in bytes (== block_count * kIndexEntrySize)
//   [16,20) u32 block count
//   [20,24) u32 crc32c of the index bytes
//   [24,26) u16 format version (kFormatVersion)
//   [26,28) u16 flags, must be 0 in version 1
//   [28,32) u32 crc32c of footer bytes [0,28)
//   [32,40) u64 magic (kFooterMagic)
inline constexpr size_t kFooterSize = 40;
inline constexpr size_t kFtIndexPosOff = 0;
inline constexpr size_t kFtIndexLenOff = 8;
inline constexpr size_t kFtBlockCountOff = 16;
inline constexpr size_t kFtIndexCrcOff = 20;
inline constexpr size_t kFtVersionOff = 24;
inline constexpr size_t kFtFlagsOff = 26;
inline constexpr size_t kFtFooterCrcOff = 28;
inline constexpr size_t kFtMagicOff = 32;
static_assert(kFtMagicOff + 8 == kFooterSize);

// Bytes a reader fetches from the end of an object to learn its layout in one GET. Holds the
// footer and an index of up to (64 KiB - 40) / 48 = 1364 blocks (~680 MiB of 512 KiB blocks).
inline constexpr size_t kTailReadSize = 64 * 1024;
static_assert((kTailReadSize - kFooterSize) / kIndexEntrySize == 1364);

inline constexpr size_t kDefaultTargetBlockSize = 512 * 1024;
// A block never exceeds this (a single batch larger than the target gets a block of its own).
inline constexpr size_t kMaxBlockSize = UINT32_MAX;

}  // namespace shale::objfmt
