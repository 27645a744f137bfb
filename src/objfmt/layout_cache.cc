#include "objfmt/layout_cache.h"

#include <algorithm>

namespace shale::objfmt {

CachedLayout::CachedLayout(ObjectLayout l) : layout(std::move(l)) {
  by_stream.resize(layout.index.size());
  for (uint32_t i = 0; i < by_stream.size(); i++) by_stream[i] = i;
  std::stable_sort(by_stream.begin(), by_stream.end(), [this](uint32_t a, uint32_t b) {
    const auto& x = layout.index[a];
    const auto& y = layout.index[b];
    return x.stream != y.stream ? x.stream < y.stream : x.start < y.start;
  });
}

std::pair<size_t, size_t> CachedLayout::blocks_after(StreamId stream, Offset from) const {
  auto lo = std::partition_point(by_stream.begin(), by_stream.end(), [&](uint32_t i) {
    const auto& e = layout.index[i];
    return e.stream < stream || (e.stream == stream && e.end <= from);
  });
  auto hi = std::partition_point(lo, by_stream.end(),
                                 [&](uint32_t i) { return layout.index[i].stream == stream; });
  return {size_t(lo - by_stream.begin()), size_t(hi - by_stream.begin())};
}

std::shared_ptr<const CachedLayout> LayoutCache::get(const std::string& key) {
  std::lock_guard lk(mu_);
  auto it = map_.find(key);
  if (it == map_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

void LayoutCache::put(const std::string& key, std::shared_ptr<const CachedLayout> layout) {
  std::lock_guard lk(mu_);
  auto it = map_.find(key);
  if (it != map_.end()) {
    lru_.erase(it->second);
    map_.erase(it);
  }
  lru_.emplace_front(key, std::move(layout));
  map_[key] = lru_.begin();
  while (map_.size() > std::max<size_t>(max_entries_, 1)) {
    map_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

void LayoutCache::erase(const std::string& key) {
  std::lock_guard lk(mu_);
  auto it = map_.find(key);
  if (it == map_.end()) return;
  lru_.erase(it->second);
  map_.erase(it);
}

Result<std::shared_ptr<const CachedLayout>> LayoutCache::get_or_load(objstore::ObjectStore& store,
                                                                     const std::string& key,
                                                                     uint64_t object_size) {
  if (auto hit = get(key)) return hit;
  loads_.fetch_add(1, std::memory_order_relaxed);
  SHALE_ASSIGN_OR_RETURN(ObjectLayout layout, read_layout(store, key, object_size));
  auto entry = std::make_shared<const CachedLayout>(std::move(layout));
  put(key, entry);
  return std::shared_ptr<const CachedLayout>(entry);
}

}  // namespace shale::objfmt
