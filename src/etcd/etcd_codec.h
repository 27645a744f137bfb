// Translation between MetaStore types and the etcd v3 JSON gateway's messages (proto3 JSON).
//
// Gateway conventions (reference/components.md §2): keys and values are base64; int64 fields
// (revisions, versions, lease ids) are JSON strings; fields holding their default value are
// omitted (a failed txn has no "succeeded", a PUT watch event has no "type", a deleterange
// that deleted nothing has no "deleted"). Every reader here treats a missing field as default.
//
// Thread: stateless functions. Decoders never throw: malformed input yields Errc::kIoError.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/result.h"
#include "meta/meta_store.h"

namespace shale::etcd {

using Json = nlohmann::json;

std::string base64_encode(std::string_view in);
// Accepts standard alphabet with or without '=' padding; kInvalidArgument on other bytes.
Result<std::string> base64_decode(std::string_view in);

// An int64 field that the gateway writes as a string (or, leniently, a number); 0 if absent.
int64_t json_int(const Json& obj, const char* field);

// etcd rejects an empty key even with a range_end; "" and "\0" select the same keys (no key is
// empty), so a range starting at "" is sent as starting at "\0".
std::string wire_key(const std::string& key, const std::string& range_end);

Json encode_compare(const meta::Compare& c);
Json encode_op(const meta::Op& op);
Json encode_txn(const meta::Txn& t);

Result<meta::KeyValue> decode_kv(const Json& kv);
Result<meta::RangeResult> decode_range(const Json& resp);
Result<meta::TxnResult> decode_txn(const Json& resp);
// One watch event ({"type":"DELETE"?, "kv":{...}}).
Result<meta::WatchEvent> decode_event(const Json& ev);

}  // namespace shale::etcd
