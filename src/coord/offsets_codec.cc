#include "coord/offsets_codec.h"

#include "base/endian.h"

namespace shale::coord {
namespace {

class Out {
 public:
  void i16(int16_t v) { put<uint16_t>(static_cast<uint16_t>(v)); }
  void i32(int32_t v) { put<uint32_t>(static_cast<uint32_t>(v)); }
  void i64(int64_t v) { put<uint64_t>(static_cast<uint64_t>(v)); }
  void str(const std::string& s) {
    i16(static_cast<int16_t>(s.size()));
    s_ += s;
  }
  void nstr(const std::optional<std::string>& s) {
    if (!s) return i16(-1);
    str(*s);
  }
  void bytes(const Buf& b) {
    i32(static_cast<int32_t>(b.size()));
    s_.append(b.view());
  }
  std::string take() { return std::move(s_); }

 private:
  template <typename T>
  void put(T v) {
    char b[sizeof(T)];
    store_be<T>(b, v);
    s_.append(b, sizeof(T));
  }
  std::string s_;
};

class In {
 public:
  explicit In(std::string_view s) : s_(s) {}
  bool ok() const { return ok_; }
  int16_t i16() { return static_cast<int16_t>(get<uint16_t>()); }
  int32_t i32() { return static_cast<int32_t>(get<uint32_t>()); }
  int64_t i64() { return static_cast<int64_t>(get<uint64_t>()); }
  std::optional<std::string> nstr() {
    int16_t n = i16();
    if (n < 0) return std::nullopt;
    return raw(static_cast<size_t>(n));
  }
  std::string str() { return nstr().value_or(""); }
  Buf bytes() {
    int32_t n = i32();
    if (n < 0) return Buf();
    return Buf::copy(raw(static_cast<size_t>(n)));
  }

 private:
  std::string raw(size_t n) {
    if (!ok_ || pos_ + n > s_.size()) {
      ok_ = false;
      return {};
    }
    std::string r(s_.substr(pos_, n));
    pos_ += n;
    return r;
  }
  template <typename T>
  T get() {
    if (!ok_ || pos_ + sizeof(T) > s_.size()) {
      ok_ = false;
      return 0;
    }
    T v = load_be<T>(s_.data() + pos_);
    pos_ += sizeof(T);
    return v;
  }
  std::string_view s_;
  size_t pos_ = 0;
  bool ok_ = true;
};

Error corrupt(const char* what) {
  return Error{Errc::kCorruption, what};
}

}  // namespace

int32_t java_string_hash(std::string_view s) {
  uint32_t h = 0;
  auto unit = [&](uint32_t u) { h = 31 * h + u; };
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    size_t n;
    if (c < 0x80) {
      cp = c, n = 1;
    } else if ((c >> 5) == 0x6) {
      cp = c & 0x1f, n = 2;
    } else if ((c >> 4) == 0xe) {
      cp = c & 0x0f, n = 3;
    } else if ((c >> 3) == 0x1e) {
      cp = c & 0x07, n = 4;
    } else {
      cp = 0xfffd, n = 1;  // invalid lead byte: Java's decoder would emit U+FFFD
    }
    if (i + n > s.size()) {
      cp = 0xfffd, n = s.size() - i;
    } else {
      for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    }
    i += n;
    if (cp >= 0x10000) {  // a surrogate pair in UTF-16
      cp -= 0x10000;
      unit(0xd800 + (cp >> 10));
      unit(0xdc00 + (cp & 0x3ff));
    } else {
      unit(cp);
    }
  }
  return static_cast<int32_t>(h);
}

int32_t partition_for_group(std::string_view group, int32_t partitions) {
  if (partitions <= 0) return -1;
  return (java_string_hash(group) & 0x7fffffff) % partitions;
}

std::string encode_offset_key(const std::string& group, const TopicPartition& tp) {
  Out o;
  o.i16(kOffsetKeyVersion);
  o.str(group);
  o.str(tp.topic);
  o.i32(tp.partition);
  return o.take();
}

std::string encode_offset_value(const OffsetAndMetadata& om) {
  Out o;
  if (om.expire_timestamp_ms >= 0) {
    o.i16(kOffsetValueVersionWithExpiry);
    o.i64(om.offset);
    o.str(om.metadata.value_or(""));
    o.i64(om.commit_timestamp_ms);
    o.i64(om.expire_timestamp_ms);
  } else {
    o.i16(kOffsetValueVersion);
    o.i64(om.offset);
    o.i32(om.leader_epoch);
    o.str(om.metadata.value_or(""));
    o.i64(om.commit_timestamp_ms);
  }
  return o.take();
}

std::string encode_group_key(const std::string& group) {
  Out o;
  o.i16(kGroupKeyVersion);
  o.str(group);
  return o.take();
}

std::string encode_group_value(const GroupSnapshot& g) {
  Out o;
  o.i16(kGroupValueVersion);
  o.str(g.protocol_type);
  o.i32(g.generation);
  o.nstr(g.protocol_name);
  o.nstr(g.leader);
  o.i64(g.current_state_timestamp_ms);
  o.i32(static_cast<int32_t>(g.members.size()));
  for (const auto& m : g.members) {
    o.str(m.member_id);
    o.nstr(m.instance_id);
    o.str(m.client_id);
    o.str(m.client_host);
    o.i32(m.rebalance_timeout_ms);
    o.i32(m.session_timeout_ms);
    o.bytes(m.subscription);
    o.bytes(m.assignment);
  }
  return o.take();
}

Result<RecordKey> decode_key(std::string_view key) {
  In in(key);
  int16_t v = in.i16();
  if (v == 0 || v == 1) {
    OffsetRecordKey k;
    k.group = in.str();
    k.tp.topic = in.str();
    k.tp.partition = in.i32();
    if (!in.ok()) return corrupt("short offset key");
    return RecordKey{std::move(k)};
  }
  if (v == 2) {
    GroupRecordKey k{in.str()};
    if (!in.ok()) return corrupt("short group key");
    return RecordKey{std::move(k)};
  }
  return corrupt("unknown __consumer_offsets key version");
}

std::string encode_snapshot_key() {
  Out o;
  o.i16(kSnapshotKeyVersion);
  return o.take();
}

std::string encode_snapshot_value(const SnapshotMarker& m) {
  Out o;
  o.i16(kSnapshotValueVersion);
  o.i64(m.base_offset);
  o.i32(m.records);
  o.i64(m.timestamp_ms);
  return o.take();
}

bool is_snapshot_key(std::string_view key) {
  In in(key);
  return in.i16() == kSnapshotKeyVersion && in.ok() && key.size() == 2;
}

Result<SnapshotMarker> decode_snapshot_value(std::string_view value) {
  In in(value);
  if (in.i16() != kSnapshotValueVersion) return corrupt("unknown snapshot marker version");
  SnapshotMarker m;
  m.base_offset = in.i64();
  m.records = in.i32();
  m.timestamp_ms = in.i64();
  if (!in.ok() || m.records < 0 || m.base_offset < 0) return corrupt("bad snapshot marker");
  return m;
}

Result<OffsetAndMetadata> decode_offset_value(std::string_view value) {
  In in(value);
  OffsetAndMetadata om;
  int16_t v = in.i16();
  if (v < 0 || v > 4) return corrupt("unknown offset value version");
  om.offset = in.i64();
  if (v >= 3) om.leader_epoch = in.i32();
  om.metadata = in.str();
  om.commit_timestamp_ms = in.i64();
  if (v == 1) om.expire_timestamp_ms = in.i64();
  if (!in.ok()) return corrupt("short offset value");
  return om;
}

Result<GroupSnapshot> decode_group_value(std::string_view value) {
  In in(value);
  GroupSnapshot g;
  int16_t v = in.i16();
  if (v < 0 || v > 4) return corrupt("unknown group value version");
  g.protocol_type = in.str();
  g.generation = in.i32();
  g.protocol_name = in.nstr();
  g.leader = in.nstr();
  if (v >= 2) g.current_state_timestamp_ms = in.i64();
  int32_t n = in.i32();
  if (!in.ok() || n < 0 || static_cast<size_t>(n) > value.size()) {
    return corrupt("bad group member count");
  }
  for (int32_t i = 0; i < n && in.ok(); ++i) {
    auto& m = g.members.emplace_back();
    m.member_id = in.str();
    if (v >= 3) m.instance_id = in.nstr();
    m.client_id = in.str();
    m.client_host = in.str();
    m.rebalance_timeout_ms = v >= 1 ? in.i32() : 0;
    m.session_timeout_ms = in.i32();
    if (v == 0) m.rebalance_timeout_ms = m.session_timeout_ms;
    m.subscription = in.bytes();
    m.assignment = in.bytes();
  }
  if (!in.ok()) return corrupt("short group value");
  return g;
}

}  // namespace shale::coord
