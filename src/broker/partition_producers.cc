// Partition: the idempotent-producer part of the append path (see producer_state.h for the
// rules). Kept apart from partition.cc so that the plain append path stays lock-free.
#include <fmt/format.h>

#include "base/log.h"
#include "broker/partition.h"

namespace shale::broker {

namespace {
// Idempotent batches between two producer-state snapshots (each a small metadata write).
constexpr uint64_t kProducerSnapshotEvery = 20'000;
// How often expiry runs at most (it walks every producer of the partition).
constexpr int64_t kExpiryIntervalMs = 60'000;
// A sequence gap in the first moments after a partition with history was opened here (a
// failover, a move, a restart) is answered NOT_LEADER_OR_FOLLOWER (retriable) rather than
// OUT_OF_ORDER_SEQUENCE_NUMBER. The usual cause is a client's pipelined batches straddling the
// open: the earlier ones reached this broker just before it opened the partition (and were
// refused NOT_LEADER_OR_FOLLOWER), the later ones just after. librdkafka treats 45 on such a
// batch as fatal for the producer ("rewound sequence number"); a retriable answer makes it
// resend the whole run in order. After the grace period a gap is 45, as in Kafka.
constexpr std::chrono::milliseconds kOpenSequenceGrace{10'000};

// The answer for a batch that is (or already was) stored at `base`, or for `error`.
ProduceResult landed(const ApiError& error, int64_t base, int64_t append_time, int64_t start) {
  ProduceResult r;
  r.error = error;
  if (error.ok()) {
    r.base_offset = base;
    r.log_append_time_ms = append_time;
    r.log_start_offset = start;
  }
  return r;
}
}  // namespace

void Partition::restore_producers(ProducerStateTable t, int64_t expiration_ms,
                                  std::function<void()> snapshot_hook) {
  std::lock_guard lk(producer_mu_);
  producers_ = std::move(t);
  producer_expiration_ms_ = expiration_ms;
  snapshot_hook_ = std::move(snapshot_hook);
}

std::pair<int64_t, std::string> Partition::producer_snapshot() const {
  std::lock_guard lk(producer_mu_);
  int64_t covered = end_.load();
  if (!producer_floor_.empty()) covered = std::min(covered, producer_floor_.begin()->second);
  return {covered, producers_.encode()};
}

ProducerStateCounters Partition::producer_counters() const {
  std::lock_guard lk(producer_mu_);
  return producers_.counters();
}

Pending<ProduceResult> Partition::append_idempotent(Buf batch, const kafka::records::BatchHeader& h,
                                                    int64_t max_ts, int64_t append_time) {
  using P = Pending<ProduceResult>;
  const int64_t pid = h.producer_id;
  // Order: held until the store append is issued, so batches reach the store in checked order.
  // The state lock is released before store_.append (whose callback may run inline, or on a
  // store thread that holds store locks, and takes the state lock).
  std::lock_guard order(producer_order_mu_);
  P out;
  ProducerStateTable::Check c;
  {
    std::lock_guard lk(producer_mu_);
    const int64_t now = clock_.wall_ms();
    if (now >= next_expiry_ms_) {
      next_expiry_ms_ = now + std::min(kExpiryIntervalMs, producer_expiration_ms_);
      if (size_t n = producers_.expire(now, producer_expiration_ms_); n > 0) {
        SHALE_LOG_INFO("broker", "{}-{}: expired {} idle producer ids", topic_, index_, n);
      }
    }
    c = producers_.check_and_reserve(
        {pid, h.producer_epoch, h.base_sequence, h.last_offset_delta, max_ts});
    if (c.outcome == ProducerStateTable::Outcome::kDuplicateInFlight) {
      producers_.wait_for(pid, c.ticket,
                          [this, self = shared_from_this(), out, append_time](
                              const ApiError& e, const BatchMetadata& m) {
                            out.set(landed(e, m.first_offset, append_time, start_.load()));
                          });
    } else if (c.outcome == ProducerStateTable::Outcome::kAppend) {
      producer_floor_[c.ticket] = end_.load();
    }
  }
  switch (c.outcome) {
    case ProducerStateTable::Outcome::kError:
      if (c.error.code == kerr::kOutOfOrderSequenceNumber && epoch_start_offset_ > 0 &&
          clock_.now() - opened_at_ < kOpenSequenceGrace) {
        c.error = {
            kerr::kNotLeaderOrFollower,
            fmt::format(
                "{} (partition opened here {} ms ago: answered as retriable)", c.error.message,
                std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - opened_at_)
                    .count())};
      }
      SHALE_LOG_INFO("broker", "{}-{}: refused batch: {}", topic_, index_, c.error.message);
      return P::ready({std::move(c.error)});
    case ProducerStateTable::Outcome::kDuplicate:
      SHALE_LOG_INFO("broker", "{}-{}: duplicate of producer {} seq {}: offset {}", topic_, index_,
                     pid, h.base_sequence, c.original.first_offset);
      return P::ready(landed({}, c.original.first_offset, append_time, start_.load()));
    case ProducerStateTable::Outcome::kDuplicateInFlight:
      SHALE_LOG_INFO("broker", "{}-{}: retry of producer {} seq {} while in flight", topic_, index_,
                     pid, h.base_sequence);
      return out;
    case ProducerStateTable::Outcome::kAppend:
      break;
  }
  const int32_t delta = h.last_offset_delta;
  store_.append(stream_, epoch_, std::move(batch), h.offset_count(),
                [this, self = shared_from_this(), out, pid, ticket = c.ticket, max_ts, append_time,
                 delta](Result<stream::AppendResult> r) {
                  ProducerStateTable::Waiters w;
                  bool snapshot = false;
                  {
                    std::lock_guard plk(producer_mu_);
                    producer_floor_.erase(ticket);
                    if (r.ok()) {
                      w = producers_.complete(pid, ticket, r->base.value(),
                                              r->base.value() + delta);
                      snapshot = ++since_snapshot_ % kProducerSnapshotEvery == 0 && snapshot_hook_;
                    } else {
                      w = producers_.fail(pid, ticket, store_error(r.error()));
                    }
                  }
                  if (r.ok()) on_batch_appended(max_ts, r->base.value() + delta, r->end.value());
                  w.run();
                  out.set(r.ok() ? landed({}, r->base.value(), append_time, start_.load())
                                 : landed(store_error(r.error()), -1, -1, -1));
                  if (snapshot) snapshot_hook_();
                });
  return out;
}

}  // namespace shale::broker
