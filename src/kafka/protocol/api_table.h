// The per-API version table. Its contents (api_table.cc) are generated from schemas/*.ks, so the
// schemas are the only list of APIs: adding a schema file adds the API here, to visit_request()
// and to docs/compatibility.md.
#pragma once

#include <cstdint>
#include <span>

namespace shale::kafka {

struct ApiInfo {
  int16_t api_key;
  const char* name;
  int16_t min_version;     // lowest version the codec encodes and decodes
  int16_t max_version;     // highest version (Apache Kafka 3.9's validVersions)
  int16_t first_flexible;  // first version with compact encodings and tagged fields; -1: none
  int16_t response_header_override;  // fixed response header version, or -1 (derive it)

  bool supports(int16_t version) const { return version >= min_version && version <= max_version; }
  bool is_flexible(int16_t version) const {
    return first_flexible >= 0 && version >= first_flexible;
  }
  // Request header v2 in flexible versions, else v1.
  int16_t request_header_version(int16_t version) const { return is_flexible(version) ? 2 : 1; }
  // Response header v1 in flexible versions, else v0; ApiVersions always v0.
  int16_t response_header_version(int16_t version) const {
    if (response_header_override >= 0) return response_header_override;
    return is_flexible(version) ? 1 : 0;
  }
};

// Every API the codec knows, sorted by api_key.
std::span<const ApiInfo> all_apis();
// The API with this key, or nullptr.
const ApiInfo* find_api(int16_t api_key);

}  // namespace shale::kafka
