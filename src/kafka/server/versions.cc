#include "kafka/server/versions.h"

#include <algorithm>

#include "kafka/protocol/api_table.h"
#include "kafka/protocol/gen/api_versions.h"
#include "kafka/server/handler.h"

namespace shale::kafka {

std::optional<AdvertisedApi> advertised_api(int16_t key) {
  const HandlerEntry* h = HandlerRegistry::instance().find(key);
  const ApiInfo* a = find_api(key);
  if (!h || !a) return std::nullopt;
  int16_t lo = std::max(h->min_version, a->min_version);
  int16_t hi = std::min(h->max_version, a->max_version);
  if (lo > hi) return std::nullopt;
  return AdvertisedApi{key, lo, hi};
}

std::vector<AdvertisedApi> advertised_apis() {
  std::vector<AdvertisedApi> out;
  for (const auto& h : HandlerRegistry::instance().entries()) {
    if (auto a = advertised_api(h.api_key)) out.push_back(*a);
  }
  return out;
}

const char* api_name(int16_t key) {
  const ApiInfo* a = find_api(key);
  return a ? a->name : "Unknown";
}

Buf encode_api_versions_body(int16_t version, int16_t error_code) {
  ApiVersionsResponse resp;
  resp.error_code = error_code;
  for (const auto& a : advertised_apis()) {
    resp.api_keys.push_back({a.api_key, a.min_version, a.max_version, {}});
  }
  // No features are finalized (finalized_features empty, epoch -1: the tagged fields keep their
  // defaults and are not written).
  Writer w;
  Status st = resp.encode(w, version);
  (void)st;  // version is 0..4 here: encoding a well-formed struct cannot fail
  return Buf::take(w.finish());
}

}  // namespace shale::kafka
