// Records inside an uncompressed v2 batch: varint encoding, a zero-copy iterator, and a batch
// builder. Used by tests, by internal topics (which write their own batches) and by features
// that must look inside records; the produce/fetch hot path never decodes records.
//
// Record layout (Kafka DefaultRecord): length varint, attributes int8, timestampDelta varlong,
// offsetDelta varint, keyLength varint (-1 = null), key, valueLength varint (-1 = null), value,
// headerCount varint, then per header: keyLength varint, key, valueLength varint, value.
// Varints are zig-zag encoded base-128, little-endian groups (protobuf sint32/sint64).
//
// Thread-safety: RecordIterator and BatchBuilder are single-threaded value types.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/buf.h"
#include "base/result.h"
#include "kafka/records/record_batch.h"

namespace shale::kafka::records {

// Appends the zig-zag varint encoding of v.
void put_varint(std::vector<uint8_t>& out, int32_t v);
void put_varlong(std::vector<uint8_t>& out, int64_t v);
// Decodes a zig-zag varint at *pos, advancing it; nullopt if truncated or too long.
std::optional<int32_t> get_varint(std::span<const uint8_t> in, size_t* pos);
std::optional<int64_t> get_varlong(std::span<const uint8_t> in, size_t* pos);

struct Header {
  std::string_view key;
  std::optional<std::string_view> value;
};

// A decoded record. Views point into the batch's bytes; keep the batch alive while using them.
struct Record {
  int8_t attributes = 0;
  int64_t timestamp = 0;  // absolute: baseTimestamp + delta (maxTimestamp for LogAppendTime)
  int64_t offset = 0;     // absolute: baseOffset + delta
  std::optional<std::string_view> key;
  std::optional<std::string_view> value;
  std::vector<Header> headers;
};

// Iterates the records of one validated, uncompressed batch.
//   RecordIterator it(batch);
//   while (auto r = it.next()) { if (!r->ok()) ...; use(**r); }
class RecordIterator {
 public:
  // Errc::kInvalidArgument if the batch is compressed; kCorruption if the header is short.
  static Result<RecordIterator> create(const Buf& batch);

  // nullopt at the end (after exactly recordCount records); an error if the bytes are malformed
  // or the count does not match.
  std::optional<Result<Record>> next();

 private:
  RecordIterator(Buf batch, BatchHeader h) : batch_(std::move(batch)), header_(h) {}
  Buf batch_;
  BatchHeader header_;
  size_t pos_ = kHeaderSize;
  int32_t read_ = 0;
  bool failed_ = false;
};

// Builds an uncompressed v2 batch (or, for tests, a batch whose compression bits are set and
// whose records section is given verbatim as already-compressed bytes).
class BatchBuilder {
 public:
  struct Options {
    int64_t base_offset = 0;
    int64_t base_timestamp = 0;
    TimestampType timestamp_type = TimestampType::kCreateTime;
    int64_t producer_id = -1;
    int16_t producer_epoch = -1;
    int32_t base_sequence = -1;
    int32_t partition_leader_epoch = -1;
    bool transactional = false;
    bool control = false;
  };
  BatchBuilder() = default;
  explicit BatchBuilder(Options opt) : opt_(opt) {}

  // Adds a record at offset delta = number of records added so far.
  BatchBuilder& add(std::optional<std::string_view> key, std::optional<std::string_view> value,
                    int64_t timestamp, const std::vector<Header>& headers = {});
  size_t record_count() const { return count_; }

  // The finished batch with a correct batchLength, recordCount, lastOffsetDelta,
  // maxTimestamp and CRC.
  Buf build() const;

  // A batch flagged with `c` whose records section is `payload` (opaque; never decompressed
  // by the broker), covering `record_count` offsets.
  Buf build_opaque(Compression c, std::span<const uint8_t> payload, int32_t record_count,
                   int64_t max_timestamp) const;

 private:
  Buf finish(int16_t compression_bits, std::span<const uint8_t> payload, int32_t count,
             int64_t max_ts) const;

  Options opt_;
  std::vector<uint8_t> records_;
  int32_t count_ = 0;
  int64_t max_timestamp_ = -1;
};

}  // namespace shale::kafka::records
