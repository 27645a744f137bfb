// Partition: one topic partition served by this broker, over one stream of the StreamStore.
//
//   append(batches)  validate (kafka/records), LogAppendTime, leader epoch stamp, then
//                    StreamStore::append per batch in order; completes when durable (acks=1 and
//                    acks=all both wait for the WAL).
//   read(offset)     StreamStore::try_read_cached on the caller's event loop, else read() on
//                    the store's cold-read pool; whole batches, zero copy.
//   list_offset, end_offset_for_epoch, the leader-epoch check, and long-poll waiters.
//
// Ownership: created and owned by TopicManager (shared_ptr, so an in-flight request keeps a
// deleted partition alive until it finishes). Borrows the StreamStore and Clock.
// Threading: all methods are thread-safe. append() issues the store appends before returning, so
// two appends started in order on one thread land in that order. Store callbacks (store
// threads) update the cached high watermark, wake waiters, and post results back to the awaiting
// coroutine's executor; nothing here blocks.
// Durability: an append result without error means every batch is durable in the WAL.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "base/buf.h"
#include "base/clock.h"
#include "base/ids.h"
#include "broker/async.h"
#include "broker/kafka_error.h"
#include "broker/producer_state.h"
#include "broker/topic_config.h"
#include "kafka/records/record_batch.h"
#include "stream/stream_store.h"

namespace shale::broker {

struct ProduceResult {
  ApiError error;
  int64_t base_offset = -1;
  int64_t log_append_time_ms = -1;  // -1 unless the topic uses LogAppendTime
  int64_t log_start_offset = -1;
};

struct FetchResult {
  ApiError error;
  int64_t high_watermark = -1;
  int64_t last_stable_offset = -1;
  int64_t log_start_offset = -1;
  std::vector<Buf> batches;  // whole batches; the first may start before the fetch offset
  size_t bytes = 0;
};

// Work done on a partition since it was opened here (this Partition object), for the cluster
// load reports (cluster/load_report.h): monotonic totals, read with relaxed atomics.
struct LoadCounters {
  uint64_t bytes_in = 0;   // record-batch bytes accepted by append()
  uint64_t bytes_out = 0;  // record-batch bytes returned by read()
  uint64_t requests = 0;   // append() and read() calls
};

struct OffsetResult {
  ApiError error;
  int64_t offset = -1;
  int64_t timestamp = -1;
  int32_t leader_epoch = -1;
};

// ListOffsets special timestamps.
inline constexpr int64_t kLatestTimestamp = -1;
inline constexpr int64_t kEarliestTimestamp = -2;
inline constexpr int64_t kMaxTimestamp = -3;

// A one-shot wake-up for a long-polling fetch. Created on the fetch's event loop; notify() may
// be called from any thread; wait_until() must run on the executor given at construction.
class DataWaiter : public std::enable_shared_from_this<DataWaiter> {
 public:
  explicit DataWaiter(asio::any_io_executor ex) : ex_(ex), timer_(ex) {}
  void notify();
  bool notified() const { return notified_.load(); }
  // True if notified before the deadline.
  asio::awaitable<bool> wait_until(std::chrono::steady_clock::time_point deadline);

 private:
  asio::any_io_executor ex_;
  asio::steady_timer timer_;
  std::atomic<bool> notified_{false};
};

class Partition : public std::enable_shared_from_this<Partition> {
 public:
  // Construct with std::make_shared (store callbacks keep the partition alive).
  Partition(std::string topic, int32_t index, StreamId stream, const stream::StreamInfo& opened,
            stream::StreamStore& store, Clock& clock, std::shared_ptr<const TopicConfig> config);

  const std::string& topic() const { return topic_; }
  int32_t index() const { return index_; }
  StreamId stream_id() const { return stream_; }
  // The leader epoch reported to clients: the stream's owner epoch.
  int32_t leader_epoch() const { return static_cast<int32_t>(epoch_.value()); }
  int64_t high_watermark() const { return end_.load(); }
  int64_t log_start_offset() const { return start_.load(); }

  std::shared_ptr<const TopicConfig> config() const;
  void set_config(std::shared_ptr<const TopicConfig> c);
  // After deletion every call answers UNKNOWN_TOPIC_OR_PARTITION.
  void mark_deleted();
  bool deleted() const { return deleted_.load(); }

  // Kafka's current_leader_epoch check (Fetch v9+, ListOffsets v4+, OffsetForLeaderEpoch v2+):
  // -1 skips it; older → FENCED_LEADER_EPOCH; newer → UNKNOWN_LEADER_EPOCH.
  ApiError check_leader_epoch(int32_t current_leader_epoch) const;

  // Validates every batch, then appends them in order. Returns at once; await the Pending.
  Pending<ProduceResult> append(std::vector<Buf> batches);

  // Whole batches from `offset`, at most `max_bytes` (but at least one batch if `min_one`).
  asio::awaitable<FetchResult> read(int64_t offset, size_t max_bytes, bool min_one);

  // ListOffsets: kLatestTimestamp, kEarliestTimestamp, kMaxTimestamp, or a timestamp (first
  // record with timestamp >= ts; exact for uncompressed batches, the batch's base offset for
  // compressed ones).
  asio::awaitable<OffsetResult> list_offset(int64_t timestamp);

  // OffsetForLeaderEpoch: the end offset of `leader_epoch` (see partition.cc for the rule).
  OffsetResult end_offset_for_epoch(int32_t leader_epoch) const;

  // Moves the log start to `offset` (-1 = high watermark). Blocking: run on a control pool.
  OffsetResult trim_blocking(int64_t offset);

  // ---- idempotent producers (partition_producers.cc) ------------------------------------------
  // Installs the state rebuilt when the partition opened (before it serves), the expiry
  // (producer.id.expiration.ms) and a hook called (on a store thread; it must only post work)
  // after every kProducerSnapshotEvery idempotent batches, to persist producer_snapshot().
  void restore_producers(ProducerStateTable t, int64_t expiration_ms,
                         std::function<void()> snapshot_hook = {});
  // The completed producer state and the offset it covers (every idempotent batch below the
  // offset is in it; batches at or after it are found again by scanning from it).
  std::pair<int64_t, std::string> producer_snapshot() const;
  ProducerStateCounters producer_counters() const;

  LoadCounters load_counters() const {
    return {bytes_in_.load(std::memory_order_relaxed), bytes_out_.load(std::memory_order_relaxed),
            requests_.load(std::memory_order_relaxed)};
  }

  // Long poll: `w` is notified once when the high watermark next advances (or was already
  // above `offset` when registering: then it is notified at once).
  void add_waiter(const std::shared_ptr<DataWaiter>& w, int64_t offset);
  void remove_waiter(const DataWaiter* w);

 private:
  void on_appended(int64_t end);
  static ApiError store_error(const Error& e);  // a store error as the Kafka code clients see
  // A batch with max timestamp `max_ts` ending at `last_offset` is durable; `end` is the new end.
  void on_batch_appended(int64_t max_ts, int64_t last_offset, int64_t end);
  Pending<ProduceResult> append_idempotent(Buf batch, const kafka::records::BatchHeader& h,
                                           int64_t max_ts, int64_t append_time);
  void note_start(int64_t start);

  const std::string topic_;
  const int32_t index_;
  const StreamId stream_;
  const Epoch epoch_;
  const int64_t epoch_start_offset_;  // end of the stream when this epoch began
  stream::StreamStore& store_;
  Clock& clock_;
  const std::chrono::steady_clock::time_point opened_at_;  // when this Partition was opened

  std::atomic<int64_t> start_;
  std::atomic<int64_t> end_;
  std::atomic<bool> deleted_{false};
  std::atomic<uint64_t> bytes_in_{0};  // load_counters()
  std::atomic<uint64_t> bytes_out_{0};
  std::atomic<uint64_t> requests_{0};

  mutable std::mutex mu_;  // guards config_, waiters_, max_ts_*
  std::shared_ptr<const TopicConfig> config_;
  std::vector<std::weak_ptr<DataWaiter>> waiters_;
  int64_t max_ts_ = -1;         // largest batch max timestamp appended under this epoch
  int64_t max_ts_offset_ = -1;  // last offset of that batch

  // Idempotent appends: producer_order_mu_ is held from check-and-reserve until the store append
  // is issued (so batches reach the store in checked order); producer_mu_ (taken inside it, and
  // alone by store callbacks) guards producers_, producer_floor_ and the fields below.
  std::mutex producer_order_mu_;
  mutable std::mutex producer_mu_;
  ProducerStateTable producers_;
  std::map<uint64_t, int64_t> producer_floor_;  // in-flight ticket -> end_ when reserved
  int64_t producer_expiration_ms_ = 86'400'000;
  int64_t next_expiry_ms_ = 0;
  uint64_t since_snapshot_ = 0;
  std::function<void()> snapshot_hook_;
};

}  // namespace shale::broker
