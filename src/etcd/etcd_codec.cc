#include "etcd/etcd_codec.h"

#include <array>
#include <charconv>

namespace shale::etcd {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static_assert(sizeof(kAlphabet) == 65, "base64 alphabet has 64 symbols");

constexpr std::array<int8_t, 256> make_reverse() {
  std::array<int8_t, 256> r{};
  for (auto& v : r) v = -1;
  for (int i = 0; i < 64; ++i) r[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  return r;
}
constexpr std::array<int8_t, 256> kReverse = make_reverse();

Result<std::string> b64_field(const Json& obj, const char* field) {
  auto it = obj.find(field);
  if (it == obj.end()) return std::string();
  if (!it->is_string())
    return Error{Errc::kIoError, fmt::format("etcd: field {} not a string", field)};
  return base64_decode(it->get_ref<const std::string&>());
}

Result<std::vector<meta::KeyValue>> decode_kvs(const Json& resp) {
  std::vector<meta::KeyValue> out;
  auto it = resp.find("kvs");
  if (it == resp.end()) return out;
  if (!it->is_array()) return Error{Errc::kIoError, "etcd: kvs not an array"};
  out.reserve(it->size());
  for (const Json& kv : *it) {
    SHALE_ASSIGN_OR_RETURN(meta::KeyValue k, decode_kv(kv));
    out.push_back(std::move(k));
  }
  return out;
}

const char* target_name(meta::Compare::Target t) {
  switch (t) {
    case meta::Compare::Target::kVersion:
      return "VERSION";
    case meta::Compare::Target::kCreateRevision:
      return "CREATE";
    case meta::Compare::Target::kModRevision:
      return "MOD";
    case meta::Compare::Target::kValue:
      return "VALUE";
  }
  return "VERSION";
}

const char* op_name(meta::Compare::Op o) {
  switch (o) {
    case meta::Compare::Op::kEqual:
      return "EQUAL";
    case meta::Compare::Op::kNotEqual:
      return "NOT_EQUAL";
    case meta::Compare::Op::kGreater:
      return "GREATER";
    case meta::Compare::Op::kLess:
      return "LESS";
  }
  return "EQUAL";
}

}  // namespace

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  auto at = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(in[k])); };
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
    out += kAlphabet[v & 63];
  }
  if (in.size() - i == 1) {
    uint32_t v = at(i) << 16;
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += "==";
  } else if (in.size() - i == 2) {
    uint32_t v = at(i) << 16 | at(i + 1) << 8;
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
    out += '=';
  }
  return out;
}

Result<std::string> base64_decode(std::string_view in) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return Error{Errc::kInvalidArgument, "base64: bad length"};
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int8_t v = kReverse[static_cast<unsigned char>(c)];
    if (v < 0) return Error{Errc::kInvalidArgument, "base64: bad character"};
    acc = acc << 6 | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>(acc >> bits & 0xff);
    }
  }
  return out;
}

int64_t json_int(const Json& obj, const char* field) {
  if (!obj.is_object()) return 0;
  auto it = obj.find(field);
  if (it == obj.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    int64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
  }
  return 0;
}

std::string wire_key(const std::string& key, const std::string& range_end) {
  if (key.empty() && !range_end.empty()) return std::string(1, '\0');
  return key;
}

Json encode_compare(const meta::Compare& c) {
  Json j = {
      {"key", base64_encode(c.key)}, {"target", target_name(c.target)}, {"result", op_name(c.op)}};
  switch (c.target) {
    case meta::Compare::Target::kVersion:
      j["version"] = std::to_string(c.number);
      break;
    case meta::Compare::Target::kCreateRevision:
      j["create_revision"] = std::to_string(c.number);
      break;
    case meta::Compare::Target::kModRevision:
      j["mod_revision"] = std::to_string(c.number);
      break;
    case meta::Compare::Target::kValue:
      j["value"] = base64_encode(c.value);
      break;
  }
  return j;
}

Json encode_op(const meta::Op& op) {
  if (const auto* p = std::get_if<meta::PutOp>(&op)) {
    Json r = {{"key", base64_encode(p->key)}, {"value", base64_encode(p->value)}};
    if (p->lease.value() != 0) r["lease"] = std::to_string(p->lease.value());
    return {{"request_put", r}};
  }
  if (const auto* d = std::get_if<meta::DeleteOp>(&op)) {
    Json r = {{"key", base64_encode(wire_key(d->key, d->range_end))}};
    if (!d->range_end.empty()) r["range_end"] = base64_encode(d->range_end);
    return {{"request_delete_range", r}};
  }
  const auto& g = std::get<meta::GetOp>(op);
  Json r = {{"key", base64_encode(wire_key(g.key, g.range_end))}};
  if (!g.range_end.empty()) r["range_end"] = base64_encode(g.range_end);
  return {{"request_range", r}};
}

Json encode_txn(const meta::Txn& t) {
  Json j = Json::object();
  Json cmp = Json::array(), ok = Json::array(), fail = Json::array();
  for (const auto& c : t.compares) cmp.push_back(encode_compare(c));
  for (const auto& o : t.success) ok.push_back(encode_op(o));
  for (const auto& o : t.failure) fail.push_back(encode_op(o));
  j["compare"] = std::move(cmp);
  j["success"] = std::move(ok);
  j["failure"] = std::move(fail);
  return j;
}

Result<meta::KeyValue> decode_kv(const Json& kv) {
  if (!kv.is_object()) return Error{Errc::kIoError, "etcd: kv not an object"};
  meta::KeyValue out;
  SHALE_ASSIGN_OR_RETURN(out.key, b64_field(kv, "key"));
  SHALE_ASSIGN_OR_RETURN(out.value, b64_field(kv, "value"));
  out.create_revision = Revision(json_int(kv, "create_revision"));
  out.mod_revision = Revision(json_int(kv, "mod_revision"));
  out.version = json_int(kv, "version");
  out.lease = LeaseId(json_int(kv, "lease"));
  return out;
}

Result<meta::RangeResult> decode_range(const Json& resp) {
  meta::RangeResult r;
  SHALE_ASSIGN_OR_RETURN(r.kvs, decode_kvs(resp));
  r.revision = Revision(json_int(resp.value("header", Json::object()), "revision"));
  auto more = resp.find("more");
  r.more = more != resp.end() && more->is_boolean() && more->get<bool>();
  return r;
}

Result<meta::TxnResult> decode_txn(const Json& resp) {
  meta::TxnResult r;
  auto s = resp.find("succeeded");
  r.succeeded = s != resp.end() && s->is_boolean() && s->get<bool>();
  r.revision = Revision(json_int(resp.value("header", Json::object()), "revision"));
  auto it = resp.find("responses");
  if (it == resp.end()) return r;
  if (!it->is_array()) return Error{Errc::kIoError, "etcd: responses not an array"};
  for (const Json& op : *it) {
    auto rr = op.find("response_range");
    if (rr != op.end()) {
      SHALE_ASSIGN_OR_RETURN(auto kvs, decode_kvs(*rr));
      r.responses.push_back(std::move(kvs));
    } else {
      r.responses.emplace_back();
    }
  }
  return r;
}

Result<meta::WatchEvent> decode_event(const Json& ev) {
  if (!ev.is_object()) return Error{Errc::kIoError, "etcd: event not an object"};
  meta::WatchEvent e;
  auto t = ev.find("type");
  e.type = (t != ev.end() && t->is_string() && t->get_ref<const std::string&>() == "DELETE")
               ? meta::WatchEvent::Type::kDelete
               : meta::WatchEvent::Type::kPut;
  SHALE_ASSIGN_OR_RETURN(e.kv, decode_kv(ev.value("kv", Json::object())));
  return e;
}

}  // namespace shale::etcd
