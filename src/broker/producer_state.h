// ProducerStateTable: the idempotent-producer state of one partition (Kafka's
// ProducerStateManager): for each producer id, its epoch and the metadata of its last
// kMaxBatchesPerProducer appended batches (sequence range, offsets, max timestamp).
//
// Append path (Kafka 3.9 rules, UnifiedLog.analyzeAndValidateProducerState + ProducerAppendInfo):
//   1. same epoch and the same [first_seq, last_seq] as a cached batch -> duplicate: the caller
//      answers NONE with the cached batch's base offset and appends nothing;
//   2. epoch older than the producer's            -> INVALID_PRODUCER_EPOCH (47);
//   3. newer epoch whose first sequence is not 0  -> OUT_OF_ORDER_SEQUENCE_NUMBER (45);
//   4. same epoch, first_seq != last_seq + 1 (INT32_MAX wraps to 0) -> OUT_OF_ORDER (45);
//   5. unknown producer id: any sequence is accepted (Kafka >= 2.5 never answers
//      UNKNOWN_PRODUCER_ID on produce; KIP-360).
// (The Partition answers 45 as NOT_LEADER_OR_FOLLOWER in the first seconds after it opened a
// stream with history: see kOpenSequenceGrace in partition_producers.cc.)
// Accepted batches are *reserved* (in flight) until the store append completes: a later batch
// is checked against the last reserved sequence, so up to five batches may be in flight per
// producer; complete() records the offsets, fail() forgets the reservation. A retry of a batch
// still in flight is reported as kDuplicateInFlight: the caller waits for the original.
//
// Ownership: owned by one Partition. Threading: NOT thread-safe; the Partition serialises every
// call (and the store appends they guard) under one mutex. Durability: none here; the table is
// rebuilt from stored batches (replay()) plus a snapshot (encode()/decode(), see
// producer_recovery.h) when the partition opens.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "broker/kafka_error.h"

namespace shale::broker {

// Batches remembered per producer id (Kafka's ProducerStateEntry.NUM_BATCHES_TO_RETAIN, which is
// also the client's max.in.flight.requests.per.connection bound for idempotence).
inline constexpr size_t kMaxBatchesPerProducer = 5;

// The idempotence fields of one v2 record batch.
struct ProducerBatch {
  int64_t producer_id = -1;
  int16_t epoch = -1;
  int32_t first_seq = -1;
  int32_t last_offset_delta = 0;
  int64_t max_timestamp = -1;
  // The last sequence: first_seq + last_offset_delta, wrapping past INT32_MAX to 0.
  int32_t last_seq() const;
};

struct BatchMetadata {
  int32_t first_seq = -1;
  int32_t last_seq = -1;
  int64_t first_offset = -1;
  int64_t last_offset = -1;
  int64_t timestamp = -1;  // the batch's max timestamp
};

struct ProducerStateCounters {
  uint64_t duplicates = 0;
  uint64_t out_of_order = 0;
  uint64_t fenced_epochs = 0;
  uint64_t expired = 0;
};

class ProducerStateTable {
 public:
  enum class Outcome { kAppend, kDuplicate, kDuplicateInFlight, kError };
  struct Check {
    Outcome outcome = Outcome::kAppend;
    ApiError error;          // kError
    BatchMetadata original;  // kDuplicate: the cached batch
    uint64_t ticket = 0;     // kAppend: the reservation; kDuplicateInFlight: the original's
  };
  // Called once with the original's metadata (ok) or its failure.
  using DuplicateWaiter = std::function<void(const ApiError&, const BatchMetadata&)>;
  struct Waiters {
    std::vector<DuplicateWaiter> fns;
    ApiError error;
    BatchMetadata meta;
    void run() const {
      for (auto& f : fns) f(error, meta);
    }
  };

  // Applies the rules above to `b` (producer_id >= 0); on kAppend the batch is reserved.
  Check check_and_reserve(const ProducerBatch& b);
  // The store append of `ticket` succeeded at [first_offset, last_offset].
  Waiters complete(int64_t producer_id, uint64_t ticket, int64_t first_offset, int64_t last_offset);
  // The store append of `ticket` failed: the reservation is dropped.
  Waiters fail(int64_t producer_id, uint64_t ticket, const ApiError& why);
  // Registers a waiter on an in-flight batch (returned by check_and_reserve). False if the
  // ticket is no longer in flight.
  bool wait_for(int64_t producer_id, uint64_t ticket, DuplicateWaiter w);

  // Rebuild: applies a stored batch at [first_offset, last_offset] without checks, in offset
  // order. A batch already known (at or below the producer's last offset) is ignored, so
  // replaying the tail after a snapshot may overlap the snapshot.
  void replay(const ProducerBatch& b, int64_t first_offset, int64_t last_offset);

  // Drops producers idle for at least `expiration_ms` (by their last batch's timestamp, as
  // Kafka's producer.id.expiration.ms) that have nothing in flight. Returns how many.
  size_t expire(int64_t now_ms, int64_t expiration_ms);

  // Snapshot of the completed state (reservations are not included).
  std::string encode() const;
  static Result<ProducerStateTable> decode(const std::string& json);

  size_t size() const { return producers_.size(); }
  size_t in_flight() const { return in_flight_; }
  const ProducerStateCounters& counters() const { return counters_; }
  // Tests and logs: the cached batches of a producer (empty if unknown) and its epoch (-1).
  std::vector<BatchMetadata> batches(int64_t producer_id) const;
  int16_t epoch(int64_t producer_id) const;

 private:
  struct Reserved {
    uint64_t ticket = 0;
    int16_t epoch = -1;
    int32_t first_seq = -1;
    int32_t last_seq = -1;
    int64_t timestamp = -1;
    std::vector<DuplicateWaiter> waiters;
  };
  struct Entry {
    int16_t epoch = -1;
    std::deque<BatchMetadata> batches;  // completed, oldest first, at most kMaxBatches...
    std::deque<Reserved> reserved;      // in flight, in append order
    int64_t last_timestamp = -1;
  };
  static void push_batch(Entry& e, const BatchMetadata& m);
  Waiters finish(int64_t producer_id, uint64_t ticket, const ApiError& error, int64_t first_offset,
                 int64_t last_offset);

  std::unordered_map<int64_t, Entry> producers_;
  uint64_t next_ticket_ = 1;
  size_t in_flight_ = 0;
  ProducerStateCounters counters_;
};

}  // namespace shale::broker
