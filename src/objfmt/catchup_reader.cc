#include "objfmt/catchup_reader.h"

#include <algorithm>
#include <atomic>
#include <future>

#include "base/log.h"
#include "objfmt/layout_cache.h"

namespace shale::objfmt {
namespace {

using BlockPtr = std::shared_ptr<const CachedBlock>;
// Read-ahead windows stop doubling here; the byte bound (max_readahead_bytes) usually binds first.
constexpr size_t kMaxWindowBlocks = 4096;
// A read-ahead window is fetched in GETs of at most this many bytes (at least one block), so that
// several pool threads fetch one window in parallel.
constexpr uint64_t kMaxGetBytes = 2 << 20;
using BlockFuture = std::shared_future<Result<BlockPtr>>;

struct BlockKey {
  std::string object;
  uint64_t position;
  bool operator==(const BlockKey&) const = default;
};
struct BlockKeyHash {
  size_t operator()(const BlockKey& k) const {
    return std::hash<std::string>()(k.object) ^ (k.position * 0x9E3779B97F4A7C15ULL);
  }
};

struct PosKey {
  StreamId stream;
  Offset offset;
  bool operator<(const PosKey& o) const {
    return stream != o.stream ? stream < o.stream : offset < o.offset;
  }
};

// Read-ahead state of one consumer, remembered under the position where its last read ended.
struct RaState {
  size_t window = 1;  // blocks per prefetch
  Offset trigger{0};  // prefetch again once a read ends past this offset
  Offset until{0};    // prefetched up to here (exclusive)
};

// A run of adjacent blocks of one object, fetched with one range GET.
struct Run {
  std::string key;
  std::vector<BlockIndexEntry> blocks;
};

size_t avg_batch_size(const BlockIndexEntry& e) {
  return e.size / std::max<uint32_t>(e.batch_count, 1) - kRecordHeaderSize;
}

}  // namespace

struct CatchUpReader::Impl {
  Impl(objstore::ObjectStore& s, BlockCache& c, Options o)
      : store(s), cache(c), opts(o), layouts(o.layout_cache_entries) {}

  objstore::ObjectStore& store;
  BlockCache& cache;
  const Options opts;
  LayoutCache layouts;

  // Work queues; guarded by mu.
  std::mutex mu;
  std::condition_variable work_cv, idle_cv;
  std::deque<std::function<void(bool closed)>> reads;
  std::deque<Run> prefetches;
  size_t running = 0;
  bool stopped = false;
  bool joined = false;               // every pool thread has exited
  std::mutex join_mu;                // serializes stop()
  std::vector<std::thread> threads;  // written by the constructor and stop() (under join_mu)

  // Blocks being fetched; guarded by inflight_mu.
  std::mutex inflight_mu;
  std::unordered_map<BlockKey, BlockFuture, BlockKeyHash> inflight;

  // Read-ahead states; guarded by ra_mu. ra_order is FIFO for the bound.
  std::mutex ra_mu;
  std::map<PosKey, RaState> ra;
  std::deque<PosKey> ra_order;

  std::atomic<uint64_t> n_reads{0}, n_seq{0}, n_hits{0}, n_misses{0}, n_gets{0}, n_pf_gets{0},
      n_pf_blocks{0}, n_pf_dropped{0}, n_last_window{0};

  void worker();
  Status enqueue(std::function<void(bool)> task);
  Result<CatchUpResult> serve(StreamId stream, Offset from, size_t max_bytes,
                              const std::vector<ObjectSlice>& slices);
  Result<std::optional<Offset>> find_timestamp(StreamId stream, int64_t ts,
                                               const std::vector<ObjectSlice>& slices);
  Result<BlockPtr> get_block(const std::string& key, const BlockIndexEntry& e);
  Result<std::vector<BlockPtr>> fetch_run(const std::string& key,
                                          const std::vector<BlockIndexEntry>& blocks);
  size_t plan_prefetch(StreamId stream, const std::vector<ObjectSlice>& slices, Offset from,
                       size_t window, Offset* until);
  void run_prefetch(const Run& run);
  std::optional<RaState> take_state(PosKey k);
  void store_state(PosKey k, RaState s);
};

// ---------------------------------------------------------------------------------------------
// Pool

void CatchUpReader::Impl::worker() {
  std::unique_lock lk(mu);
  for (;;) {
    work_cv.wait(lk, [&] { return stopped || !reads.empty() || !prefetches.empty(); });
    if (!reads.empty()) {
      auto task = std::move(reads.front());
      reads.pop_front();
      const bool closed = stopped;
      running++;
      lk.unlock();
      task(closed);
      lk.lock();
      running--;
    } else if (!prefetches.empty() && !stopped) {
      Run run = std::move(prefetches.front());
      prefetches.pop_front();
      running++;
      lk.unlock();
      run_prefetch(run);
      lk.lock();
      running--;
    } else if (stopped) {
      prefetches.clear();
      idle_cv.notify_all();
      return;
    }
    if (reads.empty() && prefetches.empty() && running == 0) idle_cv.notify_all();
  }
}

Status CatchUpReader::Impl::enqueue(std::function<void(bool)> task) {
  std::lock_guard lk(mu);
  if (stopped) return Status(Errc::kClosed, "catch-up reader stopped");
  if (reads.size() >= opts.queue_capacity) {
    return Status(Errc::kResourceExhausted,
                  fmt::format("catch-up read queue full ({} reads)", reads.size()));
  }
  reads.push_back(std::move(task));
  work_cv.notify_one();
  return Status();
}

CatchUpReader::CatchUpReader(objstore::ObjectStore& store, BlockCache& cache, Options opts)
    : impl_(std::make_unique<Impl>(store, cache, opts)) {
  const size_t n = std::max<size_t>(opts.threads, 1);
  for (size_t i = 0; i < n; i++) impl_->threads.emplace_back([this] { impl_->worker(); });
}

CatchUpReader::~CatchUpReader() {
  stop();
}

void CatchUpReader::stop() {
  std::lock_guard join_lk(impl_->join_mu);
  {
    std::lock_guard lk(impl_->mu);
    if (impl_->joined) return;
    impl_->stopped = true;
    impl_->work_cv.notify_all();
  }
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  std::lock_guard lk(impl_->mu);
  impl_->joined = true;
  impl_->idle_cv.notify_all();
}

void CatchUpReader::wait_idle() {
  std::unique_lock lk(impl_->mu);
  impl_->idle_cv.wait(lk, [&] {
    return (impl_->reads.empty() && impl_->prefetches.empty() && impl_->running == 0) ||
           impl_->joined;
  });
}
Status CatchUpReader::read(StreamId stream, Offset from, size_t max_bytes,
                           std::vector<ObjectSlice> slices, CatchUpCallback cb) {
  if (slices.empty()) return Status(Errc::kInvalidArgument, "read with no object slices");
  auto sl = std::make_shared<const std::vector<ObjectSlice>>(std::move(slices));
  Impl* im = impl_.get();
  return im->enqueue([im, stream, from, max_bytes, sl, cb = std::move(cb)](bool closed) {
    if (closed) {
      cb(Error{Errc::kClosed, "catch-up reader stopped"});
      return;
    }
    im->n_reads.fetch_add(1, std::memory_order_relaxed);
    std::optional<RaState> st = im->take_state({stream, from});
    const bool sequential = st.has_value();
    if (sequential) im->n_seq.fetch_add(1, std::memory_order_relaxed);
    RaState s = st.value_or(RaState{im->opts.readahead_start_blocks, from, from});
    auto res = im->serve(stream, from, max_bytes, *sl);
    if (!res.ok() || res->batches.empty()) {
      cb(std::move(res));
      return;
    }
    const Offset next = res->next;
    // Decide the read-ahead before the callback so the consumer's next read finds the state.
    bool prefetch = false;
    Offset pf_start = std::max(next, s.until);
    if (!sequential || next > s.trigger) {
      if (sequential) {
        s.window = std::clamp<size_t>(s.window * 2, 1, kMaxWindowBlocks);
      } else {
        s.window = std::max<size_t>(im->opts.readahead_start_blocks, 1);
      }
      prefetch = true;
      s.trigger = pf_start;
    }
    // A later read racing with the plan below sees a conservative `until`; the plan skips
    // cached and in-flight blocks, so no block is fetched twice.
    im->store_state({stream, next}, s);
    cb(std::move(res));
    if (prefetch) {
      Offset until = pf_start;
      const size_t planned = im->plan_prefetch(stream, *sl, pf_start, s.window, &until);
      im->n_last_window.store(planned, std::memory_order_relaxed);
      std::lock_guard lk(im->ra_mu);
      auto it = im->ra.find({stream, next});
      if (it != im->ra.end()) it->second.until = std::max(it->second.until, until);
    }
  });
}

Status CatchUpReader::offset_for_timestamp(StreamId stream, int64_t ts_ms,
                                           std::vector<ObjectSlice> slices, TimestampCallback cb) {
  auto sl = std::make_shared<const std::vector<ObjectSlice>>(std::move(slices));
  Impl* im = impl_.get();
  return im->enqueue([im, stream, ts_ms, sl, cb = std::move(cb)](bool closed) {
    if (closed) {
      cb(Error{Errc::kClosed, "catch-up reader stopped"});
      return;
    }
    cb(im->find_timestamp(stream, ts_ms, *sl));
  });
}

CatchUpStats CatchUpReader::stats() const {
  const Impl& im = *impl_;
  CatchUpStats s;
  s.reads = im.n_reads.load();
  s.sequential_reads = im.n_seq.load();
  s.block_hits = im.n_hits.load();
  s.block_misses = im.n_misses.load();
  s.gets = im.n_gets.load();
  s.layout_gets = im.layouts.loads();
  s.prefetch_gets = im.n_pf_gets.load();
  s.prefetch_blocks = im.n_pf_blocks.load();
  s.prefetch_dropped = im.n_pf_dropped.load();
  s.last_window_blocks = im.n_last_window.load();
  return s;
}

Result<std::shared_ptr<const ObjectLayout>> CatchUpReader::layout(const std::string& key,
                                                                  uint64_t object_size) {
  SHALE_ASSIGN_OR_RETURN(auto l, impl_->layouts.get_or_load(impl_->store, key, object_size));
  return std::shared_ptr<const ObjectLayout>(l, &l->layout);
}

// ---------------------------------------------------------------------------------------------
// Read-ahead state

std::optional<RaState> CatchUpReader::Impl::take_state(PosKey k) {
  std::lock_guard lk(ra_mu);
  auto it = ra.find(k);
  if (it == ra.end()) return std::nullopt;
  RaState s = it->second;
  ra.erase(it);
  return s;
}

void CatchUpReader::Impl::store_state(PosKey k, RaState s) {
  std::lock_guard lk(ra_mu);
  if (ra.insert_or_assign(k, s).second) ra_order.push_back(k);
  while (ra_order.size() > std::max<size_t>(opts.position_entries, 1)) {
    ra.erase(ra_order.front());  // may already be gone (taken); erase is a no-op then
    ra_order.pop_front();
  }
}

// ---------------------------------------------------------------------------------------------
// Blocks

Result<std::vector<BlockPtr>> CatchUpReader::Impl::fetch_run(
    const std::string& key, const std::vector<BlockIndexEntry>& blocks) {
  const uint64_t begin = blocks.front().position;
  const uint64_t end = blocks.back().position + blocks.back().size;
  n_gets.fetch_add(1, std::memory_order_relaxed);
  SHALE_ASSIGN_OR_RETURN(objstore::GetResult got,
                         store.get(key, objstore::ByteRange::at(begin, end - begin)));
  if (got.data.size() != end - begin) {
    return Error{Errc::kCorruption, fmt::format("object {}: range GET at byte {} returned {} of "
                                                "{} bytes",
                                                key, begin, got.data.size(), end - begin)};
  }
  std::vector<BlockPtr> out;
  for (const BlockIndexEntry& e : blocks) {
    // Blocks of one GET share its buffer (no copy): the buffer is freed when the last of them
    // is evicted, so memory can exceed the cache bound by up to one GET (kMaxGetBytes) per run
    // whose blocks are only partly evicted. LRU order usually evicts a run's blocks together.
    Buf raw = got.data.slice(e.position - begin, e.size);
    auto dec = decode_block(raw, e);
    if (!dec.ok()) {
      return Error{Errc::kCorruption, fmt::format("object {}: {}", key, dec.error().message)};
    }
    auto cb = std::make_shared<CachedBlock>();
    cb->entry = e;
    cb->raw = raw;
    cb->batches = std::move(*dec);
    cache.put(key, e.position, cb);
    out.push_back(std::move(cb));
  }
  return out;
}

Result<BlockPtr> CatchUpReader::Impl::get_block(const std::string& key, const BlockIndexEntry& e) {
  if (auto hit = cache.get(key, e.position)) {
    n_hits.fetch_add(1, std::memory_order_relaxed);
    return hit;
  }
  BlockKey bk{key, e.position};
  std::promise<Result<BlockPtr>> promise;
  std::optional<BlockFuture> running_fetch;
  {
    std::lock_guard lk(inflight_mu);
    auto it = inflight.find(bk);
    if (it != inflight.end()) {
      running_fetch = it->second;
    } else if (auto hit = cache.peek(key, e.position)) {  // a fetch finished in between
      n_hits.fetch_add(1, std::memory_order_relaxed);
      return hit;
    } else {
      inflight.emplace(bk, promise.get_future().share());
    }
  }
  if (running_fetch) {
    // Served by a fetch (a prefetch) already running on another pool thread. If that failed
    // (say, a transient store error), fetch the block ourselves.
    Result<BlockPtr> r = running_fetch->get();
    if (r.ok()) {
      n_hits.fetch_add(1, std::memory_order_relaxed);
      return r;
    }
    std::lock_guard lk(inflight_mu);
    if (inflight.count(bk)) return r;  // someone else is already retrying; report the error
    inflight.emplace(bk, promise.get_future().share());
  }
  n_misses.fetch_add(1, std::memory_order_relaxed);
  auto res = fetch_run(key, {e});
  Result<BlockPtr> one = res.ok() ? Result<BlockPtr>(res->front()) : Result<BlockPtr>(res.error());
  promise.set_value(one);
  std::lock_guard lk(inflight_mu);
  inflight.erase(bk);
  return one;
}

// ---------------------------------------------------------------------------------------------
// Serving reads

Result<CatchUpResult> CatchUpReader::Impl::serve(StreamId stream, Offset from, size_t max_bytes,
                                                 const std::vector<ObjectSlice>& slices) {
  CatchUpResult out;
  out.next = from;
  size_t i = 0;
  while (i < slices.size() && slices[i].end <= from) i++;
  if (i == slices.size()) return out;  // nothing at or after `from` in these slices
  if (slices[i].start > from) {
    return Error{Errc::kOutOfRange,
                 fmt::format("stream {}: offset {} is before the first object "
                             "slice [{}, {}) of {}",
                             stream, from, slices[i].start, slices[i].end, slices[i].key)};
  }
  Offset cursor = from;
  bool full = false;
  for (; i < slices.size() && !full; i++) {
    const ObjectSlice& sl = slices[i];
    if (!out.batches.empty() && sl.start > cursor) break;  // a gap between slices
    SHALE_ASSIGN_OR_RETURN(auto layout, layouts.get_or_load(store, sl.key, sl.object_size));
    auto [lo, hi] = layout->blocks_after(stream, std::max(cursor, sl.start));
    if (lo == hi || layout->at(lo).start >= sl.end) {
      if (out.batches.empty()) {
        return Error{Errc::kCorruption,
                     fmt::format("object {} holds no data of stream {} in [{}, {})", sl.key, stream,
                                 std::max(cursor, sl.start), sl.end)};
      }
      break;
    }
    for (size_t b = lo; b < hi && !full; b++) {
      const BlockIndexEntry& e = layout->at(b);
      if (e.start >= sl.end) break;
      if (!out.batches.empty() && out.bytes + avg_batch_size(e) > max_bytes) {
        full = true;  // do not fetch a block whose batches would (on average) not fit
        break;
      }
      SHALE_ASSIGN_OR_RETURN(BlockPtr block, get_block(sl.key, e));
      for (const DecodedBatch& d : block->batches) {
        if (d.end() <= cursor) continue;
        if (d.base >= sl.end) break;
        if (!out.batches.empty()) {
          if (d.base < cursor) continue;  // overlaps what was returned (overlapping objects)
          if (out.bytes + d.batch.size() > max_bytes) {
            full = true;
            break;
          }
        }
        out.bytes += d.batch.size();
        cursor = d.end();
        out.batches.push_back(d);
      }
    }
    if (!full && cursor < sl.end) break;  // the object ended before its slice did
  }
  out.next = cursor;
  return out;
}

Result<std::optional<Offset>> CatchUpReader::Impl::find_timestamp(
    StreamId stream, int64_t ts, const std::vector<ObjectSlice>& slices) {
  for (const ObjectSlice& sl : slices) {
    SHALE_ASSIGN_OR_RETURN(auto layout, layouts.get_or_load(store, sl.key, sl.object_size));
    auto [lo, hi] = layout->blocks_after(stream, sl.start);
    for (size_t b = lo; b < hi; b++) {
      const BlockIndexEntry& e = layout->at(b);
      if (e.start >= sl.end) break;
      if (e.max_timestamp < ts) continue;
      SHALE_ASSIGN_OR_RETURN(BlockPtr block, get_block(sl.key, e));
      for (const DecodedBatch& d : block->batches) {
        if (d.end() <= sl.start || d.base >= sl.end) continue;
        if (d.max_timestamp >= ts) return std::optional<Offset>(std::max(d.base, sl.start));
      }
    }
  }
  return std::optional<Offset>();
}

// ---------------------------------------------------------------------------------------------
// Prefetch

size_t CatchUpReader::Impl::plan_prefetch(StreamId stream, const std::vector<ObjectSlice>& slices,
                                          Offset from, size_t window, Offset* until) {
  size_t blocks = 0;
  bool byte_bound = false;
  uint64_t bytes = 0;
  std::vector<Run> runs;
  for (const ObjectSlice& sl : slices) {
    if (sl.end <= from) continue;
    if (blocks >= window || byte_bound) break;
    auto layout = layouts.get_or_load(store, sl.key, sl.object_size);
    if (!layout.ok()) {
      SHALE_LOG_WARN("objfmt", "read-ahead: layout of {}: {}", sl.key, layout.error().to_string());
      break;
    }
    const CachedLayout& l = **layout;
    auto [lo, hi] = l.blocks_after(stream, std::max(from, sl.start));
    uint64_t run_end = UINT64_MAX;
    uint64_t run_bytes = 0;
    for (size_t b = lo; b < hi && blocks < window; b++) {
      const BlockIndexEntry& e = l.at(b);
      if (e.start >= sl.end) break;
      if (blocks > 0 && bytes + e.size > opts.max_readahead_bytes) {
        byte_bound = true;  // the byte bound ends the window
        break;
      }
      blocks++;
      bytes += e.size;
      *until = std::max(*until, std::min(e.end, sl.end));
      if (cache.contains(sl.key, e.position)) {
        run_end = UINT64_MAX;
        continue;
      }
      if (run_end != e.position || run_bytes + e.size > kMaxGetBytes) {
        runs.push_back(Run{sl.key, {}});
        run_bytes = 0;
      }
      run_bytes += e.size;
      runs.back().blocks.push_back(e);
      run_end = e.position + e.size;
    }
  }
  std::lock_guard lk(mu);
  for (Run& r : runs) {
    if (stopped) break;
    if (prefetches.size() >= opts.prefetch_queue_capacity) {
      n_pf_dropped.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    prefetches.push_back(std::move(r));
    work_cv.notify_one();
  }
  return blocks;
}

void CatchUpReader::Impl::run_prefetch(const Run& run) {
  // Claim the blocks nobody has cached or is fetching; fetch each adjacent claimed stretch.
  std::vector<std::vector<BlockIndexEntry>> stretches;
  std::vector<std::promise<Result<BlockPtr>>> promises;
  std::vector<BlockKey> claimed;
  {
    std::lock_guard lk(inflight_mu);
    uint64_t end = UINT64_MAX;
    for (const BlockIndexEntry& e : run.blocks) {
      BlockKey bk{run.key, e.position};
      if (inflight.count(bk) || cache.contains(run.key, e.position)) {
        end = UINT64_MAX;
        continue;
      }
      promises.emplace_back();
      inflight.emplace(bk, promises.back().get_future().share());
      claimed.push_back(bk);
      if (end != e.position) stretches.emplace_back();
      stretches.back().push_back(e);
      end = e.position + e.size;
    }
  }
  size_t p = 0;
  for (const auto& st : stretches) {
    n_pf_gets.fetch_add(1, std::memory_order_relaxed);
    n_pf_blocks.fetch_add(st.size(), std::memory_order_relaxed);
    auto res = fetch_run(run.key, st);
    if (!res.ok()) {
      SHALE_LOG_WARN("objfmt", "read-ahead of {} at byte {}: {}", run.key, st.front().position,
                     res.error().to_string());
    }
    for (size_t k = 0; k < st.size(); k++, p++) {
      promises[p].set_value(res.ok() ? Result<BlockPtr>((*res)[k]) : Result<BlockPtr>(res.error()));
    }
  }
  std::lock_guard lk(inflight_mu);
  for (const BlockKey& bk : claimed) inflight.erase(bk);
}

}  // namespace shale::objfmt
