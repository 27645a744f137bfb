#include "kafka/protocol/request_header.h"

namespace shale::kafka {

Result<ParsedRequest> parse_request_header(const Buf& frame) {
  if (frame.size() < 4) return Error{Errc::kCorruption, "request frame shorter than 4 bytes"};
  Reader peek(frame.slice(0, 4));
  const int16_t api_key = peek.read_int16();
  const int16_t api_version = peek.read_int16();
  ParsedRequest out;
  out.api = find_api(api_key);
  // Versions above the maximum are parsed with the flexibility they would have: later versions
  // of an API are never less flexible than earlier ones.
  out.header_version = out.api ? out.api->request_header_version(api_version) : 1;
  if (api_version < 0) return Error{Errc::kCorruption, "negative api version"};
  Reader r(frame);
  SHALE_RETURN_IF_ERROR(out.header.decode(r, out.header_version));
  out.body = r.rest();
  return out;
}

void encode_response_header(Writer& w, int16_t api_key, int16_t api_version,
                            int32_t correlation_id) {
  const ApiInfo* api = find_api(api_key);
  ResponseHeader h;
  h.correlation_id = correlation_id;
  h.write(w, api ? api->response_header_version(api_version) : 0);
}

void encode_request_header(Writer& w, int16_t api_key, int16_t api_version, int32_t correlation_id,
                           const std::optional<std::string>& client_id) {
  const ApiInfo* api = find_api(api_key);
  RequestHeader h;
  h.request_api_key = api_key;
  h.request_api_version = api_version;
  h.correlation_id = correlation_id;
  h.client_id = client_id;
  h.write(w, api ? api->request_header_version(api_version) : 1);
}

}  // namespace shale::kafka
