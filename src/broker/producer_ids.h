// ProducerIdAllocator: hands out idempotent-producer ids, unique across every broker that shares
// the metadata store. Ids are taken in blocks of kProducerIdBlock by a compare-and-set on one key
// (`shale/producer-ids/next`, a decimal: the first id not yet given to any broker), so two
// brokers can never hand out the same id; ids of a block a broker did not use before it stopped
// are skipped (Kafka's ProducerIdManager does the same).
//
// Ownership: owned by Broker; borrows the MetaStore. Threading: thread-safe. try_next() never
// blocks; next_blocking() may do a metadata round trip (run it on a control pool).
// Durability: an id returned is covered by a durable block claim.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "base/result.h"
#include "meta/meta_store.h"

namespace shale::broker {

// Ids claimed per metadata round trip (Kafka's PidBlockSize is 1000 too).
inline constexpr int64_t kProducerIdBlock = 1000;

class ProducerIdAllocator {
 public:
  explicit ProducerIdAllocator(meta::MetaStore& meta, std::string key = "shale/producer-ids/next")
      : meta_(meta), key_(std::move(key)) {}

  // An id from the current block, or nullopt when the block is used up.
  std::optional<int64_t> try_next();
  // An id, claiming a new block if needed (blocking).
  Result<int64_t> next_blocking();
  // True if `id` lies below every id this broker has seen claimed (it was handed out by some
  // broker). Used to accept an epoch bump for an existing id. Blocking when it must re-read.
  Result<bool> known_blocking(int64_t id);

 private:
  Result<int64_t> claim_block();  // returns the first id of a new block; mu_ held

  meta::MetaStore& meta_;
  const std::string key_;
  std::mutex mu_;
  int64_t next_ = 0;  // next id of the current block
  int64_t end_ = 0;   // end of the current block (next_ == end_: none left)
  int64_t high_ = 0;  // largest claimed end seen
};

}  // namespace shale::broker
