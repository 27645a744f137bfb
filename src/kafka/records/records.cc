#include "kafka/records/records.h"

#include <fmt/format.h>

#include "base/endian.h"

namespace shale::kafka::records {

namespace {
void put_uvarint(std::vector<uint8_t>& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

std::optional<uint64_t> get_uvarint(std::span<const uint8_t> in, size_t* pos, int max_bytes) {
  uint64_t v = 0;
  for (int i = 0; i < max_bytes; ++i) {
    if (*pos >= in.size()) return std::nullopt;
    uint8_t b = in[(*pos)++];
    v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) return v;
  }
  return std::nullopt;
}

void put_bytes(std::vector<uint8_t>& out, std::optional<std::string_view> s) {
  if (!s) {
    put_varint(out, -1);
    return;
  }
  put_varint(out, static_cast<int32_t>(s->size()));
  out.insert(out.end(), s->begin(), s->end());
}
}  // namespace

void put_varint(std::vector<uint8_t>& out, int32_t v) {
  put_uvarint(out, (static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31));
}
void put_varlong(std::vector<uint8_t>& out, int64_t v) {
  put_uvarint(out, (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
}
std::optional<int32_t> get_varint(std::span<const uint8_t> in, size_t* pos) {
  auto u = get_uvarint(in, pos, 5);
  if (!u || *u > 0xffffffffull) return std::nullopt;
  uint32_t x = static_cast<uint32_t>(*u);
  return static_cast<int32_t>((x >> 1) ^ (~(x & 1) + 1));
}
std::optional<int64_t> get_varlong(std::span<const uint8_t> in, size_t* pos) {
  auto u = get_uvarint(in, pos, 10);
  if (!u) return std::nullopt;
  return static_cast<int64_t>((*u >> 1) ^ (~(*u & 1) + 1));
}

Result<RecordIterator> RecordIterator::create(const Buf& batch) {
  SHALE_ASSIGN_OR_RETURN(BatchHeader h, read_header(batch.span()));
  if (h.compression() != Compression::kNone) {
    return Error{Errc::kInvalidArgument,
                 fmt::format("cannot iterate a {} batch without decompressing it",
                             compression_name(h.compression()))};
  }
  if (h.size_bytes() > batch.size()) {
    return Error{Errc::kCorruption, "record batch is truncated"};
  }
  return RecordIterator(batch.slice(0, h.size_bytes()), h);
}

std::optional<Result<Record>> RecordIterator::next() {
  if (failed_) return std::nullopt;
  auto in = batch_.span();
  auto corrupt = [&](std::string msg) -> std::optional<Result<Record>> {
    failed_ = true;
    return Result<Record>(Error{Errc::kCorruption, std::move(msg)});
  };
  if (read_ == header_.record_count) {
    if (pos_ != in.size()) return corrupt("bytes left after the declared record count");
    return std::nullopt;
  }
  if (pos_ >= in.size()) {
    return corrupt(
        fmt::format("batch declares {} records but holds {}", header_.record_count, read_));
  }
  auto len = get_varint(in, &pos_);
  if (!len || *len < 0 || static_cast<size_t>(*len) > in.size() - pos_) {
    return corrupt("invalid record length");
  }
  size_t end = pos_ + static_cast<size_t>(*len);
  auto rec = in.subspan(0, end);  // bounds every read below to this record
  Record r;
  if (pos_ >= end) return corrupt("empty record");
  r.attributes = static_cast<int8_t>(rec[pos_++]);
  auto ts_delta = get_varlong(rec, &pos_);
  auto off_delta = get_varint(rec, &pos_);
  if (!ts_delta || !off_delta) return corrupt("truncated record header");
  r.timestamp = header_.timestamp_type() == TimestampType::kLogAppendTime
                    ? header_.max_timestamp
                    : header_.base_timestamp + *ts_delta;
  r.offset = header_.base_offset + *off_delta;
  auto read_bytes = [&](std::optional<std::string_view>* out) -> bool {
    auto n = get_varint(rec, &pos_);
    if (!n || *n < -1) return false;
    if (*n == -1) {
      *out = std::nullopt;
      return true;
    }
    if (static_cast<size_t>(*n) > end - pos_) return false;
    *out =
        std::string_view(reinterpret_cast<const char*>(rec.data() + pos_), static_cast<size_t>(*n));
    pos_ += static_cast<size_t>(*n);
    return true;
  };
  if (!read_bytes(&r.key) || !read_bytes(&r.value)) return corrupt("invalid key or value");
  auto nh = get_varint(rec, &pos_);
  if (!nh || *nh < 0 || static_cast<size_t>(*nh) > end - pos_) {
    return corrupt("invalid header count");
  }
  for (int32_t i = 0; i < *nh; ++i) {
    std::optional<std::string_view> k, v;
    if (!read_bytes(&k) || !k || !read_bytes(&v)) return corrupt("invalid record header");
    r.headers.push_back(Header{*k, v});
  }
  if (pos_ != end) return corrupt("record length does not match its fields");
  ++read_;
  return Result<Record>(std::move(r));
}

BatchBuilder& BatchBuilder::add(std::optional<std::string_view> key,
                                std::optional<std::string_view> value, int64_t timestamp,
                                const std::vector<Header>& headers) {
  std::vector<uint8_t> body;
  body.push_back(0);  // attributes (unused)
  put_varlong(body, timestamp - opt_.base_timestamp);
  put_varint(body, count_);
  put_bytes(body, key);
  put_bytes(body, value);
  put_varint(body, static_cast<int32_t>(headers.size()));
  for (const auto& h : headers) {
    put_bytes(body, h.key);
    put_bytes(body, h.value);
  }
  put_varint(records_, static_cast<int32_t>(body.size()));
  records_.insert(records_.end(), body.begin(), body.end());
  ++count_;
  max_timestamp_ = std::max(max_timestamp_, timestamp);
  return *this;
}

Buf BatchBuilder::build() const {
  return finish(0, records_, count_, count_ ? max_timestamp_ : opt_.base_timestamp);
}

Buf BatchBuilder::build_opaque(Compression c, std::span<const uint8_t> payload,
                               int32_t record_count, int64_t max_timestamp) const {
  return finish(static_cast<int16_t>(c), payload, record_count, max_timestamp);
}

Buf BatchBuilder::finish(int16_t compression_bits, std::span<const uint8_t> payload, int32_t count,
                         int64_t max_ts) const {
  std::vector<uint8_t> out(kHeaderSize + payload.size());
  BatchHeader h;
  h.base_offset = opt_.base_offset;
  h.batch_length = static_cast<int32_t>(out.size() - kLogOverhead);
  h.partition_leader_epoch = opt_.partition_leader_epoch;
  h.magic = kMagicV2;
  h.attributes = compression_bits;
  if (opt_.timestamp_type == TimestampType::kLogAppendTime) h.attributes |= kTimestampTypeBit;
  if (opt_.transactional) h.attributes |= kTransactionalBit;
  if (opt_.control) h.attributes |= kControlBit;
  h.last_offset_delta = count > 0 ? count - 1 : 0;
  h.base_timestamp = opt_.base_timestamp;
  h.max_timestamp = max_ts;
  h.producer_id = opt_.producer_id;
  h.producer_epoch = opt_.producer_epoch;
  h.base_sequence = opt_.base_sequence;
  h.record_count = count;
  write_header(h, out.data());
  if (!payload.empty()) std::memcpy(out.data() + kHeaderSize, payload.data(), payload.size());
  store_be<uint32_t>(out.data() + kCrcOffset, compute_crc(out));
  return Buf::take(std::move(out));
}

}  // namespace shale::kafka::records
