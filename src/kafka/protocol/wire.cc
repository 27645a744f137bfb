#include "kafka/protocol/wire.h"

#include <algorithm>
#include <cstring>

#include "base/endian.h"

namespace shale::kafka {

bool Uuid::is_zero() const {
  return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
}

std::string Uuid::to_string() const {
  static const char* kHex = "0123456789abcdef";
  std::string s;
  s.reserve(32);
  for (uint8_t b : bytes) {
    s.push_back(kHex[b >> 4]);
    s.push_back(kHex[b & 15]);
  }
  return s;
}

void sort_tags(UnknownTags& tags) {
  if (tags.size() < 2) return;
  std::stable_sort(tags.begin(), tags.end(),
                   [](const TaggedField& a, const TaggedField& b) { return a.tag < b.tag; });
}

// ---------------------------------------------------------------- Reader

Status Reader::status() const {
  if (ok()) return Status();
  return Status(Errc::kCorruption, error_);
}

bool Reader::fail(std::string_view what) {
  if (ok()) error_ = std::string(what) + " at byte " + std::to_string(pos_);
  return false;
}

bool Reader::need(size_t n) {
  if (!ok()) return false;
  if (buf_.size() - pos_ < n) return fail("truncated input");
  return true;
}

template <typename T>
static T load(const Buf& b, size_t& pos) {
  T v = load_be<T>(b.data() + pos);
  pos += sizeof(T);
  return v;
}

int8_t Reader::read_int8() {
  return need(1) ? load<int8_t>(buf_, pos_) : 0;
}
int16_t Reader::read_int16() {
  return need(2) ? load<int16_t>(buf_, pos_) : 0;
}
int32_t Reader::read_int32() {
  return need(4) ? load<int32_t>(buf_, pos_) : 0;
}
int64_t Reader::read_int64() {
  return need(8) ? load<int64_t>(buf_, pos_) : 0;
}
uint16_t Reader::read_uint16() {
  return need(2) ? load<uint16_t>(buf_, pos_) : 0;
}
uint32_t Reader::read_uint32() {
  return need(4) ? load<uint32_t>(buf_, pos_) : 0;
}
bool Reader::read_bool() {
  return read_int8() != 0;
}

double Reader::read_float64() {
  uint64_t bits = need(8) ? load<uint64_t>(buf_, pos_) : 0;
  double d;
  std::memcpy(&d, &bits, sizeof(d));
  return d;
}

Uuid Reader::read_uuid() {
  Uuid u;
  if (need(16)) {
    std::memcpy(u.bytes.data(), buf_.data() + pos_, 16);
    pos_ += 16;
  }
  return u;
}

uint32_t Reader::read_uvarint() {
  uint32_t v = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    if (!need(1)) return 0;
    uint8_t b = buf_[pos_++];
    if (shift == 28 && (b & 0xf0) != 0) {
      fail("uvarint overflows 32 bits");
      return 0;
    }
    v |= static_cast<uint32_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return v;
  }
  fail("uvarint too long");
  return 0;
}

int32_t Reader::read_varint() {
  uint32_t u = read_uvarint();
  return static_cast<int32_t>((u >> 1) ^ (~(u & 1) + 1));
}

int64_t Reader::read_varlong() {
  uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (!need(1)) return 0;
    uint8_t b = buf_[pos_++];
    if (shift == 63 && (b & 0xfe) != 0) {
      fail("varlong overflows 64 bits");
      return 0;
    }
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
  }
  fail("varlong too long");
  return 0;
}

int32_t Reader::read_len(bool compact, bool wide) {
  int64_t n;
  if (compact) {
    n = static_cast<int64_t>(read_uvarint()) - 1;
  } else {
    n = wide ? read_int32() : read_int16();
  }
  if (!ok()) return -2;
  if (n < -1) {
    fail("negative length");
    return -2;
  }
  if (n > static_cast<int64_t>(buf_.size() - pos_)) {
    fail("length past end of input");
    return -2;
  }
  return static_cast<int32_t>(n);
}

std::optional<std::string> Reader::read_nullable_string(bool compact) {
  int32_t n = read_len(compact, false);
  if (n < 0) return std::nullopt;
  std::string s(reinterpret_cast<const char*>(buf_.data() + pos_), static_cast<size_t>(n));
  pos_ += static_cast<size_t>(n);
  return s;
}

std::string Reader::read_string(bool compact) {
  int32_t n = read_len(compact, false);
  if (n == -1) fail("null in non-nullable string");
  if (n < 0) return {};
  std::string s(reinterpret_cast<const char*>(buf_.data() + pos_), static_cast<size_t>(n));
  pos_ += static_cast<size_t>(n);
  return s;
}

std::optional<Buf> Reader::read_nullable_bytes(bool compact) {
  int32_t n = read_len(compact, true);
  if (n < 0) return std::nullopt;
  Buf b = buf_.slice(pos_, static_cast<size_t>(n));
  pos_ += static_cast<size_t>(n);
  return b;
}

Buf Reader::read_bytes(bool compact) {
  int32_t n = read_len(compact, true);
  if (n == -1) fail("null in non-nullable bytes");
  if (n < 0) return {};
  Buf b = buf_.slice(pos_, static_cast<size_t>(n));
  pos_ += static_cast<size_t>(n);
  return b;
}

int32_t Reader::read_array_len(bool compact) {
  int32_t n = read_len(compact, true);
  return n == -2 ? 0 : n;
}

Buf Reader::read_raw(size_t n) {
  if (!need(n)) return {};
  Buf b = buf_.slice(pos_, n);
  pos_ += n;
  return b;
}

Reader Reader::sub(size_t n) {
  Reader r(read_raw(n));
  if (!ok()) r.fail("truncated input");
  return r;
}

void Reader::absorb(const Reader& sub) {
  if (!sub.ok() && ok()) error_ = sub.error_;
}

// ---------------------------------------------------------------- Writer

void Writer::put(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  cur_.insert(cur_.end(), b, b + n);
  size_ += n;
}

template <typename T>
static void store(std::vector<uint8_t>& out, T v) {
  uint8_t tmp[sizeof(T)];
  store_be<T>(tmp, v);
  out.insert(out.end(), tmp, tmp + sizeof(T));
}

void Writer::write_int16(int16_t v) {
  store(cur_, v), size_ += 2;
}
void Writer::write_int32(int32_t v) {
  store(cur_, v), size_ += 4;
}
void Writer::write_int64(int64_t v) {
  store(cur_, v), size_ += 8;
}
void Writer::write_uint16(uint16_t v) {
  store(cur_, v), size_ += 2;
}
void Writer::write_uint32(uint32_t v) {
  store(cur_, v), size_ += 4;
}

void Writer::write_float64(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  store(cur_, bits);
  size_ += 8;
}

void Writer::write_uvarint(uint32_t v) {
  while (v >= 0x80) {
    uint8_t b = static_cast<uint8_t>(v) | 0x80;
    put(&b, 1);
    v >>= 7;
  }
  uint8_t b = static_cast<uint8_t>(v);
  put(&b, 1);
}

void Writer::write_varint(int32_t v) {
  write_uvarint((static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31));
}

void Writer::write_varlong(int64_t v) {
  uint64_t u = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  while (u >= 0x80) {
    uint8_t b = static_cast<uint8_t>(u) | 0x80;
    put(&b, 1);
    u >>= 7;
  }
  uint8_t b = static_cast<uint8_t>(u);
  put(&b, 1);
}

Status Writer::status() const {
  if (ok()) return Status();
  return Status(Errc::kInvalidArgument, error_);
}

void Writer::fail(std::string_view what) {
  if (ok()) error_ = std::string(what);
}

static constexpr size_t kMaxLen32 = 0x7fffffff;

void Writer::write_string(std::string_view s, bool compact) {
  if (s.size() > (compact ? kMaxLen32 : 0x7fff)) fail("string too long for its length field");
  if (compact) {
    write_uvarint(static_cast<uint32_t>(s.size()) + 1);
  } else {
    write_int16(static_cast<int16_t>(s.size()));
  }
  put(s.data(), s.size());
}

void Writer::write_nullable_string(const std::optional<std::string>& s, bool compact) {
  if (s) return write_string(*s, compact);
  if (compact) {
    write_uvarint(0);
  } else {
    write_int16(-1);
  }
}

void Writer::write_bytes(const Buf& b, bool compact) {
  if (b.size() >= kMaxLen32) fail("bytes too long for their length field");
  if (compact) {
    write_uvarint(static_cast<uint32_t>(b.size()) + 1);
  } else {
    write_int32(static_cast<int32_t>(b.size()));
  }
  append(b);
}

void Writer::write_nullable_bytes(const std::optional<Buf>& b, bool compact) {
  if (b) return write_bytes(*b, compact);
  if (compact) {
    write_uvarint(0);
  } else {
    write_int32(-1);
  }
}

void Writer::write_array_len(size_t n, bool compact) {
  if (n >= kMaxLen32) fail("array too long for its length field");
  if (compact) {
    write_uvarint(static_cast<uint32_t>(n) + 1);
  } else {
    write_int32(static_cast<int32_t>(n));
  }
}

void Writer::write_null_array(bool compact) {
  if (compact) {
    write_uvarint(0);
  } else {
    write_int32(-1);
  }
}

void Writer::seal() {
  if (!cur_.empty()) parts_.push_back(Buf::take(std::move(cur_)));
  cur_ = {};
}

void Writer::append(const Buf& b) {
  if (b.size() < kZeroCopyThreshold) return put(b.data(), b.size());
  seal();
  parts_.push_back(b);
  size_ += b.size();
}

std::vector<uint8_t> Writer::finish() const {
  std::vector<uint8_t> out;
  out.reserve(size_);
  for (const Buf& p : parts_) out.insert(out.end(), p.data(), p.data() + p.size());
  out.insert(out.end(), cur_.begin(), cur_.end());
  return out;
}

std::vector<Buf> Writer::finish_parts() {
  seal();
  return std::move(parts_);
}

// ---------------------------------------------------------------- TagSection

Writer& TagSection::begin(uint32_t tag) {
  entries_.push_back(Entry{tag, Writer(), Buf(), false});
  return entries_.back().body;
}

void TagSection::add_unknown(const UnknownTags& unknown) {
  for (const TaggedField& f : unknown) entries_.push_back(Entry{f.tag, Writer(), f.data, true});
}

void TagSection::write_to(Writer& w) {
  w.write_uvarint(static_cast<uint32_t>(entries_.size()));
  if (entries_.empty()) return;
  std::stable_sort(entries_.begin(), entries_.end(),
                   [](const Entry& a, const Entry& b) { return a.tag < b.tag; });
  for (Entry& e : entries_) {
    w.write_uvarint(e.tag);
    if (e.is_raw) {
      w.write_uvarint(static_cast<uint32_t>(e.raw.size()));
      w.append(e.raw);
    } else {
      if (!e.body.ok()) w.fail(e.body.status().message());
      w.write_uvarint(static_cast<uint32_t>(e.body.size()));
      for (const Buf& p : e.body.finish_parts()) w.append(p);
    }
  }
}

}  // namespace shale::kafka
