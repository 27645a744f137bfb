// Which versions of which APIs this server advertises, and the ApiVersions response body.
//
// An API is advertised when a handler is registered for it AND the protocol codec knows it; its
// range is [max(handler min, codec min), min(handler max, codec max)]. Both inputs are derived
// (handler self-registration, generated codec table): there is no hand-kept list.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/buf.h"

namespace shale::kafka {

struct AdvertisedApi {
  int16_t api_key;
  int16_t min_version;
  int16_t max_version;
};

std::vector<AdvertisedApi> advertised_apis();
std::optional<AdvertisedApi> advertised_api(int16_t api_key);
// The API's name from the codec table, "Unknown" if the codec does not know it.
const char* api_name(int16_t api_key);

// The ApiVersions response body (no response header) at `version` with `error_code`, listing
// advertised_apis(). UNSUPPORTED_VERSION answers use version 0 (KIP-511 down-negotiation).
Buf encode_api_versions_body(int16_t version, int16_t error_code);

}  // namespace shale::kafka
