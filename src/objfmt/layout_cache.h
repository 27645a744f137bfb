// LayoutCache: a small LRU of parsed object layouts (footer + index), keyed by object key, with a
// per-stream view of each index for binary search. Used by CatchUpReader; the stream store may
// share one.
//
// Ownership: entries are shared_ptr<const CachedLayout>, valid after eviction for their holders.
// Threading: thread-safe. get_or_load() does the store GET outside the lock; two threads missing
// on the same key at once both read it (harmless: layouts are immutable).
#pragma once

#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "objfmt/object.h"

namespace shale::objfmt {

struct CachedLayout {
  ObjectLayout layout;
  // Indexes into layout.index ordered by (stream, start).
  std::vector<uint32_t> by_stream;

  explicit CachedLayout(ObjectLayout l);
  // The stream's blocks, in offset order, whose range ends after `from` (first one first).
  // Returns positions in by_stream: [first, last).
  std::pair<size_t, size_t> blocks_after(StreamId stream, Offset from) const;
  const BlockIndexEntry& at(size_t by_stream_pos) const {
    return layout.index[by_stream[by_stream_pos]];
  }
};

class LayoutCache {
 public:
  explicit LayoutCache(size_t max_entries) : max_entries_(max_entries) {}

  Result<std::shared_ptr<const CachedLayout>> get_or_load(objstore::ObjectStore& store,
                                                          const std::string& key,
                                                          uint64_t object_size = 0);
  std::shared_ptr<const CachedLayout> get(const std::string& key);
  void put(const std::string& key, std::shared_ptr<const CachedLayout> layout);
  void erase(const std::string& key);
  uint64_t loads() const { return loads_.load(std::memory_order_relaxed); }

 private:
  using Lru = std::list<std::pair<std::string, std::shared_ptr<const CachedLayout>>>;
  const size_t max_entries_;
  std::mutex mu_;
  Lru lru_;                                             // guarded by mu_; front = newest
  std::unordered_map<std::string, Lru::iterator> map_;  // guarded by mu_
  std::atomic<uint64_t> loads_{0};
};

}  // namespace shale::objfmt
