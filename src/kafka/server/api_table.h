// What the server needs to know about each API besides its handler: its name (logs, metrics),
// the version range the codec supports, and from which version its messages are flexible
// (which decides the request/response header version).
//
// Source of truth: the protocol library's generated API table once it is linked; until then a
// small built-in table of the protocol's published facts (api_table.cc), kept in ONE place.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace shale::kafka {

struct ApiInfo {
  int16_t api_key = -1;
  const char* name = "";
  int16_t codec_min = 0;
  int16_t codec_max = -1;
  int16_t first_flexible = -1;  // -1: never flexible
};

// nullptr if the API is unknown.
const ApiInfo* api_info(int16_t api_key);
const char* api_name(int16_t api_key);

// Request header v2 (with tagged fields) for flexible versions, else v1.
bool request_header_flexible(int16_t api_key, int16_t version);
// Response header v1 (tagged fields) for flexible versions, except ApiVersions which always
// answers with header v0 so that any client can read the body.
bool response_header_flexible(int16_t api_key, int16_t version);

struct AdvertisedApi {
  int16_t api_key;
  int16_t min_version;
  int16_t max_version;
};
// Every registered handler's range intersected with the codec's: what ApiVersions advertises.
// APIs whose intersection is empty are left out.
std::vector<AdvertisedApi> advertised_apis();
std::optional<AdvertisedApi> advertised_api(int16_t api_key);

}  // namespace shale::kafka
