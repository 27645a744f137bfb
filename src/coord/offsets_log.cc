#include "coord/offsets_log.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

#include "base/log.h"
#include "broker/broker.h"
#include "coord/offsets_codec.h"
#include "kafka/records/records.h"

namespace shale::coord {
namespace {

using kafka::records::BatchBuilder;
using kafka::records::Record;
using kafka::records::RecordIterator;

asio::awaitable<void> await_append(broker::Pending<broker::ProduceResult> p,
                                   std::function<void(bool)> done) {
  broker::ProduceResult r = co_await p.wait();
  if (!r.error.ok()) {
    SHALE_LOG_WARN("coord", "__consumer_offsets append failed: {} {}", r.error.code,
                   r.error.message);
  }
  done(r.error.ok());
}

struct ReplayStats {
  int64_t records = 0;
  Status status;
};

void apply_record(GroupCoordinator& gc, const Record& rec, ReplayStats& st) {
  if (!rec.key) return;
  auto key = decode_key(*rec.key);
  if (!key.ok()) {
    st.status = key.error();
    return;
  }
  ++st.records;
  if (auto* ok = std::get_if<OffsetRecordKey>(&*key)) {
    if (!rec.value) {
      gc.restore_offsets(ok->group, ok->tp, std::nullopt);
      return;
    }
    auto v = decode_offset_value(*rec.value);
    if (!v.ok()) {
      st.status = v.error();
      return;
    }
    gc.restore_offsets(ok->group, ok->tp, *v);
  } else {
    const auto& gk = std::get<GroupRecordKey>(*key);
    if (!rec.value) {
      gc.restore_group(gk.group, std::nullopt);
      return;
    }
    auto v = decode_group_value(*rec.value);
    if (!v.ok()) {
      st.status = v.error();
      return;
    }
    gc.restore_group(gk.group, std::move(*v));
  }
}

asio::awaitable<void> replay_partition(std::shared_ptr<broker::Partition> part,
                                       GroupCoordinator* gc, ReplayStats* st) {
  int64_t offset = part->log_start_offset();
  const int64_t end = part->high_watermark();
  while (offset < end && st->status.ok()) {
    broker::FetchResult fr = co_await part->read(offset, 1 << 20, true);
    if (!fr.error.ok()) {
      st->status = Error{Errc::kIoError, fr.error.message};
      co_return;
    }
    if (fr.batches.empty()) break;
    for (const Buf& b : fr.batches) {
      auto it = RecordIterator::create(b);
      if (!it.ok()) {
        st->status = it.error();
        co_return;
      }
      while (auto r = it->next()) {
        if (!r->ok()) {
          st->status = r->error();
          co_return;
        }
        if ((*r)->offset >= offset) apply_record(*gc, **r, *st);
        offset = std::max(offset, (*r)->offset + 1);
      }
    }
  }
}

}  // namespace

OffsetsLog::OffsetsLog(broker::Broker& broker, int32_t partitions)
    : broker_(broker), partitions_(partitions) {}

Result<int64_t> OffsetsLog::load_blocking(GroupCoordinator& gc) {
  auto& topics = broker_.topics();
  if (topics.partitions(kOffsetsTopic).empty()) {
    broker::TopicSpec spec;
    spec.name = kOffsetsTopic;
    spec.num_partitions = partitions_;
    // No compaction in the store yet: keep every record; replay keeps the last per key.
    spec.configs["retention.ms"] = "-1";
    auto r = topics.create_topic_blocking(spec, false);
    if (!r.error.ok() && r.error.code != broker::kerr::kTopicAlreadyExists) {
      return Error{Errc::kUnavailable, "create __consumer_offsets: " + r.error.message};
    }
  }
  auto parts = topics.partitions(kOffsetsTopic);
  partitions_ = static_cast<int32_t>(parts.size());
  ReplayStats st;
  asio::io_context io;
  for (auto& p : parts) {
    if (!p && broker_.cluster()) continue;  // owned by another broker
    if (!p) return Error{Errc::kUnavailable, "a __consumer_offsets partition is not open"};
    asio::co_spawn(io, replay_partition(p, &gc, &st), asio::detached);
    io.run();
    io.restart();
    if (!st.status.ok()) return st.status.error();
  }
  return st.records;
}

Result<int64_t> OffsetsLog::load_partition_blocking(GroupCoordinator& gc,
                                                    std::shared_ptr<broker::Partition> part) {
  ReplayStats st;
  asio::io_context io;
  asio::co_spawn(io, replay_partition(std::move(part), &gc, &st), asio::detached);
  io.run();
  if (!st.status.ok()) return st.status.error();
  return st.records;
}

void OffsetsLog::append(const std::string& group, Buf batch, std::function<void(bool)> done) {
  auto part = broker_.topics().partition(kOffsetsTopic, partition_for_group(group, partitions_));
  if (!part) {
    done(false);
    return;
  }
  auto pending = part->append({std::move(batch)});
  asio::co_spawn(broker_.control_pool(), await_append(std::move(pending), std::move(done)),
                 asio::detached);
}

void OffsetsLog::write_offsets(
    const std::string& group,
    std::vector<std::pair<TopicPartition, std::optional<OffsetAndMetadata>>> entries,
    std::function<void(bool ok)> done) {
  BatchBuilder b;
  const int64_t now = broker_.clock().wall_ms();
  std::vector<std::string> keys, values;  // the builder copies; keep them alive meanwhile
  for (auto& [tp, om] : entries) {
    keys.push_back(encode_offset_key(group, tp));
    values.push_back(om ? encode_offset_value(*om) : std::string());
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    b.add(keys[i], entries[i].second ? std::optional<std::string_view>(values[i]) : std::nullopt,
          now);
  }
  append(group, b.build(), std::move(done));
}

void OffsetsLog::write_group(const std::string& group, std::optional<GroupSnapshot> snapshot,
                             std::function<void(bool ok)> done) {
  BatchBuilder b;
  std::string key = encode_group_key(group);
  std::string value = snapshot ? encode_group_value(*snapshot) : std::string();
  b.add(key, snapshot ? std::optional<std::string_view>(value) : std::nullopt,
        broker_.clock().wall_ms());
  append(group, b.build(), std::move(done));
}

}  // namespace shale::coord
