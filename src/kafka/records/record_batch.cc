#include "kafka/records/record_batch.h"

#include <fmt/format.h>

#include "base/crc32c.h"
#include "base/endian.h"

namespace shale::kafka::records {

const char* compression_name(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "none";
    case Compression::kGzip:
      return "gzip";
    case Compression::kSnappy:
      return "snappy";
    case Compression::kLz4:
      return "lz4";
    case Compression::kZstd:
      return "zstd";
  }
  return "invalid";
}

const char* batch_errc_name(BatchErrc c) {
  switch (c) {
    case BatchErrc::kOk:
      return "ok";
    case BatchErrc::kCorrupt:
      return "corrupt_message";
    case BatchErrc::kInvalidRecord:
      return "invalid_record";
    case BatchErrc::kTooLarge:
      return "message_too_large";
    case BatchErrc::kUnsupportedCompression:
      return "unsupported_compression_type";
  }
  return "unknown";
}

Result<BatchHeader> read_header(std::span<const uint8_t> b) {
  if (b.size() < kHeaderSize) {
    return Error{Errc::kCorruption,
                 fmt::format("record batch of {} bytes is shorter than the {}-byte v2 header",
                             b.size(), kHeaderSize)};
  }
  const uint8_t* p = b.data();
  BatchHeader h;
  h.base_offset = load_be<int64_t>(p + kBaseOffsetOffset);
  h.batch_length = load_be<int32_t>(p + kBatchLengthOffset);
  h.partition_leader_epoch = load_be<int32_t>(p + kPartitionLeaderEpochOffset);
  h.magic = static_cast<int8_t>(p[kMagicOffset]);
  h.crc = load_be<uint32_t>(p + kCrcOffset);
  h.attributes = load_be<int16_t>(p + kAttributesOffset);
  h.last_offset_delta = load_be<int32_t>(p + kLastOffsetDeltaOffset);
  h.base_timestamp = load_be<int64_t>(p + kBaseTimestampOffset);
  h.max_timestamp = load_be<int64_t>(p + kMaxTimestampOffset);
  h.producer_id = load_be<int64_t>(p + kProducerIdOffset);
  h.producer_epoch = load_be<int16_t>(p + kProducerEpochOffset);
  h.base_sequence = load_be<int32_t>(p + kBaseSequenceOffset);
  h.record_count = load_be<int32_t>(p + kRecordCountOffset);
  return h;
}

void write_header(const BatchHeader& h, uint8_t* p) {
  store_be<int64_t>(p + kBaseOffsetOffset, h.base_offset);
  store_be<int32_t>(p + kBatchLengthOffset, h.batch_length);
  store_be<int32_t>(p + kPartitionLeaderEpochOffset, h.partition_leader_epoch);
  p[kMagicOffset] = static_cast<uint8_t>(h.magic);
  store_be<int16_t>(p + kAttributesOffset, h.attributes);
  store_be<int32_t>(p + kLastOffsetDeltaOffset, h.last_offset_delta);
  store_be<int64_t>(p + kBaseTimestampOffset, h.base_timestamp);
  store_be<int64_t>(p + kMaxTimestampOffset, h.max_timestamp);
  store_be<int64_t>(p + kProducerIdOffset, h.producer_id);
  store_be<int16_t>(p + kProducerEpochOffset, h.producer_epoch);
  store_be<int32_t>(p + kBaseSequenceOffset, h.base_sequence);
  store_be<int32_t>(p + kRecordCountOffset, h.record_count);
}

uint32_t compute_crc(std::span<const uint8_t> batch) {
  return crc32c(batch.data() + kAttributesOffset, batch.size() - kAttributesOffset);
}

namespace {
BatchError fail(BatchErrc c, std::string msg) {
  return BatchError{c, std::move(msg)};
}
}  // namespace

BatchError validate_batch(std::span<const uint8_t> b, const ValidateOptions& opt,
                          BatchHeader* out) {
  // Magic first: a legacy (v0/v1) message is shorter than a v2 header and must be reported as
  // the wrong format, not as corrupt. Magic sits at byte 16 in every format.
  if (b.size() > kMagicOffset) {
    int8_t magic = static_cast<int8_t>(b[kMagicOffset]);
    if (magic == 0 || magic == 1) {
      return fail(BatchErrc::kInvalidRecord,
                  fmt::format("record batches with magic {} are not supported: produce "
                              "requests may only contain record batches with magic version 2",
                              magic));
    }
    if (magic != kMagicV2) {
      return fail(BatchErrc::kCorrupt, fmt::format("invalid record batch magic {}", magic));
    }
  }
  auto hr = read_header(b);
  if (!hr.ok()) return fail(BatchErrc::kCorrupt, hr.error().message);
  const BatchHeader& h = *hr;
  if (h.batch_length < 0 || h.size_bytes() != b.size()) {
    return fail(BatchErrc::kCorrupt,
                fmt::format("record batch length {} does not match the {} bytes present",
                            h.batch_length, b.size() - kLogOverhead));
  }
  if (opt.max_batch_bytes > 0 && static_cast<int64_t>(b.size()) > opt.max_batch_bytes) {
    return fail(BatchErrc::kTooLarge,
                fmt::format("record batch of {} bytes exceeds max.message.bytes {}", b.size(),
                            opt.max_batch_bytes));
  }
  uint32_t crc = compute_crc(b);
  if (crc != h.crc) {
    return fail(BatchErrc::kCorrupt,
                fmt::format("record batch is corrupt (stored crc = {:#010x}, computed crc = "
                            "{:#010x})",
                            h.crc, crc));
  }
  if (h.compression_id() > static_cast<int>(Compression::kZstd)) {
    return fail(BatchErrc::kCorrupt,
                fmt::format("unknown compression type id {}", h.compression_id()));
  }
  if (opt.from_client && h.base_offset != 0) {
    return fail(BatchErrc::kInvalidRecord,
                fmt::format("the baseOffset of a produced record batch must be 0, but it is {}",
                            h.base_offset));
  }
  if (h.last_offset_delta < 0) {
    return fail(BatchErrc::kInvalidRecord,
                fmt::format("record batch has an invalid lastOffsetDelta {}", h.last_offset_delta));
  }
  if (static_cast<int64_t>(h.record_count) != static_cast<int64_t>(h.last_offset_delta) + 1) {
    return fail(BatchErrc::kInvalidRecord,
                fmt::format("inconsistent batch offset range [0, {}] and count of records {}",
                            h.last_offset_delta, h.record_count));
  }
  // Every record takes at least 7 bytes (length, attributes, three varints, key/value -1,
  // header count); a count the bytes cannot hold is invalid (Kafka's record iterator
  // fails such a batch with InvalidRecordException). Compressed data can hold more.
  if (h.compression() == Compression::kNone &&
      static_cast<uint64_t>(h.record_count) * 7 > b.size() - kHeaderSize) {
    return fail(BatchErrc::kInvalidRecord, fmt::format("record count {} cannot fit in {} bytes",
                                                       h.record_count, b.size() - kHeaderSize));
  }
  if (opt.from_client && h.is_control()) {
    return fail(BatchErrc::kInvalidRecord, "clients are not allowed to write control records");
  }
  if (h.has_producer_id() && h.base_sequence < 0) {
    return fail(BatchErrc::kInvalidRecord,
                fmt::format("invalid sequence number {} in record batch with producerId {}",
                            h.base_sequence, h.producer_id));
  }
  if (out) *out = h;
  return {};
}

namespace {
// Size of the batch at the front of `rest`, 0 if fewer than kLogOverhead bytes, -1 if the
// length field is impossible.
int64_t framed_size(std::span<const uint8_t> rest) {
  if (rest.size() < kLogOverhead) return 0;
  int32_t len = load_be<int32_t>(rest.data() + kBatchLengthOffset);
  // Kafka's minimum (LegacyRecord.RECORD_OVERHEAD_V0 = 14) lets a legacy message through to
  // the magic check; anything smaller cannot be a batch of any format.
  if (len < 14) return -1;
  return static_cast<int64_t>(len) + kLogOverhead;
}
}  // namespace

SplitResult split_batches(const Buf& records) {
  SplitResult r;
  size_t pos = 0;
  while (pos < records.size()) {
    auto rest = records.span().subspan(pos);
    int64_t n = framed_size(rest);
    if (n <= 0 || static_cast<size_t>(n) > rest.size()) {
      r.error = fail(BatchErrc::kCorrupt,
                     n < 0 ? fmt::format("record batch at byte {} has an invalid length", pos)
                           : fmt::format("record batch at byte {} is truncated ({} bytes left)",
                                         pos, rest.size()));
      return r;
    }
    r.batches.push_back(records.slice(pos, static_cast<size_t>(n)));
    pos += static_cast<size_t>(n);
  }
  return r;
}

std::vector<Buf> split_complete_batches(const Buf& records) {
  std::vector<Buf> out;
  size_t pos = 0;
  while (pos < records.size()) {
    auto rest = records.span().subspan(pos);
    int64_t n = framed_size(rest);
    if (n <= 0 || static_cast<size_t>(n) > rest.size()) break;
    out.push_back(records.slice(pos, static_cast<size_t>(n)));
    pos += static_cast<size_t>(n);
  }
  return out;
}

void set_base_offset(uint8_t* batch, int64_t base_offset) {
  store_be<int64_t>(batch + kBaseOffsetOffset, base_offset);
}

void set_partition_leader_epoch(uint8_t* batch, int32_t epoch) {
  store_be<int32_t>(batch + kPartitionLeaderEpochOffset, epoch);
}

void set_log_append_time(std::span<uint8_t> batch, int64_t now_ms) {
  uint8_t* p = batch.data();
  int16_t attrs = load_be<int16_t>(p + kAttributesOffset);
  int64_t max_ts = load_be<int64_t>(p + kMaxTimestampOffset);
  if ((attrs & kTimestampTypeBit) && max_ts == now_ms) return;
  store_be<int16_t>(p + kAttributesOffset, static_cast<int16_t>(attrs | kTimestampTypeBit));
  store_be<int64_t>(p + kMaxTimestampOffset, now_ms);
  store_be<uint32_t>(p + kCrcOffset, compute_crc(batch));
}

}  // namespace shale::kafka::records
