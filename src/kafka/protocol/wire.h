// Kafka wire primitives: a bounds-checked Reader over a received frame and a Writer that builds
// one. Generated message code (see generator.py) calls only these.
//
// Reader ownership: it holds a Buf of the frame (keeps it alive) and a position. Reads never go
// past the end: the first failure (short input, negative length, oversize count) makes the Reader
// "failed", every later read returns a zero value, and status() reports the first error. This
// sticky-error style keeps generated code short and still never reads out of bounds.
// records/bytes fields are returned as Buf slices of the frame: no copy.
//
// Writer ownership: it owns the bytes it builds. Large Buf payloads (records) are not copied: they
// are kept as separate parts so a response can go to the socket with scatter-gather I/O
// (finish_parts()); finish() flattens everything into one contiguous vector.
//
// Thread-safety: neither class is thread-safe; one request is decoded/encoded on one thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/buf.h"
#include "base/result.h"

namespace shale::kafka {

// A Kafka UUID (topic ids): 16 raw bytes, big-endian on the wire.
struct Uuid {
  std::array<uint8_t, 16> bytes{};
  bool is_zero() const;
  std::string to_string() const;  // 32 hex digits
  bool operator==(const Uuid&) const = default;
};

// One tagged field the decoder did not know (newer peer). Kept verbatim and re-emitted on encode.
struct TaggedField {
  uint32_t tag = 0;
  Buf data;
  bool operator==(const TaggedField&) const = default;
};
using UnknownTags = std::vector<TaggedField>;
// Orders tags ascending (stable), the order the wire format requires on encode. Decoders call it
// so a struct decoded from out-of-order input equals its own re-decoded encoding.
void sort_tags(UnknownTags& tags);

class Reader {
 public:
  explicit Reader(Buf frame) : buf_(std::move(frame)) {}

  bool ok() const { return error_.empty(); }
  Status status() const;
  size_t remaining() const { return ok() ? buf_.size() - pos_ : 0; }
  size_t position() const { return pos_; }
  // Marks the reader failed (first error wins). Returns false for use in expressions.
  bool fail(std::string_view what);

  int8_t read_int8();
  int16_t read_int16();
  int32_t read_int32();
  int64_t read_int64();
  uint16_t read_uint16();
  uint32_t read_uint32();
  bool read_bool();
  double read_float64();
  Uuid read_uuid();
  uint32_t read_uvarint();  // unsigned LEB128, at most 5 bytes
  int32_t read_varint();    // zigzag
  int64_t read_varlong();   // zigzag, at most 10 bytes

  // Strings: classic = int16 length, -1 null; compact = uvarint length+1, 0 null.
  std::string read_string(bool compact);
  std::optional<std::string> read_nullable_string(bool compact);
  // Bytes/records: classic = int32 length, -1 null; compact = uvarint length+1, 0 null.
  Buf read_bytes(bool compact);
  std::optional<Buf> read_nullable_bytes(bool compact);
  // Array length: classic int32 (-1 null), compact uvarint+1 (0 null). Returns -1 for null.
  // Fails when the count exceeds the remaining bytes (each element takes at least one byte),
  // which caps every allocation by the frame size.
  int32_t read_array_len(bool compact);
  // Next n bytes as a slice (no copy); fails if fewer remain.
  Buf read_raw(size_t n);
  // A Reader over the next n bytes; this reader advances past them.
  Reader sub(size_t n);
  // The unread rest of the frame, as a slice.
  Buf rest() const { return ok() ? buf_.slice(pos_) : Buf(); }
  // Copies a sub-reader's failure into this one.
  void absorb(const Reader& sub);

 private:
  bool need(size_t n);
  int32_t read_len(bool compact, bool wide);  // -1 = null, -2 = failed

  Buf buf_;
  size_t pos_ = 0;
  std::string error_;
};

class Writer {
 public:
  // Payloads at least this large are appended by reference instead of copied.
  static constexpr size_t kZeroCopyThreshold = 1024;

  void write_int8(int8_t v) { put(&v, 1); }
  void write_int16(int16_t v);
  void write_int32(int32_t v);
  void write_int64(int64_t v);
  void write_uint16(uint16_t v);
  void write_uint32(uint32_t v);
  void write_bool(bool v) { write_int8(v ? 1 : 0); }
  void write_float64(double v);
  void write_uuid(const Uuid& v) { put(v.bytes.data(), 16); }
  void write_uvarint(uint32_t v);
  void write_varint(int32_t v);
  void write_varlong(int64_t v);

  void write_string(std::string_view s, bool compact);
  void write_nullable_string(const std::optional<std::string>& s, bool compact);
  void write_bytes(const Buf& b, bool compact);
  void write_nullable_bytes(const std::optional<Buf>& b, bool compact);
  void write_array_len(size_t n, bool compact);
  void write_null_array(bool compact);
  void write_raw(const void* p, size_t n) { put(p, n); }
  // Appends b, by reference if it is large.
  void append(const Buf& b);

  size_t size() const { return size_; }
  // A value too long for its length prefix (a classic string over 32767 bytes, anything over
  // INT32_MAX) marks the Writer failed; encode() reports it instead of sending a corrupt frame.
  bool ok() const { return error_.empty(); }
  Status status() const;
  void fail(std::string_view what);
  // All bytes written, contiguous.
  std::vector<uint8_t> finish() const;
  // The bytes as a list of slices (large payloads are shared, not copied).
  std::vector<Buf> finish_parts();

 private:
  void put(const void* p, size_t n);
  void seal();

  std::vector<Buf> parts_;
  std::vector<uint8_t> cur_;
  size_t size_ = 0;
  std::string error_;
};

// Collects a struct's tagged fields (known ones the generated code encodes plus unknown ones it
// carries) and writes the tagged-field section sorted by tag.
class TagSection {
 public:
  // Starts a tagged field; encode the value into the returned Writer.
  Writer& begin(uint32_t tag);
  void add_unknown(const UnknownTags& unknown);
  void write_to(Writer& w);

 private:
  struct Entry {
    uint32_t tag;
    Writer body;
    Buf raw;
    bool is_raw;
  };
  std::vector<Entry> entries_;
};

}  // namespace shale::kafka
