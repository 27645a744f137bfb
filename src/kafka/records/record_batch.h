// Kafka record batch v2 (magic 2): header layout, parsing, validation without decompression,
// splitting a produce `records` field into batches (zero copy), and the in-place header patches
// the broker makes (base offset, LogAppendTime).
//
// Wire layout (big-endian), offsets in bytes from the start of the batch:
//
//    0 baseOffset int64          27 baseTimestamp int64
//    8 batchLength int32         35 maxTimestamp int64
//   12 partitionLeaderEpoch i32  43 producerId int64
//   16 magic int8                51 producerEpoch int16
//   17 crc uint32 (CRC-32C)      53 baseSequence int32
//   21 attributes int16          57 recordCount int32
//   23 lastOffsetDelta int32     61 records...
//
// batchLength counts the bytes after itself (total size = batchLength + 12). The CRC covers
// attributes through the end of the batch, so baseOffset, batchLength, partitionLeaderEpoch and
// magic may be patched without recomputing it. attributes: bits 0-2 compression (0 none, 1 gzip,
// 2 snappy, 3 lz4, 4 zstd), bit 3 timestamp type (1 = LogAppendTime), bit 4 transactional,
// bit 5 control, bit 6 has delete horizon.
//
// Error mapping (what Apache Kafka 3.x/4.x answers, and what we answer):
//   - fewer bytes than a v2 header, batchLength inconsistent with the bytes present, or a
//     CRC mismatch: CORRUPT_MESSAGE (Kafka: CorruptRecordException).
//   - magic 0/1 in Produce v3+: INVALID_RECORD (Kafka: ProduceRequest.validateRecords throws
//     InvalidRecordException "...only allowed to contain record batches with magic version 2").
//     UNSUPPORTED_FOR_MESSAGE_FORMAT is for features the topic's message format cannot hold,
//     which cannot happen here: every Shale topic stores v2 only. Magic > 2: CORRUPT_MESSAGE.
//   - baseOffset != 0 from a client, recordCount != lastOffsetDelta + 1, lastOffsetDelta < 0,
//     control batch from a client, producerId >= 0 with baseSequence < 0: INVALID_RECORD
//     (Kafka: LogValidator.validateBatch).
//   - compression id 5..7: Kafka throws IllegalArgumentException from CompressionType.forId,
//     which surfaces as UNKNOWN_SERVER_ERROR; we answer CORRUPT_MESSAGE (the batch is malformed,
//     and a retriable "unknown" error would make clients retry a batch that can never succeed).
//   - zstd in Produce < v7: UNSUPPORTED_COMPRESSION_TYPE (checked by the Produce handler).
//   - batch larger than max.message.bytes: MESSAGE_TOO_LARGE.
//
// Thread-safety: free functions, no state. The patch functions write through
// Buf::mutable_data(), so they are only for a Buf nobody else reads yet (a produce request's
// own bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/buf.h"
#include "base/result.h"

namespace shale::kafka::records {

inline constexpr size_t kBaseOffsetOffset = 0;
inline constexpr size_t kBatchLengthOffset = 8;
inline constexpr size_t kPartitionLeaderEpochOffset = 12;
inline constexpr size_t kMagicOffset = 16;
inline constexpr size_t kCrcOffset = 17;
inline constexpr size_t kAttributesOffset = 21;
inline constexpr size_t kLastOffsetDeltaOffset = 23;
inline constexpr size_t kBaseTimestampOffset = 27;
inline constexpr size_t kMaxTimestampOffset = 35;
inline constexpr size_t kProducerIdOffset = 43;
inline constexpr size_t kProducerEpochOffset = 51;
inline constexpr size_t kBaseSequenceOffset = 53;
inline constexpr size_t kRecordCountOffset = 57;
inline constexpr size_t kRecordsOffset = 61;
inline constexpr size_t kHeaderSize = kRecordsOffset;
// baseOffset + batchLength: the bytes not counted by batchLength.
inline constexpr size_t kLogOverhead = 12;
inline constexpr int8_t kMagicV2 = 2;

static_assert(kBatchLengthOffset == kBaseOffsetOffset + 8);
static_assert(kMagicOffset == kPartitionLeaderEpochOffset + 4);
static_assert(kAttributesOffset == kCrcOffset + 4);
static_assert(kBaseTimestampOffset == kLastOffsetDeltaOffset + 4);
static_assert(kProducerIdOffset == kMaxTimestampOffset + 8);
static_assert(kBaseSequenceOffset == kProducerEpochOffset + 2);
static_assert(kHeaderSize == 61, "Kafka RecordBatch v2 overhead is 61 bytes");
// The stream store reads maxTimestamp at this fixed position (see stream/stream_store.h).
static_assert(kMaxTimestampOffset == 35);

inline constexpr int16_t kCompressionMask = 0x07;
inline constexpr int16_t kTimestampTypeBit = 0x08;
inline constexpr int16_t kTransactionalBit = 0x10;
inline constexpr int16_t kControlBit = 0x20;
inline constexpr int16_t kDeleteHorizonBit = 0x40;

enum class Compression : uint8_t { kNone = 0, kGzip = 1, kSnappy = 2, kLz4 = 3, kZstd = 4 };
enum class TimestampType : uint8_t { kCreateTime = 0, kLogAppendTime = 1 };
const char* compression_name(Compression c);

// The decoded fixed header of a v2 batch. Plain data; no validation implied.
struct BatchHeader {
  int64_t base_offset = 0;
  int32_t batch_length = 0;
  int32_t partition_leader_epoch = -1;
  int8_t magic = kMagicV2;
  uint32_t crc = 0;
  int16_t attributes = 0;
  int32_t last_offset_delta = 0;
  int64_t base_timestamp = 0;
  int64_t max_timestamp = 0;
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int32_t base_sequence = -1;
  int32_t record_count = 0;

  int compression_id() const { return attributes & kCompressionMask; }
  Compression compression() const { return static_cast<Compression>(compression_id()); }
  TimestampType timestamp_type() const {
    return (attributes & kTimestampTypeBit) ? TimestampType::kLogAppendTime
                                            : TimestampType::kCreateTime;
  }
  bool is_transactional() const { return attributes & kTransactionalBit; }
  bool is_control() const { return attributes & kControlBit; }
  bool has_producer_id() const { return producer_id >= 0; }
  int64_t last_offset() const { return base_offset + last_offset_delta; }
  // Offsets the batch covers.
  int32_t offset_count() const { return last_offset_delta + 1; }
  size_t size_bytes() const { return static_cast<size_t>(batch_length) + kLogOverhead; }
};

// Why a batch was refused; the Kafka error code is chosen by the caller from this.
enum class BatchErrc : uint8_t {
  kOk = 0,
  kCorrupt,                 // CORRUPT_MESSAGE
  kInvalidRecord,           // INVALID_RECORD
  kTooLarge,                // MESSAGE_TOO_LARGE
  kUnsupportedCompression,  // UNSUPPORTED_COMPRESSION_TYPE
};
const char* batch_errc_name(BatchErrc c);

struct BatchError {
  BatchErrc code = BatchErrc::kOk;
  std::string message;
  bool ok() const { return code == BatchErrc::kOk; }
};

// Decodes the fixed header. Requires at least kHeaderSize bytes (else kCorrupt); checks
// nothing else, so it can read magic 0/1 bytes as well (fields past magic are then garbage).
Result<BatchHeader> read_header(std::span<const uint8_t> bytes);
// Writes every header field except the CRC (use compute_crc / store the result).
void write_header(const BatchHeader& h, uint8_t* out);

// CRC-32C over attributes..end, the value the crc field must hold.
uint32_t compute_crc(std::span<const uint8_t> batch);

struct ValidateOptions {
  // Produce from a client: baseOffset must be 0 and control batches are refused.
  bool from_client = true;
  // Refuse batches larger than this (max.message.bytes); <= 0 disables.
  int64_t max_batch_bytes = 0;
};

// Full structural validation of one v2 batch occupying exactly `batch` (no trailing bytes):
// size/length consistency, magic, CRC, compression id, offset/count sanity. On success fills
// `*out` (if non-null). Does not decompress or look at records.
BatchError validate_batch(std::span<const uint8_t> batch, const ValidateOptions& opt,
                          BatchHeader* out = nullptr);

// Splits a concatenation of batches (a produce `records` field) into slices sharing `records`'
// storage. Checks only the framing (each batch's batchLength fits the bytes left and is at least
// a v2 header); a trailing partial batch is an error (kCorrupt): Kafka silently drops it, we
// refuse the produce so the client learns its request was malformed.
struct SplitResult {
  std::vector<Buf> batches;
  BatchError error;
};
SplitResult split_batches(const Buf& records);

// Like split_batches but for fetch-style data where the last batch may be cut short by a
// max-bytes limit: returns the complete batches and ignores a partial tail.
std::vector<Buf> split_complete_batches(const Buf& records);

// In-place patches (see the thread-safety note above).
void set_base_offset(uint8_t* batch, int64_t base_offset);
void set_partition_leader_epoch(uint8_t* batch, int32_t epoch);
// Kafka's LogAppendTime rewrite (DefaultRecordBatch.setMaxTimestamp): sets the timestamp-type
// bit and maxTimestamp = now_ms, recomputes the CRC. baseTimestamp and the records' timestamp
// deltas are left alone; readers of a LogAppendTime batch use maxTimestamp for every record.
void set_log_append_time(std::span<uint8_t> batch, int64_t now_ms);

}  // namespace shale::kafka::records
