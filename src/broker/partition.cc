#include "broker/partition.h"

#include <fmt/format.h>

#include <algorithm>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include "kafka/records/record_batch.h"
#include "kafka/records/records.h"

namespace shale::broker {

namespace rec = kafka::records;

namespace {

// Store errors → the Kafka code a client can act on. Fenced / not open here / stopping mean
// "this broker no longer leads the partition": the client refreshes metadata and retries.
ApiError from_store(const Error& e) {
  switch (e.code) {
    case Errc::kOutOfRange:
      return {kerr::kOffsetOutOfRange, e.message};
    case Errc::kFenced:
    case Errc::kNotFound:
    case Errc::kClosed:
    case Errc::kUnavailable:
      return {kerr::kNotLeaderOrFollower, e.message};
    case Errc::kTimeout:
      return {kerr::kRequestTimedOut, e.message};
    case Errc::kIoError:
      return {kerr::kKafkaStorageError, e.message};
    case Errc::kCorruption:
      return {kerr::kCorruptMessage, e.message};
    default:
      return {kerr::kUnknownServerError, e.message};
  }
}

ApiError from_batch(const rec::BatchError& e) {
  switch (e.code) {
    case rec::BatchErrc::kCorrupt:
      return {kerr::kCorruptMessage, e.message};
    case rec::BatchErrc::kInvalidRecord:
      return {kerr::kInvalidRecord, e.message};
    case rec::BatchErrc::kTooLarge:
      return {kerr::kMessageTooLarge, e.message};
    case rec::BatchErrc::kUnsupportedCompression:
      return {kerr::kUnsupportedCompressionType, e.message};
    case rec::BatchErrc::kOk:
      break;
  }
  return {};
}

ApiError deleted_error(const std::string& topic, int32_t index) {
  return {kerr::kUnknownTopicOrPartition, fmt::format("partition {}-{} was deleted", topic, index)};
}

}  // namespace

ApiError Partition::store_error(const Error& e) {
  return from_store(e);
}

// ---- DataWaiter ---------------------------------------------------------------------------------

void DataWaiter::notify() {
  if (notified_.exchange(true)) return;
  asio::post(ex_, [self = shared_from_this()] { self->timer_.cancel(); });
}

asio::awaitable<bool> DataWaiter::wait_until(std::chrono::steady_clock::time_point deadline) {
  if (notified_.load()) co_return true;
  timer_.expires_at(deadline);
  std::error_code ec;
  co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_return notified_.load();
}

// ---- Partition ----------------------------------------------------------------------------------

Partition::Partition(std::string topic, int32_t index, StreamId stream,
                     const stream::StreamInfo& opened, stream::StreamStore& store, Clock& clock,
                     std::shared_ptr<const TopicConfig> config)
    : topic_(std::move(topic)),
      index_(index),
      stream_(stream),
      epoch_(opened.epoch),
      epoch_start_offset_(opened.end.value()),
      store_(store),
      clock_(clock),
      opened_at_(clock.now()),
      start_(opened.start.value()),
      end_(opened.end.value()),
      config_(std::move(config)) {}

std::shared_ptr<const TopicConfig> Partition::config() const {
  std::lock_guard lk(mu_);
  return config_;
}

void Partition::set_config(std::shared_ptr<const TopicConfig> c) {
  std::lock_guard lk(mu_);
  config_ = std::move(c);
}

void Partition::mark_deleted() {
  deleted_ = true;
  on_appended(end_.load());  // wake long polls so they answer at once
}

ApiError Partition::check_leader_epoch(int32_t current) const {
  if (current < 0 || current == leader_epoch()) return {};
  if (current < leader_epoch()) {
    return {kerr::kFencedLeaderEpoch,
            fmt::format("leader epoch {} is older than the current {}", current, leader_epoch())};
  }
  return {kerr::kUnknownLeaderEpoch,
          fmt::format("leader epoch {} is newer than the current {}", current, leader_epoch())};
}

void Partition::note_start(int64_t start) {
  int64_t cur = start_.load();
  while (start > cur && !start_.compare_exchange_weak(cur, start)) {
  }
}

void Partition::on_appended(int64_t end) {
  int64_t cur = end_.load();
  while (end > cur && !end_.compare_exchange_weak(cur, end)) {
  }
  std::vector<std::weak_ptr<DataWaiter>> ws;
  {
    std::lock_guard lk(mu_);
    ws.swap(waiters_);
  }
  for (auto& w : ws) {
    if (auto s = w.lock()) s->notify();
  }
}

void Partition::on_batch_appended(int64_t max_ts, int64_t last_offset, int64_t end) {
  {
    std::lock_guard lk(mu_);
    if (max_ts > max_ts_) {
      max_ts_ = max_ts;
      max_ts_offset_ = last_offset;
    }
  }
  on_appended(end);
}

void Partition::add_waiter(const std::shared_ptr<DataWaiter>& w, int64_t offset) {
  {
    std::lock_guard lk(mu_);
    waiters_.push_back(w);
  }
  if (end_.load() > offset || deleted()) w->notify();
}

void Partition::remove_waiter(const DataWaiter* w) {
  std::lock_guard lk(mu_);
  std::erase_if(waiters_, [w](const std::weak_ptr<DataWaiter>& x) {
    auto s = x.lock();
    return !s || s.get() == w;
  });
}

Pending<ProduceResult> Partition::append(std::vector<Buf> batches) {
  using P = Pending<ProduceResult>;
  if (deleted()) return P::ready({deleted_error(topic_, index_)});
  if (batches.empty()) {
    return P::ready({{kerr::kInvalidRecord, "produce request holds no record batch"}});
  }
  auto cfg = config();
  std::vector<rec::BatchHeader> headers(batches.size());
  for (size_t i = 0; i < batches.size(); ++i) {
    auto e = rec::validate_batch(batches[i].span(),
                                 {.from_client = true, .max_batch_bytes = cfg->max_message_bytes},
                                 &headers[i]);
    if (!e.ok()) return P::ready({from_batch(e)});
    if (headers[i].is_transactional()) {
      // What Kafka 3.6+ answers for a transactional batch whose partition is not part of an
      // ongoing, verified transaction (KIP-890). Shale has no transaction coordinator yet.
      return P::ready({{kerr::kInvalidTxnState, "transactions are not supported yet"}});
    }
    if (headers[i].has_producer_id() && batches.size() > 1) {
      return P::ready({{kerr::kInvalidRecord, "an idempotent produce carries one batch"}});
    }
  }
  requests_.fetch_add(1, std::memory_order_relaxed);
  for (const auto& b : batches) bytes_in_.fetch_add(b.size(), std::memory_order_relaxed);
  const int64_t now = clock_.wall_ms();
  for (auto& b : batches) {
    // The request's bytes belong to this request alone until the store has them.
    if (cfg->log_append_time) rec::set_log_append_time({b.mutable_data(), b.size()}, now);
    rec::set_partition_leader_epoch(b.mutable_data(), leader_epoch());
  }
  if (headers[0].has_producer_id()) {  // sequence checks: partition_producers.cc
    return append_idempotent(std::move(batches[0]), headers[0],
                             cfg->log_append_time ? now : headers[0].max_timestamp,
                             cfg->log_append_time ? now : -1);
  }

  struct Agg {
    std::mutex mu;
    size_t left;
    ProduceResult r;
  };
  auto agg = std::make_shared<Agg>();
  agg->left = batches.size();
  agg->r.log_append_time_ms = cfg->log_append_time ? now : -1;
  P out;
  for (size_t i = 0; i < batches.size(); ++i) {
    const rec::BatchHeader& h = headers[i];
    int64_t max_ts = cfg->log_append_time ? now : h.max_timestamp;
    store_.append(stream_, epoch_, batches[i], h.offset_count(),
                  [this, self = shared_from_this(), agg, out, i, max_ts,
                   delta = h.last_offset_delta](Result<stream::AppendResult> r) {
                    if (r.ok()) on_batch_appended(max_ts, r->base.value() + delta, r->end.value());
                    bool done = false;
                    {
                      std::lock_guard lk(agg->mu);
                      if (!r.ok() && agg->r.error.ok()) agg->r.error = from_store(r.error());
                      if (r.ok() && i == 0) agg->r.base_offset = r->base.value();
                      done = --agg->left == 0;
                    }
                    if (done) {
                      ProduceResult res = std::move(agg->r);
                      res.log_start_offset = start_.load();
                      if (!res.error.ok()) res.base_offset = -1;
                      out.set(std::move(res));
                    }
                  });
  }
  return out;
}

asio::awaitable<FetchResult> Partition::read(int64_t offset, size_t max_bytes, bool min_one) {
  FetchResult out;
  if (deleted()) {
    out.error = deleted_error(topic_, index_);
    co_return out;
  }
  requests_.fetch_add(1, std::memory_order_relaxed);
  auto cached = store_.try_read_cached(stream_, Offset(offset), max_bytes);
  Result<stream::ReadResult> r = Status(Errc::kInternal, "unset");
  if (cached) {
    r = std::move(*cached);
  } else {
    Pending<Result<stream::ReadResult>> p;
    store_.read(stream_, Offset(offset), max_bytes, p.setter());
    r = co_await p.wait();
  }
  if (!r.ok()) {
    out.error = from_store(r.error());
    out.high_watermark = end_.load();
    out.last_stable_offset = out.high_watermark;
    out.log_start_offset = start_.load();
    co_return out;
  }
  note_start(r->start.value());
  int64_t cur = end_.load();
  while (r->end.value() > cur && !end_.compare_exchange_weak(cur, r->end.value())) {
  }
  out.high_watermark = r->end.value();
  out.last_stable_offset = out.high_watermark;  // no transactions yet
  out.log_start_offset = r->start.value();
  for (auto& b : r->batches) {
    if (out.bytes + b.size() > max_bytes && !(min_one && out.batches.empty())) break;
    out.bytes += b.size();
    out.batches.push_back(std::move(b));
  }
  bytes_out_.fetch_add(out.bytes, std::memory_order_relaxed);
  co_return out;
}

asio::awaitable<OffsetResult> Partition::list_offset(int64_t ts) {
  OffsetResult out;
  if (deleted()) {
    out.error = deleted_error(topic_, index_);
    co_return out;
  }
  if (auto info = store_.info(stream_); info.ok()) {
    note_start(info->start.value());
  }
  const int64_t start = start_.load(), end = end_.load();
  out.leader_epoch = leader_epoch();
  if (ts == kEarliestTimestamp) {
    out.offset = start;
    co_return out;
  }
  if (ts == kLatestTimestamp) {
    out.offset = end;
    co_return out;
  }
  if (end <= start) {  // empty: nothing has a timestamp
    out.leader_epoch = -1;
    co_return out;
  }
  if (ts == kMaxTimestamp) {
    {
      std::lock_guard lk(mu_);
      if (max_ts_ >= 0 && max_ts_offset_ >= start) {
        out.offset = max_ts_offset_;
        out.timestamp = max_ts_;
        co_return out;
      }
    }
    // Nothing appended under this epoch: report the last batch (documented approximation).
    auto last = co_await read(end - 1, 1, true);
    if (!last.error.ok() || last.batches.empty()) {
      out.error = last.error;
      co_return out;
    }
    auto h = rec::read_header(last.batches.back().span());
    if (h.ok()) {
      out.offset = h->last_offset();
      out.timestamp = h->max_timestamp;
    }
    co_return out;
  }
  if (ts < 0) {
    out.error = {kerr::kInvalidRequest, fmt::format("invalid ListOffsets timestamp {}", ts)};
    co_return out;
  }
  Pending<Result<Offset>> p;
  store_.offset_for_timestamp(stream_, ts, p.setter());
  Result<Offset> found = co_await p.wait();
  if (!found.ok()) {
    out.error = from_store(found.error());
    co_return out;
  }
  int64_t at = std::max(found->value(), start);
  if (at >= end) {  // no record at or after ts: offset -1, timestamp -1 (Kafka v1+)
    out.leader_epoch = -1;
    co_return out;
  }
  auto got = co_await read(at, 1, true);
  if (!got.error.ok() || got.batches.empty()) {
    out.error = got.error;
    co_return out;
  }
  for (const Buf& b : got.batches) {
    auto h = rec::read_header(b.span());
    if (!h.ok() || h->max_timestamp < ts) continue;
    out.offset = std::max(h->base_offset, at);
    out.timestamp = h->max_timestamp;
    if (h->compression() == rec::Compression::kNone) {
      auto it = rec::RecordIterator::create(b);
      if (it.ok()) {
        while (auto r = it->next()) {
          if (!r->ok()) break;
          if ((*r)->offset >= at && (*r)->timestamp >= ts) {
            out.offset = (*r)->offset;
            out.timestamp = (*r)->timestamp;
            break;
          }
        }
      }
    }
    co_return out;
  }
  out.leader_epoch = -1;
  co_return out;
}

// Shale never truncates, so epochs only end when the next one begins: the end offset of this
// partition's current epoch is the high watermark, and every older epoch ended where the
// current one began (records carry the epoch they were produced under, which is <= current).
// An epoch newer than the current one is unknown: UNDEFINED_EPOCH / UNDEFINED_EPOCH_OFFSET.
OffsetResult Partition::end_offset_for_epoch(int32_t epoch) const {
  OffsetResult out;
  if (deleted()) {
    out.error = deleted_error(topic_, index_);
    return out;
  }
  if (epoch > leader_epoch() || epoch < 0) return out;
  out.leader_epoch = epoch;
  out.offset = epoch == leader_epoch() ? end_.load() : epoch_start_offset_;
  return out;
}

OffsetResult Partition::trim_blocking(int64_t offset) {
  OffsetResult out;
  if (deleted()) {
    out.error = deleted_error(topic_, index_);
    return out;
  }
  if (auto info = store_.info(stream_); info.ok()) {
    note_start(info->start.value());
    int64_t cur = end_.load();
    while (info->end.value() > cur && !end_.compare_exchange_weak(cur, info->end.value())) {
    }
  }
  int64_t hw = end_.load();
  if (offset == -1) offset = hw;
  if (offset < 0 || offset > hw) {
    out.error = {kerr::kOffsetOutOfRange,
                 fmt::format("cannot delete records of {}-{} before offset {}: the high "
                             "watermark is {}",
                             topic_, index_, offset, hw)};
    return out;
  }
  if (offset > start_.load()) {
    Status st = store_.trim(stream_, Offset(offset));
    if (!st.ok()) {
      out.error = from_store(st.error());
      return out;
    }
    note_start(offset);
  }
  out.offset = start_.load();  // the new low watermark
  return out;
}

}  // namespace shale::broker
