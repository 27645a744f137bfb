// Request/response header helpers for the broker's connection loop (and for Shale acting as a
// client). A frame here is a Kafka message without its 4-byte size prefix.
#pragma once

#include <cstdint>

#include "base/buf.h"
#include "base/result.h"
#include "kafka/protocol/api_table.h"
#include "kafka/protocol/gen/headers.h"
#include "kafka/protocol/wire.h"

namespace shale::kafka {

struct ParsedRequest {
  RequestHeader header;
  int16_t header_version = 1;
  const ApiInfo* api = nullptr;  // nullptr: unknown api key (header parsed as v1)
  Buf body;                      // the rest of the frame, a slice of it (no copy)
};

// Parses api_key, api_version, correlation_id, client_id and (v2) the header's tagged fields,
// choosing the header version from the API's first flexible version. An api_version above the
// API's maximum still parses (ApiVersions must answer it); callers check api->supports().
Result<ParsedRequest> parse_request_header(const Buf& frame);

// Writes the response header for (api_key, api_version): v1 for flexible versions, v0 otherwise,
// and always v0 for ApiVersions.
void encode_response_header(Writer& w, int16_t api_key, int16_t api_version,
                            int32_t correlation_id);

// Writes a request header (Shale as a client).
void encode_request_header(Writer& w, int16_t api_key, int16_t api_version, int32_t correlation_id,
                           const std::optional<std::string>& client_id);

}  // namespace shale::kafka
