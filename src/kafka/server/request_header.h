// Request-header parsing and response-header/ApiVersions encoding owned by the server.
//
// Request header v1: api_key int16, api_version int16, correlation_id int32, client_id
// nullable string (int16 length, -1 = null). v2 (flexible versions) appends a tagged-field
// section (uvarint count, then per field uvarint tag, uvarint size, bytes).
#pragma once

#include <cstdint>
#include <vector>

#include "base/buf.h"
#include "base/result.h"
#include "kafka/server/handler.h"

namespace shale::kafka {

// Smallest valid request frame: api_key + api_version + correlation_id + client_id length.
inline constexpr size_t kMinRequestFrame = 2 + 2 + 4 + 2;

struct ParsedRequest {
  RequestHeader header;
  Buf body;  // the bytes after the header
};

// Parses the header of one request frame (without its 4-byte size prefix).
// `flexible_header` says whether a v2 header (tagged fields) follows the client id.
Result<ParsedRequest> parse_request_header(const Buf& frame, bool flexible_header);
// The first 8 bytes only (api key, version, correlation id): enough to answer or refuse a
// request whose header version we cannot know (unknown API or version).
Result<RequestHeader> peek_request_header(const Buf& frame);

// Encodes the ApiVersions response body (no response header) for `version` with `error_code`,
// listing advertised_apis(). Version 0 layout is used for UNSUPPORTED_VERSION answers.
Buf encode_api_versions_body(int16_t version, int16_t error_code);

}  // namespace shale::kafka
