// BlockCache: an LRU of decoded object data blocks keyed by (object key, block position),
// bounded in bytes. Serves the cold read path (CatchUpReader) so that sequential catch-up reads
// and read-ahead turn into few, large range GETs.
//
// Ownership: entries are shared_ptr<const CachedBlock>; an evicted entry stays valid for readers
// that still hold it. Charged size is the block's byte size plus a fixed per-entry overhead.
// Threading: all methods are thread-safe (one mutex; every operation is O(1) apart from the
// eviction loop). Durability: none; a cache.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "objfmt/object.h"

namespace shale::objfmt {

struct CachedBlock {
  BlockIndexEntry entry;
  Buf raw;                            // the block's bytes
  std::vector<DecodedBatch> batches;  // slices of raw, crc-verified
};

struct BlockCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t insertions = 0;  // new entries (replacing an entry is not counted)
  uint64_t evictions = 0;
  uint64_t bytes = 0;    // currently charged
  uint64_t entries = 0;  // currently held
};

// The broker's default capacity (--block-cache-bytes). Read-ahead takes at most half of it,
// split among the consumers catching up at once (CatchUpReader): 256 MiB gives 4 of them the
// whole 32 MiB window each. With 64 MiB, 4 consumers on a store with S3's latency kept 8.5 GETs
// in flight in all (389 MiB/s); with 256 MiB, 12 (675 MiB/s; BENCHMARKS.md section 5k).
inline constexpr size_t kDefaultBlockCacheBytes = 256 << 20;

class BlockCache {
 public:
  static constexpr size_t kEntryOverhead = 128;  // charged per entry besides the block bytes

  explicit BlockCache(size_t capacity_bytes);
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;

  // The block, marking it most recently used, or nullptr (counts a hit or a miss).
  std::shared_ptr<const CachedBlock> get(const std::string& key, uint64_t position);
  // Like get() but neither counts nor touches the LRU order.
  std::shared_ptr<const CachedBlock> peek(const std::string& key, uint64_t position) const;
  bool contains(const std::string& key, uint64_t position) const;
  // Inserts (or replaces) and evicts least recently used entries until within capacity. A
  // block larger than the whole capacity is not cached.
  void put(const std::string& key, uint64_t position, std::shared_ptr<const CachedBlock> block);
  // Drops every block of an object (e.g. after it was deleted by compaction).
  void erase_object(const std::string& key);
  // Drops one block, if cached (CatchUpReader's drop-behind); returns whether it was.
  bool erase(const std::string& key, uint64_t position);

  BlockCacheStats stats() const;
  size_t capacity() const { return capacity_; }

 private:
  struct Key {
    std::string object;
    uint64_t position;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      return std::hash<std::string>()(k.object) ^ (k.position * 0x9E3779B97F4A7C15ULL);
    }
  };
  struct Node {
    Key key;
    std::shared_ptr<const CachedBlock> block;
    size_t charge;
  };
  void evict_locked();

  const size_t capacity_;
  mutable std::mutex mu_;
  std::list<Node> lru_;  // front = most recently used; guarded by mu_
  std::unordered_map<Key, std::list<Node>::iterator, KeyHash> map_;  // guarded by mu_
  size_t bytes_ = 0;                                                 // guarded by mu_
  std::atomic<uint64_t> hits_{0}, misses_{0}, insertions_{0}, evictions_{0};
};

}  // namespace shale::objfmt
