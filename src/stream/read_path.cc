// StreamStoreImpl: the read paths (log cache, cold reads through the CatchUpReader, timestamp
// lookups).
#include <algorithm>
#include <future>

#include "stream/stream_store_impl.h"

namespace shale::stream {

Result<ReadResult> StreamStoreImpl::read_cached_locked(const Stream& s, Offset from,
                                                       size_t max_bytes) const {
  ReadResult out;
  out.start = s.rec.start;
  out.end = s.durable;
  auto it = std::upper_bound(s.cache.begin(), s.cache.end(), from,
                             [](Offset o, const CacheEntry& e) { return o < e.base; });
  if (it != s.cache.begin()) --it;
  size_t bytes = 0;
  for (; it != s.cache.end(); ++it) {
    if (!out.batches.empty() && bytes + it->batch.size() > max_bytes) break;
    bytes += it->batch.size();
    out.batches.push_back(it->batch);
  }
  return out;
}

std::optional<Result<ReadResult>> StreamStoreImpl::try_read_cached(StreamId id, Offset from,
                                                                   size_t max_bytes) {
  std::lock_guard lk(mu_);
  StreamPtr s = find_locked(id);
  if (!s || s->rec.state == StreamState::kDeleted) {
    return Result<ReadResult>(Errc::kNotFound, fmt::format("stream {} not found", id));
  }
  Offset end = std::max(s->durable, s->rec.committed_end);
  if (from < s->rec.start || from > end) {
    return Result<ReadResult>(
        Errc::kOutOfRange,
        fmt::format("offset {} outside [{}, {}] of stream {}", from, s->rec.start, end, id));
  }
  if (from == end) return Result<ReadResult>(ReadResult{{}, s->rec.start, end});
  if (s->cache.empty() || from < s->cache.front().base) return std::nullopt;
  return read_cached_locked(*s, from, max_bytes);
}

std::vector<objfmt::ObjectSlice> StreamStoreImpl::slices_locked(const Stream& s,
                                                                Offset from) const {
  std::vector<objfmt::ObjectSlice> out;
  auto it = s.index.upper_bound(from);
  if (it == s.index.begin()) return out;
  --it;
  if (it->second.end <= from) return out;
  // Enough slices for the read and a read-ahead window after it: by bytes when the stream's
  // objects are large, by count when they are tiny (WAL objects indexed in place can hold one
  // small batch of a stream each; 16 slices made a producer-state scan read ~12 batches per
  // read, one object after another, and left read-ahead nothing beyond the read to fetch).
  constexpr size_t kMaxSlices = 256;
  constexpr uint64_t kSliceBytes = 64 << 20;
  Offset expect = it->first;
  uint64_t bytes = 0;
  for (; it != s.index.end() && out.size() < kMaxSlices && bytes < kSliceBytes; ++it) {
    if (it->first != expect) break;  // a gap: stop (the next read continues from there)
    auto obj = object_records_.find(it->second.object);
    if (obj == object_records_.end()) break;
    out.push_back(objfmt::ObjectSlice{obj->second.key, obj->second.size, it->first, it->second.end,
                                      it->second.bytes});
    expect = it->second.end;
    bytes += it->second.bytes;
  }
  return out;
}

void StreamStoreImpl::read(StreamId id, Offset from, size_t max_bytes, ReadCallback cb) {
  auto cached = try_read_cached(id, from, max_bytes);
  if (cached) {
    cb(std::move(*cached));
    return;
  }
  std::vector<objfmt::ObjectSlice> slices;
  Offset start, end;
  {
    std::lock_guard lk(mu_);
    StreamPtr s = find_locked(id);
    if (!s) {
      cb(Status(Errc::kNotFound, "stream vanished"));
      return;
    }
    slices = slices_locked(*s, from);
    start = s->rec.start;
    end = std::max(s->durable, s->rec.committed_end);
    stats_.cold_reads++;
  }
  if (slices.empty()) {
    cb(Status(Errc::kInternal, fmt::format("no object holds offset {} of stream {}", from, id)));
    return;
  }
  auto shared_cb = std::make_shared<ReadCallback>(std::move(cb));
  Status st = reader_->read(id, from, max_bytes, std::move(slices),
                            [shared_cb, start, end](Result<objfmt::CatchUpResult> r) {
                              if (!r.ok()) {
                                (*shared_cb)(Status(r.error()));
                                return;
                              }
                              ReadResult out{{}, start, end};
                              out.batches.reserve(r->batches.size());
                              for (auto& b : r->batches) out.batches.push_back(std::move(b.batch));
                              (*shared_cb)(std::move(out));
                            });
  if (!st.ok()) (*shared_cb)(st);
}

Result<ReadResult> StreamStoreImpl::read_sync(StreamId id, Offset from, size_t max_bytes) {
  std::promise<Result<ReadResult>> p;
  auto f = p.get_future();
  read(id, from, max_bytes, [&p](Result<ReadResult> r) { p.set_value(std::move(r)); });
  return f.get();
}

void StreamStoreImpl::offset_for_timestamp(StreamId id, int64_t ts_ms,
                                           std::function<void(Result<Offset>)> cb) {
  std::vector<objfmt::ObjectSlice> slices;
  Offset found{-1}, start, end;
  {
    std::lock_guard lk(mu_);
    StreamPtr s = find_locked(id);
    if (!s || s->rec.state == StreamState::kDeleted) {
      cb(Status(Errc::kNotFound, fmt::format("stream {} not found", id)));
      return;
    }
    start = s->rec.start;
    end = std::max(s->durable, s->rec.committed_end);
    for (auto& [first, sl] : s->index) {
      if (sl.end <= start || sl.max_ts < ts_ms) continue;
      auto obj = object_records_.find(sl.object);
      if (obj != object_records_.end()) {
        slices.push_back(objfmt::ObjectSlice{obj->second.key, obj->second.size, first, sl.end});
      }
      break;
    }
    if (slices.empty()) {
      for (auto& e : s->cache) {
        if (e.end() > start && e.max_ts >= ts_ms) {
          found = std::max(e.base, start);
          break;
        }
      }
      if (found.value() < 0) found = end;
    }
  }
  if (slices.empty()) {
    cb(found);
    return;
  }
  Offset fallback = slices.front().end;
  auto shared_cb = std::make_shared<std::function<void(Result<Offset>)>>(std::move(cb));
  Status st = reader_->offset_for_timestamp(
      id, ts_ms, std::move(slices), [shared_cb, start, fallback](Result<std::optional<Offset>> r) {
        if (!r.ok()) return (*shared_cb)(Status(r.error()));
        (*shared_cb)(std::max(start, r->value_or(fallback)));
      });
  if (!st.ok()) (*shared_cb)(st);
}

}  // namespace shale::stream
