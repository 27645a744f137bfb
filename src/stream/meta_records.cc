#include "stream/meta_records.h"

#include <fmt/format.h>

#include <charconv>

#include "base/endian.h"

namespace shale::stream {
namespace {

class Writer {
 public:
  void u8(uint8_t v) { s_.push_back(static_cast<char>(v)); }
  void u16(uint16_t v) { put(v); }
  void u32(uint32_t v) { put(v); }
  void u64(uint64_t v) { put(v); }
  void i64(int64_t v) { put(v); }
  void str(std::string_view v) {
    u16(static_cast<uint16_t>(v.size()));
    s_.append(v);
  }
  std::string take() { return std::move(s_); }

 private:
  template <typename T>
  void put(T v) {
    char b[sizeof(T)];
    store_le<T>(b, v);
    s_.append(b, sizeof(T));
  }
  std::string s_;
};

class Reader {
 public:
  explicit Reader(std::string_view v) : v_(v) {}
  bool u8(uint8_t* o) { return get(o); }
  bool u16(uint16_t* o) { return get(o); }
  bool u32(uint32_t* o) { return get(o); }
  bool u64(uint64_t* o) { return get(o); }
  bool i64(int64_t* o) { return get(o); }
  bool str(std::string* o) {
    uint16_t n;
    if (!u16(&n) || v_.size() - pos_ < n) return false;
    o->assign(v_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == v_.size(); }

 private:
  template <typename T>
  bool get(T* o) {
    if (v_.size() - pos_ < sizeof(T)) return false;
    *o = load_le<T>(v_.data() + pos_);
    pos_ += sizeof(T);
    return true;
  }
  std::string_view v_;
  size_t pos_ = 0;
};

Error corrupt(std::string_view what) {
  return Error{Errc::kCorruption, fmt::format("bad {} metadata record", what)};
}

}  // namespace

std::string stream_key(StreamId id) {
  return fmt::format("{}{:020}", kStreamsPrefix, id.value());
}
std::string object_key(ObjectId id) {
  return fmt::format("{}{:020}", kObjectsPrefix, id.value());
}
std::string gc_key(ObjectId id) {
  return fmt::format("{}{:020}", kGcPrefix, id.value());
}
std::string node_incarnation_key(NodeId node) {
  return fmt::format("/shale/nodes/{}/incarnation", node.value());
}

Result<uint64_t> id_from_key(std::string_view key) {
  auto slash = key.rfind('/');
  std::string_view digits = key.substr(slash == std::string_view::npos ? 0 : slash + 1);
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || p != digits.data() + digits.size() || digits.empty()) {
    return Error{Errc::kCorruption, fmt::format("bad id in key {}", key)};
  }
  return v;
}

std::string encode(const StreamRecord& r) {
  Writer w;
  w.u8(kStreamRecordVersion);
  w.u8(static_cast<uint8_t>(r.state));
  w.i64(r.epoch.value());
  w.i64(r.start.value());
  w.i64(r.committed_end.value());
  w.i64(r.retention_ms);
  w.i64(r.retention_bytes);
  return w.take();
}

Result<StreamRecord> decode_stream(std::string_view v) {
  Reader rd(v);
  uint8_t ver, state;
  int64_t epoch, start, end;
  StreamRecord r;
  if (!rd.u8(&ver) || ver != kStreamRecordVersion || !rd.u8(&state) || state > 1 ||
      !rd.i64(&epoch) || !rd.i64(&start) || !rd.i64(&end) || !rd.i64(&r.retention_ms) ||
      !rd.i64(&r.retention_bytes) || !rd.done()) {
    return corrupt("stream");
  }
  r.state = static_cast<StreamState>(state);
  r.epoch = Epoch(epoch);
  r.start = Offset(start);
  r.committed_end = Offset(end);
  return r;
}

std::string encode(const ObjectRecord& r) {
  Writer w;
  w.u8(kObjectRecordVersion);
  w.u8(static_cast<uint8_t>(r.kind));
  w.u64(r.size);
  w.i64(r.data_time_ms);
  w.str(r.key);
  w.u32(static_cast<uint32_t>(r.ranges.size()));
  for (const auto& rg : r.ranges) {
    w.u64(rg.stream.value());
    w.i64(rg.start.value());
    w.i64(rg.end.value());
    w.u64(rg.bytes);
    w.i64(rg.max_ts);
  }
  return w.take();
}

Result<ObjectRecord> decode_object(ObjectId id, std::string_view v) {
  Reader rd(v);
  ObjectRecord r;
  r.id = id;
  uint8_t ver, kind;
  uint32_t n;
  if (!rd.u8(&ver) || ver != kObjectRecordVersion || !rd.u8(&kind) || kind > 1 ||
      !rd.u64(&r.size) || !rd.i64(&r.data_time_ms) || !rd.str(&r.key) || !rd.u32(&n)) {
    return corrupt("object");
  }
  r.kind = static_cast<ObjectKind>(kind);
  if (n > v.size() / kObjectRangeSize) return corrupt("object");
  r.ranges.resize(n);
  for (auto& rg : r.ranges) {
    uint64_t s;
    int64_t a, b;
    if (!rd.u64(&s) || !rd.i64(&a) || !rd.i64(&b) || !rd.u64(&rg.bytes) || !rd.i64(&rg.max_ts)) {
      return corrupt("object");
    }
    rg.stream = StreamId(s);
    rg.start = Offset(a);
    rg.end = Offset(b);
  }
  if (!rd.done()) return corrupt("object");
  return r;
}

std::string encode(const PendingDelete& r) {
  Writer w;
  w.u8(kPendingDeleteVersion);
  w.i64(r.deadline_ms);
  w.str(r.key);
  return w.take();
}

Result<PendingDelete> decode_pending_delete(std::string_view v) {
  Reader rd(v);
  uint8_t ver;
  PendingDelete r;
  if (!rd.u8(&ver) || ver != kPendingDeleteVersion || !rd.i64(&r.deadline_ms) || !rd.str(&r.key) ||
      !rd.done()) {
    return corrupt("pending-delete");
  }
  return r;
}

}  // namespace shale::stream
