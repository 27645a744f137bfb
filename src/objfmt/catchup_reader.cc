#include "objfmt/catchup_reader.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "base/log.h"
#include "objfmt/catchup_reader_impl.h"

namespace shale::objfmt {

using namespace catchup_detail;  // NOLINT(google-build-using-namespace): this file implements it
namespace {

size_t avg_batch_size(const BlockIndexEntry& e) {
  return e.size / std::max<uint32_t>(e.batch_count, 1) - kRecordHeaderSize;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Pool

void CatchUpReader::Impl::name_this_thread(const char* name) const {
  pthread_setname_np(pthread_self(), name);
  if (opts.thread_nice != 0) {
    // Linux: a thread id names one thread, so only this pool thread changes priority.
    if (setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), opts.thread_nice) != 0) {
      SHALE_LOG_WARN("objfmt", "{} thread: setpriority({}) failed: {}", name, opts.thread_nice,
                     std::strerror(errno));
    }
  }
}

void CatchUpReader::Impl::worker() {
  name_this_thread("cold-read");
  std::unique_lock lk(mu);
  for (;;) {
    work_cv.wait(lk, [&] { return stopped || !reads.empty(); });
    if (!reads.empty()) {
      auto task = std::move(reads.front());
      reads.pop_front();
      const bool closed = stopped;
      running++;
      lk.unlock();
      task(closed);
      lk.lock();
      running--;
    } else {  // stopped
      idle_cv.notify_all();
      return;
    }
    if (idle_locked()) idle_cv.notify_all();
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
  // Read-ahead holds at most n x fetch_parallelism helpers; one read's fetch_runs() finds
  // fetch_parallelism - 1 more (Impl::fetchers).
  const size_t par = std::max<size_t>(opts.fetch_parallelism, 1);
  const size_t helpers = n * par + par - 1;
  for (size_t i = 0; i < helpers; i++) {
    impl_->fetchers.emplace_back([this] { impl_->fetcher(); });
  }
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
  {
    // After the pool: a read in fetch_runs() may still be waiting for a helper.
    std::lock_guard lk(impl_->fetch_mu);
    impl_->fetch_stopped = true;
    impl_->fetch_cv.notify_all();
  }
  for (auto& t : impl_->fetchers) t.join();
  impl_->fetchers.clear();
  std::lock_guard lk(impl_->mu);
  impl_->joined = true;
  impl_->idle_cv.notify_all();
}

void CatchUpReader::wait_idle() {
  std::unique_lock lk(impl_->mu);
  impl_->idle_cv.wait(lk, [&] { return impl_->idle_locked() || impl_->joined; });
}
Status CatchUpReader::read(StreamId stream, Offset from, size_t max_bytes,
                           std::vector<ObjectSlice> slices, CatchUpCallback cb) {
  if (slices.empty()) return Status(Errc::kInvalidArgument, "read with no object slices");
  auto sl = std::make_shared<const std::vector<ObjectSlice>>(std::move(slices));
  Impl* im = impl_.get();
  const auto queued = std::chrono::steady_clock::now();
  return im->enqueue([im, stream, from, max_bytes, sl, queued, cb = std::move(cb)](bool closed) {
    if (closed) {
      cb(Error{Errc::kClosed, "catch-up reader stopped"});
      return;
    }
    const auto started = std::chrono::steady_clock::now();
    im->us_queued.fetch_add(micros_since(queued), std::memory_order_relaxed);
    im->n_reads.fetch_add(1, std::memory_order_relaxed);
    std::optional<RaState> st = im->take_state({stream, from});
    const bool sequential = st.has_value();
    if (sequential) im->n_seq.fetch_add(1, std::memory_order_relaxed);
    RaState s = st.value_or(RaState{im->opts.readahead_start_blocks, from, from,
                                    im->next_consumer.fetch_add(1, std::memory_order_relaxed)});
    std::vector<PassedBlock> passed;
    auto res = im->serve(stream, from, max_bytes, *sl,
                         sequential && im->opts.drop_behind ? &passed : nullptr);
    if (!res.ok() || res->batches.empty()) {
      cb(std::move(res));
      return;
    }
    const Offset next = res->next;
    // Decide the read-ahead before the callback so the consumer's next read finds the state.
    // A window is planned again once the consumer has read a quarter of the last one
    // (replan_at). Planning only after it passed the whole window's start left every second
    // read of a consumer whose reads are half a window waiting for a window planned just before
    // it arrived. At half the window, the read that reached it usually waited for a GET just
    // past it first, and the GETs in flight drained meanwhile (BENCHMARKS.md section 5j).
    // Planning after every read sent one small GET per small read. The plan skips cached blocks
    // and blocks being fetched.
    // The window doubles once, at the first sequential read, and from the second it is as large
    // as the bound allows. Doubling all the way (until 2026-11-27) took ~6 GET latencies to
    // reach the GETs in flight a consumer may have: a 256 MiB catch-up from a store with 40 ms
    // GETs spent a quarter of its time ramping up (BENCHMARKS.md section 5l). Jumping at the
    // first sequential read sized the window before the other consumers starting with it had
    // read twice and counted toward the cache share: the windows outgrew the cache.
    const bool prefetch = !sequential || next >= s.trigger;
    const size_t start = std::max<size_t>(im->opts.readahead_start_blocks, 1);
    if (prefetch && sequential) {
      s.window = s.window > start ? kMaxWindowBlocks : std::min(2 * start, kMaxWindowBlocks);
    } else if (prefetch) {
      s.window = start;
    }
    // Until the plan below is done, the state holds the trigger of the read-ahead planned so
    // far. (Holding `next` let the consumer's next read plan again while this plan ran: both
    // queued the same runs, and the state kept the trigger of whichever plan ended last.)
    if (prefetch) s.trigger = replan_at(next, std::max(next, s.until), s.bound);
    // The window also covers at least one more read of the size that just ended (two once the
    // reads are sequential), so a consumer's next read finds every block fetched or in flight
    // and the one after finds its blocks on the way. With one read's worth, a consumer of
    // 16 MiB fetches waited for the window to double its way up (a quarter of a 768 MiB
    // catch-up) before read-ahead ran a whole read ahead of it.
    const uint64_t min_bytes = sequential ? 2 * res->bytes : res->bytes;
    // A later read racing with the plan below sees a conservative `until`; the plan skips
    // cached and in-flight blocks, so no block is fetched twice.
    im->store_state({stream, next}, s);
    im->us_served.fetch_add(micros_since(started), std::memory_order_relaxed);
    cb(std::move(res));
    if (prefetch) {
      // Planned from `next`, not from where the last window ended: blocks already cached count
      // toward the window, so read-ahead never runs more than max_readahead_bytes ahead of the
      // consumer (further ahead, the cache would evict blocks before they are read).
      // Within this consumer's share of the cache (readahead_bound).
      const uint64_t bound = im->readahead_bound();
      // Whole GETs once the window holds twice the GETs the consumer may have in flight (32 MiB by
      // default): the run left out then only shortens the queue behind them. In a smaller window
      // it left fewer bytes in flight: two consumers of 16 MiB windows went 3% slower.
      const size_t par = std::max<size_t>(im->opts.fetch_parallelism, 1);
      const Window w{s.window, min_bytes, bound, sequential && bound >= 2 * par * kMaxGetBytes};
      Offset until = std::max(next, s.until);
      const size_t planned = im->plan_prefetch(stream, s.consumer, *sl, next, w, &until);
      im->n_last_window.store(planned, std::memory_order_relaxed);
      std::lock_guard lk(im->ra_mu);
      auto it = im->ra.find({stream, next});
      if (it != im->ra.end()) {
        it->second.until = std::max(it->second.until, until);
        it->second.trigger = replan_at(next, until, bound);
        it->second.bound = bound;
      }
    }
    if (sequential && im->opts.drop_behind) im->drop_behind(stream, s.consumer, next, passed);
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
  s.dropped_behind = im.n_dropped_behind.load();
  s.read_queued_us = im.us_queued.load();
  s.read_served_us = im.us_served.load();
  s.read_inflight_wait_us = im.us_inflight_wait.load();
  s.windows = im.n_windows.load();
  s.prefetch_us = im.us_prefetch.load();
  return s;
}

Result<std::shared_ptr<const ObjectLayout>> CatchUpReader::layout(const std::string& key,
                                                                  uint64_t object_size) {
  SHALE_ASSIGN_OR_RETURN(auto l, impl_->layouts.get_or_load(impl_->store, key, object_size));
  return std::shared_ptr<const ObjectLayout>(l, &l->layout);
}

// ---------------------------------------------------------------------------------------------
// Serving reads

Result<CatchUpResult> CatchUpReader::Impl::serve(StreamId stream, Offset from, size_t max_bytes,
                                                 const std::vector<ObjectSlice>& slices,
                                                 std::vector<PassedBlock>* passed) {
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
  FetchedBlocks mine = fetch_for_read(stream, from, max_bytes, slices);
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
      BlockPtr block;
      if (auto it = mine.find(BlockKey{sl.key, e.position}); it != mine.end()) {
        block = it->second;
      } else if (opts.partial_read_bytes > 0 && out.bytes >= opts.partial_read_bytes &&
                 !cache.contains(sl.key, e.position) && fetching(sl.key, e.position)) {
        full = true;  // serve what is here; the next read finds this block fetched or nearer
        break;
      } else {
        SHALE_ASSIGN_OR_RETURN(block, get_block(sl.key, e));
      }
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
      if (passed && !block->batches.empty() && block->batches.back().end() <= cursor)
        passed->push_back({BlockKey{sl.key, e.position}, block->batches.back().end()});
    }
    if (!full && cursor < sl.end) break;  // the object ended before its slice did
  }
  out.next = cursor;
  return out;
}

CatchUpReader::Impl::FetchedBlocks CatchUpReader::Impl::fetch_for_read(
    StreamId stream, Offset from, size_t max_bytes, const std::vector<ObjectSlice>& slices) {
  FetchedBlocks out;
  size_t blocks = 0;
  Offset until = from;
  // Bounded by max_readahead_bytes too: a huge max_bytes is served block by block beyond it.
  const uint64_t bound = std::min<uint64_t>(max_bytes, opts.max_readahead_bytes);
  preload_layouts(slices, from, bound, false);
  std::vector<Run> runs = plan_runs(stream, slices, from, Window{1, bound, bound}, &blocks, &until);
  size_t missing = 0;
  for (const Run& r : runs) missing += r.blocks.size();
  if (missing < 2) return out;  // one block: get_block() fetches it (no parallelism to gain)
  fetch_runs(runs, &out);
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

}  // namespace shale::objfmt
