#include "objfmt/block_cache.h"

namespace shale::objfmt {

BlockCache::BlockCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}

std::shared_ptr<const CachedBlock> BlockCache::get(const std::string& key, uint64_t position) {
  std::lock_guard lk(mu_);
  auto it = map_.find(Key{key, position});
  if (it == map_.end()) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->block;
}

std::shared_ptr<const CachedBlock> BlockCache::peek(const std::string& key,
                                                    uint64_t position) const {
  std::lock_guard lk(mu_);
  auto it = map_.find(Key{key, position});
  return it == map_.end() ? nullptr : it->second->block;
}

bool BlockCache::contains(const std::string& key, uint64_t position) const {
  std::lock_guard lk(mu_);
  return map_.count(Key{key, position}) != 0;
}

void BlockCache::put(const std::string& key, uint64_t position,
                     std::shared_ptr<const CachedBlock> block) {
  if (!block) return;
  const size_t charge = block->raw.size() + kEntryOverhead;
  if (charge > capacity_) return;
  std::lock_guard lk(mu_);
  Key k{key, position};
  auto it = map_.find(k);
  if (it != map_.end()) {  // replace: not counted as an insertion
    bytes_ -= it->second->charge;
    lru_.erase(it->second);
    map_.erase(it);
  } else {
    insertions_.fetch_add(1, std::memory_order_relaxed);
  }
  lru_.push_front(Node{k, std::move(block), charge});
  map_.emplace(std::move(k), lru_.begin());
  bytes_ += charge;
  evict_locked();
}

void BlockCache::evict_locked() {
  while (bytes_ > capacity_ && !lru_.empty()) {
    Node& victim = lru_.back();
    bytes_ -= victim.charge;
    map_.erase(victim.key);
    lru_.pop_back();
    evictions_.fetch_add(1, std::memory_order_relaxed);
  }
}

bool BlockCache::erase(const std::string& key, uint64_t position) {
  std::lock_guard lk(mu_);
  auto it = map_.find(Key{key, position});
  if (it == map_.end()) return false;
  bytes_ -= it->second->charge;
  lru_.erase(it->second);
  map_.erase(it);
  return true;
}

void BlockCache::erase_object(const std::string& key) {
  std::lock_guard lk(mu_);
  for (auto it = lru_.begin(); it != lru_.end();) {
    if (it->key.object == key) {
      bytes_ -= it->charge;
      map_.erase(it->key);
      it = lru_.erase(it);
    } else {
      ++it;
    }
  }
}

BlockCacheStats BlockCache::stats() const {
  BlockCacheStats s;
  s.hits = hits_.load(std::memory_order_relaxed);
  s.misses = misses_.load(std::memory_order_relaxed);
  s.insertions = insertions_.load(std::memory_order_relaxed);
  s.evictions = evictions_.load(std::memory_order_relaxed);
  std::lock_guard lk(mu_);
  s.bytes = bytes_;
  s.entries = map_.size();
  return s;
}

}  // namespace shale::objfmt
