// CatchUpReader internals: fetching blocks (with an in-flight table so each block is fetched
// once), read-ahead state and prefetch planning/execution.
#include <algorithm>

#include "base/log.h"
#include "objfmt/catchup_reader_impl.h"

namespace shale::objfmt {

using namespace catchup_detail;  // NOLINT(google-build-using-namespace): this file implements it

// ---------------------------------------------------------------------------------------------
// Read-ahead state

std::optional<RaState> CatchUpReader::Impl::take_state(PosKey k) {
  std::lock_guard lk(ra_mu);
  auto it = ra.find(k);
  if (it == ra.end()) return std::nullopt;
  RaState s = it->second;
  ra.erase(it);
  ra_active[s.consumer] = ActiveConsumer{std::chrono::steady_clock::now(), k.stream, k.offset};
  return s;
}

uint64_t CatchUpReader::Impl::readahead_bound() {
  const auto now = std::chrono::steady_clock::now();
  size_t active;
  {
    std::lock_guard lk(ra_mu);
    std::erase_if(ra_active,
                  [&](const auto& kv) { return now - kv.second.at > kConsumerActiveFor; });
    active = std::max<size_t>(ra_active.size(), 1);
  }
  return std::min<uint64_t>(opts.max_readahead_bytes, cache.capacity() / (2 * active));
}

void CatchUpReader::Impl::drop_behind(StreamId stream, uint64_t consumer, Offset next,
                                      const std::vector<PassedBlock>& passed) {
  // The lowest offset another active consumer of the stream read from: blocks ending after it
  // stay (it may read them next). A consumer that has read only once is not known here; its
  // first read fetched its own blocks, and from its second read on it counts.
  std::optional<Offset> follower;
  {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lk(ra_mu);
    for (const auto& [c, a] : ra_active) {
      if (c == consumer || a.stream != stream || now - a.at > kConsumerActiveFor) continue;
      if (!follower || a.from < *follower) follower = a.from;
    }
  }
  std::lock_guard lk(inflight_mu);
  Offset& to = read_to[consumer];
  to = std::max(to, next);
  if (read_to.size() > kReadToEntries) read_to.erase(read_to.begin());
  for (const PassedBlock& p : passed) {
    if (follower && p.end > *follower) continue;
    if (cache.erase(p.key.object, p.key.position))
      n_dropped_behind.fetch_add(1, std::memory_order_relaxed);
  }
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
    // is evicted, so memory can exceed the cache bound by up to one GET (kMaxGetBytes + a block)
    // per run whose blocks are only partly evicted. LRU order usually evicts a run's blocks
    // together.
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
    const auto t0 = std::chrono::steady_clock::now();
    Result<BlockPtr> r = running_fetch->get();
    us_inflight_wait.fetch_add(micros_since(t0), std::memory_order_relaxed);
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

bool CatchUpReader::Impl::fetching(const std::string& key, uint64_t position) {
  std::lock_guard lk(inflight_mu);
  return inflight.count(BlockKey{key, position}) > 0;
}

// ---------------------------------------------------------------------------------------------
// Prefetch

std::vector<Run> CatchUpReader::Impl::plan_runs(StreamId stream,
                                                const std::vector<ObjectSlice>& slices, Offset from,
                                                const Window& w, size_t* blocks, Offset* until) {
  *blocks = 0;
  uint64_t bytes = 0;
  std::vector<Run> runs;
  // The window ends after w.blocks blocks and w.min_bytes bytes, or at w.max_bytes.
  auto more = [&] { return *blocks < w.blocks || bytes < w.min_bytes; };
  bool ended = false;
  bool cut = false;  // it ended inside a run short of one GET (Window::whole_gets)
  size_t blocks_before_run = 0;
  Offset until_before_run = *until;
  for (const ObjectSlice& sl : slices) {
    if (sl.end <= from) continue;
    if (!more() || ended) break;
    auto layout = layouts.get_or_load(store, sl.key, sl.object_size);
    if (!layout.ok()) {
      SHALE_LOG_WARN("objfmt", "read-ahead: layout of {}: {}", sl.key, layout.error().to_string());
      break;
    }
    const CachedLayout& l = **layout;
    auto [lo, hi] = l.blocks_after(stream, std::max(from, sl.start));
    uint64_t run_end = UINT64_MAX;
    uint64_t run_bytes = 0;
    for (size_t b = lo; b < hi; b++) {
      const BlockIndexEntry& e = l.at(b);
      if (e.start >= sl.end) break;
      if (!more() || (*blocks > 0 && bytes + e.size > w.max_bytes)) {
        ended = true;
        cut = run_end == e.position && run_bytes < kMaxGetBytes;
        break;
      }
      const Offset until_before = *until;
      ++*blocks;
      bytes += e.size;
      *until = std::max(*until, std::min(e.end, sl.end));
      if (cache.contains(sl.key, e.position) || fetching(sl.key, e.position)) {
        run_end = UINT64_MAX;
        continue;
      }
      if (run_end != e.position || run_bytes >= kMaxGetBytes) {
        runs.push_back(Run{sl.key, {}});
        run_bytes = 0;
        blocks_before_run = *blocks - 1;
        until_before_run = until_before;
      }
      run_bytes += e.size;
      runs.back().blocks.push_back(e);
      run_end = e.position + e.size;
    }
  }
  if (w.whole_gets && cut && runs.size() > 1) {  // the next window fetches it whole
    runs.pop_back();
    *blocks = blocks_before_run;
    *until = until_before_run;
  }
  return runs;
}

size_t CatchUpReader::Impl::plan_prefetch(StreamId stream, uint64_t consumer,
                                          const std::vector<ObjectSlice>& slices, Offset from,
                                          const Window& w, Offset* until) {
  size_t blocks = 0;
  preload_layouts(slices, from, w.max_bytes, true);
  std::vector<Run> runs = plan_runs(stream, slices, from, w, &blocks, until);
  if (runs.empty()) return blocks;
  for (Run& r : runs) r.consumer = consumer;
  {
    std::lock_guard lk(mu);
    if (stopped) return blocks;
    if (prefetch_pending + runs.size() > opts.prefetch_queue_capacity) {
      n_pf_dropped.fetch_add(1, std::memory_order_relaxed);
      return blocks;
    }
    prefetch_pending += runs.size();
  }
  n_windows.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard lk(fetch_mu);
    for (Run& r : runs) prefetch_runs.push_back(std::move(r));
    fetch_cv.notify_all();
  }
  // The next window's layouts, while this window's GETs run: loaded when that window is planned,
  // they held its GETs back by a layout GET (10-25 ms on RGW) and left the store idle meanwhile.
  preload_layouts(slices, *until, w.max_bytes, true, 1);
  return blocks;
}

void CatchUpReader::Impl::prefetch_done(size_t n) {
  std::lock_guard lk(mu);
  prefetch_pending -= n;
  if (idle_locked()) idle_cv.notify_all();
}

std::deque<Run>::iterator CatchUpReader::Impl::next_prefetch_locked() {
  const size_t per_consumer = std::max<size_t>(opts.fetch_parallelism, 1);
  if (fetch_stopped || prefetch_running >= std::max<size_t>(opts.threads, 1) * per_consumer) {
    return prefetch_runs.end();
  }
  return std::find_if(prefetch_runs.begin(), prefetch_runs.end(), [&](const Run& r) {
    auto it = prefetch_running_by_consumer.find(r.consumer);
    return it == prefetch_running_by_consumer.end() || it->second < per_consumer;
  });
}

void CatchUpReader::Impl::fetcher() {
  name_this_thread("cold-fetch");
  std::unique_lock lk(fetch_mu);
  std::deque<Run>::iterator next;
  auto may_prefetch = [&] { return (next = next_prefetch_locked()) != prefetch_runs.end(); };
  for (;;) {
    fetch_cv.wait(lk, [&] { return fetch_stopped || !fetch_jobs.empty() || may_prefetch(); });
    if (!fetch_jobs.empty()) {  // a read's helper job first: the read waits for it
      auto job = std::move(fetch_jobs.front());
      fetch_jobs.pop_front();
      if (may_prefetch()) fetch_cv.notify_one();  // the run this wake-up was for
      lk.unlock();
      job();
      lk.lock();
    } else if (may_prefetch()) {
      Run run = std::move(*next);
      prefetch_runs.erase(next);
      prefetch_running++;
      prefetch_running_by_consumer[run.consumer]++;
      lk.unlock();
      const auto t0 = std::chrono::steady_clock::now();
      run_prefetch(run, true);
      us_prefetch.fetch_add(micros_since(t0), std::memory_order_relaxed);
      prefetch_done(1);
      lk.lock();
      prefetch_running--;
      if (--prefetch_running_by_consumer[run.consumer] == 0) {
        prefetch_running_by_consumer.erase(run.consumer);
      }
      // One slot is free: one helper can start one run. (notify_all woke all 23 helpers per GET.)
      fetch_cv.notify_one();
    } else {  // stopped: drop the read-ahead not yet started
      const size_t dropped = prefetch_runs.size();
      prefetch_runs.clear();
      lk.unlock();
      if (dropped > 0) prefetch_done(dropped);
      return;
    }
  }
}

namespace {

// One fetch_runs() call shared with the helpers that join it. The caller marks it closed when
// its own loop ends and then waits for the helpers that already started; a helper job that
// starts later sees `closed` and returns without touching the caller's runs.
struct FetchBatch {
  std::mutex mu;
  std::condition_variable cv;
  bool closed = false;
  size_t active = 0;
  std::function<void()> work;
};

}  // namespace

void CatchUpReader::Impl::fetch_runs(const std::vector<Run>& runs, FetchedBlocks* out) {
  std::mutex out_mu;
  run_parallel(
      runs.size(),
      [&](size_t i) {
        auto got = run_prefetch(runs[i], false);
        std::lock_guard lk(out_mu);
        for (auto& b : got) out->emplace(BlockKey{runs[i].key, b->entry.position}, std::move(b));
      },
      false);
}

void CatchUpReader::Impl::preload_layouts(const std::vector<ObjectSlice>& slices, Offset from,
                                          uint64_t bound, bool readahead, size_t min_missing) {
  // Every uncached layout of the slices within reach: a read or window over many small objects
  // needs them all, and fetch_parallelism GETs at a time beat one after another.
  std::vector<const ObjectSlice*> missing;
  uint64_t reach = 0;
  for (const ObjectSlice& sl : slices) {
    if (sl.end <= from) continue;
    if (reach >= bound) break;
    // The first slice counts whole, so this may stop a slice early; plan_runs() and serve()
    // load any layout still missing.
    reach += sl.bytes;
    if (!layouts.get(sl.key)) missing.push_back(&sl);
  }
  if (missing.empty() || missing.size() < min_missing) return;
  run_parallel(
      missing.size(),
      [&](size_t i) {
        auto l = layouts.get_or_load(store, missing[i]->key, missing[i]->object_size);
        if (!l.ok()) {  // plan_runs() or serve() loads it again and reports the error
          SHALE_LOG_DEBUG("objfmt", "layout of {}: {}", missing[i]->key, l.error().to_string());
        }
      },
      readahead);
}

void CatchUpReader::Impl::run_parallel(size_t count, const std::function<void(size_t)>& job,
                                       bool readahead) {
  if (count == 0) return;
  // The calling pool thread works too; up to fetch_parallelism - 1 helpers join it, so one
  // read or window keeps fetch_parallelism GETs in flight.
  const size_t n = std::min(count, std::max<size_t>(opts.fetch_parallelism, 1));
  std::atomic<size_t> next{0};
  auto batch = std::make_shared<FetchBatch>();
  batch->work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < count;) job(i);
  };
  if (n > 1 && !fetchers.empty()) {
    std::lock_guard lk(fetch_mu);
    for (size_t t = 1; t < n; t++) {
      auto job = [batch] {
        {
          std::lock_guard bl(batch->mu);
          if (batch->closed) return;
          batch->active++;
        }
        batch->work();
        std::lock_guard bl(batch->mu);
        if (--batch->active == 0) batch->cv.notify_all();
      };
      // A read waits for its blocks: its helpers go before queued read-ahead helpers.
      if (readahead) {
        fetch_jobs.emplace_back(std::move(job));
      } else {
        fetch_jobs.emplace_front(std::move(job));
      }
    }
    fetch_cv.notify_all();
  }
  batch->work();
  std::unique_lock bl(batch->mu);
  batch->closed = true;
  batch->cv.wait(bl, [&] { return batch->active == 0; });
}

std::vector<BlockPtr> CatchUpReader::Impl::run_prefetch(const Run& run, bool readahead) {
  // Claim the blocks nobody has cached or is fetching; fetch each adjacent claimed stretch.
  std::vector<std::vector<BlockIndexEntry>> stretches;
  std::vector<std::promise<Result<BlockPtr>>> promises;
  std::vector<BlockKey> claimed;
  // drop_behind: a read-ahead run queued before its consumer read past some of its blocks (the
  // consumer's reads fetched them themselves) would fetch them again after they were dropped.
  {
    std::lock_guard lk(inflight_mu);
    Offset behind{0};
    if (readahead && opts.drop_behind) {
      if (auto it = read_to.find(run.consumer); it != read_to.end()) behind = it->second;
    }
    uint64_t end = UINT64_MAX;
    for (const BlockIndexEntry& e : run.blocks) {
      BlockKey bk{run.key, e.position};
      if (e.end <= behind || inflight.count(bk) || cache.contains(run.key, e.position)) {
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
  std::vector<BlockPtr> fetched;
  for (const auto& st : stretches) {
    if (readahead) {
      n_pf_gets.fetch_add(1, std::memory_order_relaxed);
      n_pf_blocks.fetch_add(st.size(), std::memory_order_relaxed);
    } else {
      n_misses.fetch_add(st.size(), std::memory_order_relaxed);
    }
    auto res = fetch_run(run.key, st);
    if (res.ok()) fetched.insert(fetched.end(), res->begin(), res->end());
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
  return fetched;
}

}  // namespace shale::objfmt
