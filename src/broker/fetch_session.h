// Incremental fetch sessions (KIP-227, Fetch v7+): the broker remembers each consumer's
// partition list and last-sent state, so a consumer of many partitions sends and receives only
// what changed.
//
// Protocol rules implemented here (what Apache Kafka's FetchManager does):
//   epoch -1 (FINAL):   sessionless full fetch; a non-zero session id is closed first.
//   epoch  0 (INITIAL): full fetch that creates a session (closing a given old one); the
//                       response carries the new id, or 0 if the cache is full.
//   epoch  N > 0:       incremental fetch on session `id`: unknown id → FETCH_SESSION_ID_NOT_FOUND;
//                       N != the session's next epoch → INVALID_FETCH_SESSION_EPOCH; a session
//                       created with topic ids used without them (or the reverse) →
//                       FETCH_SESSION_TOPIC_ID_ERROR. Requested partitions are added/updated,
//                       forgotten ones removed. The response holds only partitions with records,
//                       errors, or a changed high watermark / log start offset; partitions that
//                       returned data move to the back so that no partition starves.
// The next expected epoch after N is N+1 (wrapping from INT32_MAX to 1).
//
// Bounded: at most `max_sessions`; when full, the least recently used session idle for at
// least `eviction_ms` is evicted, otherwise no session is created (the client keeps doing full
// fetches, which is always correct).
//
// Thread-safety: all methods are thread-safe (one mutex, held for in-memory work only).
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/kafka_error.h"
#include "broker/uuid.h"

namespace shale::broker {

struct FetchKey {
  Uuid topic_id;      // zero before Fetch v13
  std::string topic;  // empty when the id is unknown
  int32_t partition = 0;
  auto operator<=>(const FetchKey&) const = default;
};

struct FetchPartitionRequest {
  FetchKey key;
  int64_t fetch_offset = 0;
  int64_t log_start_offset = -1;
  int32_t max_bytes = 0;
  int32_t current_leader_epoch = -1;
  int32_t last_fetched_epoch = -1;
};

// What the handler learned about one partition while answering (for the session to compare).
struct FetchPartitionSummary {
  int16_t error = kerr::kNone;
  int64_t high_watermark = -1;
  int64_t log_start_offset = -1;
  size_t bytes = 0;
};

inline constexpr int32_t kInitialEpoch = 0;
inline constexpr int32_t kFinalEpoch = -1;

class FetchSessionCache {
 public:
  struct Options {
    size_t max_sessions = 1000;
    std::chrono::milliseconds eviction_ms{120'000};
  };
  explicit FetchSessionCache(Options opts);
  FetchSessionCache() : FetchSessionCache(Options{}) {}

  struct Context {
    ApiError error;          // top-level Fetch error (the response then has no partitions)
    int32_t session_id = 0;  // goes into the response
    bool incremental = false;
    int32_t epoch = 0;
    // Partitions to read, in response order (for incremental: the whole session).
    std::vector<FetchPartitionRequest> partitions;
  };

  Context begin(int32_t session_id, int32_t epoch, bool uses_topic_ids,
                std::vector<FetchPartitionRequest> requested,
                const std::vector<FetchKey>& forgotten, std::chrono::steady_clock::time_point now);

  // After reading `ctx.partitions` (summaries in the same order): which partitions the
  // response includes (all, for a full fetch). Updates the session's remembered state.
  std::vector<bool> finish(const Context& ctx, const std::vector<FetchPartitionSummary>& results);

  size_t size() const;

 private:
  struct CachedPartition {
    FetchPartitionRequest req;
    int64_t high_watermark = -1;
    int64_t log_start_offset = -1;
  };
  struct Session {
    int32_t id = 0;
    int32_t next_epoch = 1;
    bool uses_topic_ids = false;
    std::chrono::steady_clock::time_point last_used;
    std::list<CachedPartition> order;  // response order
    std::map<FetchKey, std::list<CachedPartition>::iterator> index;
  };

  int32_t new_id_locked();
  bool make_room_locked(std::chrono::steady_clock::time_point now);

  const Options opts_;
  mutable std::mutex mu_;
  std::unordered_map<int32_t, Session> sessions_;
  std::mt19937 rng_;
};

}  // namespace shale::broker
