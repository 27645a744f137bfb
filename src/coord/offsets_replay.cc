#include "coord/offsets_replay.h"

#include "kafka/records/records.h"

namespace shale::coord {
namespace {

using kafka::records::BatchBuilder;
using kafka::records::RecordIterator;

// Keys and values must outlive the builder's add() calls only; BatchBuilder copies them.
void add(BatchBuilder& b, const std::string& key, const std::optional<std::string>& value,
         int64_t now_ms) {
  b.add(key, value ? std::optional<std::string_view>(*value) : std::nullopt, now_ms);
}

// Visits each record of an uncompressed batch.
template <typename Fn>
Status for_each_record(const Buf& batch, Fn&& fn) {
  SHALE_ASSIGN_OR_RETURN(auto it, RecordIterator::create(batch));
  while (auto r = it.next()) {
    if (!r->ok()) return r->error();
    SHALE_RETURN_IF_ERROR(fn(**r));
  }
  return Status();
}

}  // namespace

Buf build_offsets_batch(const std::string& group, const OffsetEntries& entries, int64_t now_ms) {
  BatchBuilder b;
  for (const auto& [tp, om] : entries) {
    add(b, encode_offset_key(group, tp),
        om ? std::optional<std::string>(encode_offset_value(*om)) : std::nullopt, now_ms);
  }
  return b.build();
}

Buf build_group_batch(const std::string& group, const std::optional<GroupSnapshot>& snapshot,
                      int64_t now_ms) {
  BatchBuilder b;
  add(b, encode_group_key(group),
      snapshot ? std::optional<std::string>(encode_group_value(*snapshot)) : std::nullopt, now_ms);
  return b.build();
}

Buf build_snapshot_batch(int64_t base_offset, const std::vector<GroupExport>& groups,
                         int64_t now_ms) {
  SnapshotMarker m;
  m.base_offset = base_offset;
  m.timestamp_ms = now_ms;
  for (const auto& g : groups) {
    m.records += static_cast<int32_t>(g.offsets.size()) + (g.metadata ? 1 : 0);
  }
  BatchBuilder b;
  add(b, encode_snapshot_key(), encode_snapshot_value(m), now_ms);
  for (const auto& g : groups) {
    if (g.metadata) add(b, encode_group_key(g.group_id), encode_group_value(*g.metadata), now_ms);
    for (const auto& [tp, om] : g.offsets) {
      add(b, encode_offset_key(g.group_id, tp), encode_offset_value(om), now_ms);
    }
  }
  return b.build();
}

Result<std::optional<SnapshotMarker>> snapshot_marker_of(const Buf& batch) {
  SHALE_ASSIGN_OR_RETURN(auto it, RecordIterator::create(batch));
  auto first = it.next();
  if (!first) return std::optional<SnapshotMarker>();
  if (!first->ok()) return first->error();
  const auto& rec = **first;
  if (!rec.key || !is_snapshot_key(*rec.key)) return std::optional<SnapshotMarker>();
  if (!rec.value) return Error{Errc::kCorruption, "snapshot marker without a value"};
  SHALE_ASSIGN_OR_RETURN(SnapshotMarker m, decode_snapshot_value(*rec.value));
  int32_t n = 0;
  while (auto r = it.next()) {
    if (!r->ok()) return r->error();
    ++n;
  }
  if (n != m.records) return Error{Errc::kCorruption, "snapshot batch record count mismatch"};
  return std::optional<SnapshotMarker>(m);
}

Status PartitionReplay::apply_batch(const Buf& batch, int64_t from, int64_t to) {
  return for_each_record(batch, [&](const kafka::records::Record& r) -> Status {
    if (r.offset < from || r.offset >= to || !r.key) return Status();
    ++records_;
    std::string key(*r.key);
    if (r.value) {
      live_[std::move(key)] = std::string(*r.value);
    } else {
      live_.erase(key);
    }
    return Status();
  });
}

Status PartitionReplay::run(int64_t start, int64_t end, const ReadFn& read) {
  // Pass 1: the last snapshot batch.
  std::optional<std::pair<int64_t, SnapshotMarker>> last;
  SHALE_RETURN_IF_ERROR(read(start, end, [&](const Buf& batch) -> Status {
    SHALE_ASSIGN_OR_RETURN(auto m, snapshot_marker_of(batch));
    SHALE_ASSIGN_OR_RETURN(auto it, RecordIterator::create(batch));
    auto first = it.next();
    if (m && first && first->ok() && (*first)->offset >= start) last.emplace((*first)->offset, *m);
    return Status();
  }));
  int64_t from = start;
  if (last) {
    const auto [at, marker] = *last;
    snapshot_at_ = at;
    bool loaded = false;
    SHALE_RETURN_IF_ERROR(read(at, at + 1, [&](const Buf& batch) -> Status {
      SHALE_ASSIGN_OR_RETURN(auto it, RecordIterator::create(batch));
      auto first = it.next();
      if (loaded || !first || !first->ok() || (*first)->offset != at) return Status();
      loaded = true;
      return for_each_record(batch, [&](const kafka::records::Record& r) -> Status {
        if (r.offset == at || !r.key || !r.value) return Status();  // the marker
        live_[std::string(*r.key)] = std::string(*r.value);
        return Status();
      });
    }));
    if (!loaded) return Error{Errc::kCorruption, "snapshot batch vanished during replay"};
    from = std::max(marker.base_offset, start);
  }
  // Pass 2: ordinary records from the snapshot's base (or the start) on, in log order.
  return read(from, end, [&](const Buf& batch) -> Status {
    SHALE_ASSIGN_OR_RETURN(auto m, snapshot_marker_of(batch));
    if (m) return Status();
    return apply_batch(batch, from, end);
  });
}

Status PartitionReplay::apply_to(GroupCoordinator& gc) const {
  std::vector<std::pair<OffsetRecordKey, const std::string*>> offsets;
  for (const auto& [k, v] : live_) {
    SHALE_ASSIGN_OR_RETURN(RecordKey key, decode_key(k));
    if (auto* ok = std::get_if<OffsetRecordKey>(&key)) {
      offsets.emplace_back(std::move(*ok), &v);
      continue;
    }
    SHALE_ASSIGN_OR_RETURN(GroupSnapshot snap, decode_group_value(v));
    gc.restore_group(std::get<GroupRecordKey>(key).group, std::move(snap));
  }
  for (const auto& [k, v] : offsets) {
    SHALE_ASSIGN_OR_RETURN(OffsetAndMetadata om, decode_offset_value(*v));
    gc.restore_offsets(k.group, k.tp, om);
  }
  return Status();
}

}  // namespace shale::coord
