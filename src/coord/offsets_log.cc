#include "coord/offsets_log.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

#include "base/log.h"
#include "broker/broker.h"
#include "coord/offsets_codec.h"
#include "coord/offsets_replay.h"
#include "kafka/records/record_batch.h"

namespace shale::coord {
namespace {

using State = OffsetsLog::State;

// max.message.bytes of __consumer_offsets: bounds one snapshot batch (every live key of one
// partition; ~100 bytes per committed offset, so ~600k offsets per partition).
constexpr int64_t kSnapshotMaxBytes = 64 << 20;

asio::awaitable<void> await_append(broker::Pending<broker::ProduceResult> p,
                                   std::function<void(bool)> done) {
  broker::ProduceResult r = co_await p.wait();
  if (!r.error.ok()) {
    SHALE_LOG_WARN("coord", "__consumer_offsets append failed: {} {}", r.error.code,
                   r.error.message);
  }
  done(r.error.ok());
}

// Batches of [from, to) of one partition, read on a private io_context (blocking).
asio::awaitable<void> read_range(std::shared_ptr<broker::Partition> part, int64_t from, int64_t to,
                                 const PartitionReplay::OnBatch* on_batch, Status* st) {
  int64_t offset = from;
  while (offset < to && st->ok()) {
    broker::FetchResult fr = co_await part->read(offset, 1 << 20, true);
    if (!fr.error.ok()) {
      *st = Status(Errc::kIoError, fr.error.message);
      co_return;
    }
    if (fr.batches.empty()) break;
    for (const Buf& b : fr.batches) {
      if (b.size() < kafka::records::kHeaderSize) {
        *st = Status(Errc::kCorruption, "short batch in __consumer_offsets");
        co_return;
      }
      *st = (*on_batch)(b);
      if (!st->ok()) co_return;
      auto hdr = kafka::records::read_header(b.span());
      if (!hdr.ok()) {
        *st = hdr.error();
        co_return;
      }
      offset = std::max(offset, hdr->last_offset() + 1);
    }
  }
}

Status read_blocking(const std::shared_ptr<broker::Partition>& part, int64_t from, int64_t to,
                     const PartitionReplay::OnBatch& on_batch) {
  Status st;
  asio::io_context io;
  asio::co_spawn(io, read_range(part, from, to, &on_batch, &st), asio::detached);
  io.run();
  return st;
}

// Replays one partition's log (last snapshot + the records after it) into the coordinator.
// Blocking: control pool only.
Status replay_into(GroupCoordinator& gc, const std::shared_ptr<broker::Partition>& p,
                   PartitionReplay* replay) {
  SHALE_RETURN_IF_ERROR(
      replay->run(p->log_start_offset(), p->high_watermark(),
                  [&p](int64_t from, int64_t to, const PartitionReplay::OnBatch& on_batch) {
                    return read_blocking(p, from, to, on_batch);
                  }));
  return replay->apply_to(gc);
}

// Appends the snapshot, then trims below its base offset (on the control pool).
asio::awaitable<void> snapshot_and_trim(std::shared_ptr<broker::Partition> part, Buf batch,
                                        int64_t base, int64_t captured, int64_t live,
                                        std::shared_ptr<State> state, size_t index,
                                        OffsetsLog::CompactionGuard guard, uint64_t token) {
  std::vector<Buf> batches;  // (no braced list in a coroutine: GCC 12 rejects it)
  batches.push_back(std::move(batch));
  auto pending = part->append(std::move(batches));
  broker::ProduceResult r = co_await pending.wait();
  bool ok = r.error.ok();
  if (!ok) {
    SHALE_LOG_WARN("coord", "{}-{} snapshot append failed: {}", part->topic(), part->index(),
                   r.error.message);
  } else if (guard && guard(part->index()) != token) {
    // The partition changed hands since the capture: only its current owner, once loaded, may
    // move the log start (the snapshot stays in the log; replay is exact either way).
    SHALE_LOG_INFO("coord", "{}-{}: not trimming to {}, the partition changed hands", part->topic(),
                   part->index(), base);
  } else {
    auto t = part->trim_blocking(base);
    if (!t.error.ok()) {
      // The snapshot is in place; the next round trims (replay is exact either way).
      SHALE_LOG_WARN("coord", "{}-{} trim to {} failed: {}", part->topic(), part->index(), base,
                     t.error.message);
    } else {
      SHALE_LOG_INFO("coord", "{}-{} compacted: snapshot of {} keys, log start {}", part->topic(),
                     part->index(), live, base);
    }
  }
  std::lock_guard lk(state->mu);
  auto& ps = state->parts[index];
  ps.compacting = false;
  // After a failure too: the next attempt waits for another threshold of records (no retry
  // storm); replay is exact meanwhile, the log just grows.
  ps.since_snapshot = std::max<int64_t>(0, ps.since_snapshot - captured);
  if (ok) {
    ps.live = live;
    ++state->snapshots;
  }
}

}  // namespace

OffsetsLog::OffsetsLog(broker::Broker& broker, int32_t partitions, int64_t compact_min_records)
    : broker_(broker), partitions_(partitions), compact_min_records_(compact_min_records) {}

Result<int64_t> OffsetsLog::load_blocking(GroupCoordinator& gc, std::vector<int32_t>* replayed) {
  auto& topics = broker_.topics();
  if (topics.partitions(kOffsetsTopic).empty()) {
    broker::TopicSpec spec;
    spec.name = kOffsetsTopic;
    spec.num_partitions = partitions_;
    // The store does not compact: OffsetsLog bounds the topic itself (snapshot + trim).
    spec.configs["retention.ms"] = "-1";
    // A snapshot is one batch holding every live key of a partition.
    spec.configs["max.message.bytes"] = std::to_string(kSnapshotMaxBytes);
    auto r = topics.create_topic_blocking(spec, false);
    if (!r.error.ok() && r.error.code != broker::kerr::kTopicAlreadyExists) {
      return Error{Errc::kUnavailable, "create __consumer_offsets: " + r.error.message};
    }
  }
  auto parts = topics.partitions(kOffsetsTopic);
  if (parts.empty()) {
    // A cluster member that has not learnt the topic yet (another broker created it and this
    // one's agent has not synced topics): retry. Loading with no partitions would map every
    // group to partition `hash % 0`.
    return Error{Errc::kUnavailable, "__consumer_offsets is not known here yet"};
  }
  partitions_ = static_cast<int32_t>(parts.size());
  std::vector<PartState> stats(parts.size());
  int64_t records = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const auto& p = parts[i];
    if (!p && broker_.cluster()) continue;  // owned by another broker
    if (!p) return Error{Errc::kUnavailable, "a __consumer_offsets partition is not open"};
    PartitionReplay replay;
    SHALE_RETURN_IF_ERROR(replay_into(gc, p, &replay));
    if (replayed) replayed->push_back(static_cast<int32_t>(i));
    records += replay.records();
    stats[i].since_snapshot = replay.records();
    stats[i].live = static_cast<int64_t>(replay.live_keys());
  }
  std::lock_guard lk(state_->mu);
  state_->parts = std::move(stats);
  return records;
}

Result<int64_t> OffsetsLog::load_partition_blocking(GroupCoordinator& gc,
                                                    std::shared_ptr<broker::Partition> p) {
  PartitionReplay replay;
  SHALE_RETURN_IF_ERROR(replay_into(gc, p, &replay));
  std::lock_guard lk(state_->mu);
  const auto i = static_cast<size_t>(p->index());
  if (i < state_->parts.size()) {
    state_->parts[i].since_snapshot = replay.records();
    state_->parts[i].live = static_cast<int64_t>(replay.live_keys());
  }
  return replay.records();
}

OffsetsLog::~OffsetsLog() {
  // Writes held back by a drain that never finished (the coordinator is already gone).
  std::vector<Queued> held;
  {
    std::lock_guard lk(state_->mu);
    for (auto& ps : state_->parts) {
      for (auto& q : ps.held) held.push_back(std::move(q));
      ps.held.clear();
    }
  }
  for (auto& q : held) q.done(false);
}

void OffsetsLog::append(const std::string& group, Buf batch, int64_t records,
                        std::function<void(bool)> done) {
  const int32_t index = partition_for_group(group, partitions_);
  {
    std::unique_lock lk(state_->mu);
    if (index < 0 || static_cast<size_t>(index) >= state_->parts.size()) {
      // Not loaded yet (the coordinator refuses requests until load_blocking() returned).
      lk.unlock();
      done(false);
      return;
    }
    auto& ps = state_->parts[index];
    if (ps.draining) {  // a snapshot waits for the writes in flight: queue behind it
      ps.held.push_back({std::move(batch), records, std::move(done)});
      return;
    }
    ++ps.inflight;
    ps.since_snapshot += records;
  }
  issue(index, std::move(batch), std::move(done));
}

void OffsetsLog::issue(int32_t index, Buf batch, std::function<void(bool)> done) {
  auto slot = std::make_shared<Slot>();
  slot->done = std::move(done);
  auto part = broker_.topics().partition(kOffsetsTopic, index);
  broker::Pending<broker::ProduceResult> pending;
  {
    // Queue position and log position are taken under one lock: completions are delivered in
    // log order (see complete()).
    std::lock_guard lk(state_->mu);
    state_->parts[index].order.push_back(slot);
    if (part) pending = part->append({std::move(batch)});
  }
  if (!part) {
    complete(state_, index, slot, false);
    return;
  }
  asio::co_spawn(
      broker_.control_pool(),
      await_append(std::move(pending),
                   [state = state_, index, slot](bool ok) { complete(state, index, slot, ok); }),
      asio::detached);
}

void OffsetsLog::complete(const std::shared_ptr<State>& state, int32_t index,
                          const std::shared_ptr<Slot>& slot, bool ok) {
  std::unique_lock lk(state->mu);
  slot->completed = true;
  slot->ok = ok;
  auto& ps = state->parts[index];
  if (ps.delivering) return;  // that thread delivers this one too, in order
  ps.delivering = true;
  for (;;) {
    std::vector<std::shared_ptr<Slot>> ready;
    while (!ps.order.empty() && ps.order.front()->completed) {
      ready.push_back(std::move(ps.order.front()));
      ps.order.pop_front();
    }
    if (ready.empty()) {
      ps.delivering = false;
      return;
    }
    lk.unlock();
    // Applies each write to the coordinator's memory before it stops counting as in flight.
    for (const auto& r : ready) r->done(r->ok);
    lk.lock();
    ps.inflight -= static_cast<int>(ready.size());
  }
}

void OffsetsLog::write_offsets(
    const std::string& group,
    std::vector<std::pair<TopicPartition, std::optional<OffsetAndMetadata>>> entries,
    std::function<void(bool ok)> done) {
  const auto n = static_cast<int64_t>(entries.size());
  append(group, build_offsets_batch(group, entries, broker_.clock().wall_ms()), n, std::move(done));
}

void OffsetsLog::write_group(const std::string& group, std::optional<GroupSnapshot> snapshot,
                             std::function<void(bool ok)> done) {
  append(group, build_group_batch(group, snapshot, broker_.clock().wall_ms()), 1, std::move(done));
}

void OffsetsLog::release_held(int32_t index) {
  // Appends arriving meanwhile still queue behind these, so the partition keeps write order.
  for (;;) {
    std::vector<Queued> held;
    {
      std::lock_guard lk(state_->mu);
      auto& ps = state_->parts[index];
      if (ps.held.empty()) {
        ps.draining = false;
        return;
      }
      held.swap(ps.held);
      for (const auto& q : held) ps.since_snapshot += q.records;
      ps.inflight += static_cast<int>(held.size());
    }
    for (auto& q : held) issue(index, std::move(q.batch), std::move(q.done));
  }
}

void OffsetsLog::fail_held(int32_t index) {
  std::vector<Queued> held;
  {
    std::lock_guard lk(state_->mu);
    auto& ps = state_->parts[index];
    held.swap(ps.held);
    ps.draining = false;
  }
  for (auto& q : held) q.done(false);
}

void OffsetsLog::maintain(GroupCoordinator& gc) {
  const int32_t n = partitions_;
  for (int32_t i = 0; i < n; ++i) {
    int64_t base = 0, captured = 0;
    std::shared_ptr<broker::Partition> part;
    const uint64_t token = guard_ ? guard_(i) : 0;
    if (guard_ && token == 0) {  // not loaded here: never snapshot what memory lacks
      bool held = false;
      {
        std::lock_guard lk(state_->mu);
        if (static_cast<size_t>(i) >= state_->parts.size()) return;  // not loaded yet
        held = state_->parts[i].draining;
      }
      if (held) fail_held(i);
      continue;
    }
    {
      std::lock_guard lk(state_->mu);
      if (static_cast<size_t>(i) >= state_->parts.size()) return;  // not loaded yet
      auto& ps = state_->parts[i];
      if (ps.compacting) continue;
      if (!ps.draining) {
        if (ps.since_snapshot < std::max(compact_min_records_, ps.live)) continue;
        ps.draining = true;  // new writes are held until those in flight completed
      }
      if (ps.inflight > 0) continue;  // next tick
      part = broker_.topics().partition(kOffsetsTopic, i);
      // No write in flight: every record below the high watermark is applied in memory.
      base = part ? part->high_watermark() : 0;
      captured = ps.since_snapshot;
      ps.compacting = part != nullptr;
    }
    // Held writes go out now: they land at or after `base`, so replay applies them on top.
    release_held(i);
    if (!part) continue;
    auto groups =
        gc.export_state([i, n](const std::string& g) { return partition_for_group(g, n) == i; });
    if (guard_ && guard_(i) != token) {  // lost or re-gained during the capture: not this round
      std::lock_guard lk(state_->mu);
      state_->parts[i].compacting = false;
      continue;
    }
    int64_t live = 0;
    for (const auto& g : groups) {
      live += static_cast<int64_t>(g.offsets.size()) + (g.metadata ? 1 : 0);
    }
    Buf batch = build_snapshot_batch(base, groups, broker_.clock().wall_ms());
    asio::co_spawn(broker_.control_pool(),
                   snapshot_and_trim(std::move(part), std::move(batch), base, captured, live,
                                     state_, static_cast<size_t>(i), guard_, token),
                   asio::detached);
  }
}

}  // namespace shale::coord
