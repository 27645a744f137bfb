#include <cstdio>
#include <cstdlib>

#include "kafka/server/handler.h"

namespace shale::kafka {

HandlerRegistry& HandlerRegistry::instance() {
  static HandlerRegistry registry;  // constructed on first use: safe during static init
  return registry;
}

bool HandlerRegistry::add(const HandlerEntry& e) {
  if (e.api_key < 0 || e.api_key >= kMaxApiKey || e.fn == nullptr ||
      e.min_version > e.max_version) {
    std::fprintf(stderr, "shale: bad handler registration %s (api key %d, versions %d-%d)\n",
                 e.name, e.api_key, e.min_version, e.max_version);
    std::abort();
  }
  if (table_[e.api_key].fn != nullptr) {
    std::fprintf(stderr, "shale: two handlers for api key %d: %s and %s\n", e.api_key,
                 table_[e.api_key].name, e.name);
    std::abort();
  }
  table_[e.api_key] = e;
  return true;
}

const HandlerEntry* HandlerRegistry::find(int16_t api_key) const {
  if (api_key < 0 || api_key >= kMaxApiKey || table_[api_key].fn == nullptr) return nullptr;
  return &table_[api_key];
}

std::vector<HandlerEntry> HandlerRegistry::entries() const {
  std::vector<HandlerEntry> out;
  for (const auto& e : table_) {
    if (e.fn != nullptr) out.push_back(e);
  }
  return out;
}

}  // namespace shale::kafka
