#include "kafka/server/request_header.h"

#include "base/endian.h"
#include "kafka/server/api_table.h"

namespace shale::kafka {
namespace {

// Bounds-checked cursor over a frame (sticky failure).
struct Cursor {
  const Buf& b;
  size_t pos = 0;
  bool ok = true;
  bool need(size_t n) {
    if (!ok || b.size() - pos < n) ok = false;
    return ok;
  }
  int16_t i16() {
    if (!need(2)) return 0;
    auto v = load_be<int16_t>(b.data() + pos);
    pos += 2;
    return v;
  }
  int32_t i32() {
    if (!need(4)) return 0;
    auto v = load_be<int32_t>(b.data() + pos);
    pos += 4;
    return v;
  }
  uint32_t uvarint() {
    uint32_t v = 0;
    for (int shift = 0; shift <= 28; shift += 7) {
      if (!need(1)) return 0;
      uint8_t c = b[pos++];
      v |= static_cast<uint32_t>(c & 0x7f) << shift;
      if (!(c & 0x80)) return v;
    }
    ok = false;
    return 0;
  }
  void skip(size_t n) {
    if (need(n)) pos += n;
  }
};

void put_i16(std::vector<uint8_t>& out, int16_t v) {
  uint8_t b[2];
  store_be(b, v);
  out.insert(out.end(), b, b + 2);
}
void put_i32(std::vector<uint8_t>& out, int32_t v) {
  uint8_t b[4];
  store_be(b, v);
  out.insert(out.end(), b, b + 4);
}
void put_uvarint(std::vector<uint8_t>& out, uint32_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

}  // namespace

Result<RequestHeader> peek_request_header(const Buf& frame) {
  if (frame.size() < 8) return Error{Errc::kInvalidArgument, "request frame shorter than 8 bytes"};
  RequestHeader h;
  h.api_key = load_be<int16_t>(frame.data());
  h.api_version = load_be<int16_t>(frame.data() + 2);
  h.correlation_id = load_be<int32_t>(frame.data() + 4);
  return h;
}

Result<ParsedRequest> parse_request_header(const Buf& frame, bool flexible_header) {
  Cursor c{frame};
  ParsedRequest r;
  r.header.api_key = c.i16();
  r.header.api_version = c.i16();
  r.header.correlation_id = c.i32();
  int16_t len = c.i16();
  if (!c.ok) return Error{Errc::kInvalidArgument, "truncated request header"};
  if (len >= 0) {
    if (!c.need(static_cast<size_t>(len))) {
      return Error{Errc::kInvalidArgument, "client_id runs past the frame"};
    }
    r.header.client_id.emplace(reinterpret_cast<const char*>(frame.data() + c.pos), len);
    c.pos += len;
  } else if (len != -1) {
    return Error{Errc::kInvalidArgument, "negative client_id length"};
  }
  if (flexible_header) {
    uint32_t n = c.uvarint();
    for (uint32_t i = 0; i < n && c.ok; ++i) {
      c.uvarint();  // tag
      c.skip(c.uvarint());
    }
    if (!c.ok) return Error{Errc::kInvalidArgument, "bad tagged fields in request header"};
  }
  r.body = frame.slice(c.pos);
  return r;
}

Buf encode_api_versions_body(int16_t version, int16_t error_code) {
  const bool flexible = version >= 3;
  auto apis = advertised_apis();
  std::vector<uint8_t> out;
  out.reserve(16 + apis.size() * 8);
  put_i16(out, error_code);
  if (flexible) {
    put_uvarint(out, static_cast<uint32_t>(apis.size() + 1));
  } else {
    put_i32(out, static_cast<int32_t>(apis.size()));
  }
  for (const auto& a : apis) {
    put_i16(out, a.api_key);
    put_i16(out, a.min_version);
    put_i16(out, a.max_version);
    if (flexible) put_uvarint(out, 0);  // per-entry tagged fields
  }
  if (version >= 1) put_i32(out, 0);  // throttle_time_ms
  if (flexible) {
    // Top-level tagged fields: SupportedFeatures (0), FinalizedFeaturesEpoch (1),
    // FinalizedFeatures (2), ZkMigrationReady (3) are all optional; we finalize no features.
    put_uvarint(out, 0);
  }
  return Buf::take(std::move(out));
}

}  // namespace shale::kafka
