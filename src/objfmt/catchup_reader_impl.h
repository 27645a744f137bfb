// Internal to CatchUpReader (catchup_reader.cc, catchup_blocks.cc): the pool's shared state.
// Not part of the public API; include catchup_reader.h instead.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "objfmt/catchup_reader.h"
#include "objfmt/layout_cache.h"

namespace shale::objfmt {
namespace catchup_detail {

using BlockPtr = std::shared_ptr<const CachedBlock>;
// The largest read-ahead window, in blocks; the byte bound (max_readahead_bytes) binds first.
inline constexpr size_t kMaxWindowBlocks = 4096;
// A run of adjacent blocks (one range GET) ends once it holds this many bytes, so that several
// GETs fetch one window in parallel. A run may pass it by up to one block: blocks close at the
// first batch past their target (512 KiB), and stopping before the block that would pass 2 MiB
// made runs of three ~528 KiB blocks, 1.27x the GETs (what S3 bills) for the same bytes.
inline constexpr uint64_t kMaxGetBytes = 2 << 20;

// Microseconds since t0 (the time sums in CatchUpStats).
inline uint64_t micros_since(std::chrono::steady_clock::time_point t0) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count());
}
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
  size_t window = 1;      // blocks per prefetch
  Offset trigger{0};      // plan again once a read ends at or past this offset
  Offset until{0};        // prefetched up to here (exclusive)
  uint64_t consumer = 0;  // given by the read that started the sequence; kept while it goes on
  uint64_t bound = 0;     // byte bound of the last window planned (replan_at)
};

// Where a consumer at `next`, with read-ahead planned up to `until` in a window of at most
// `bound` bytes, plans again: a quarter of the way, or half of it when a quarter of the window
// is less than one GET (see CatchUpReader::read).
inline Offset replan_at(Offset next, Offset until, uint64_t bound) {
  return next + (until - next) / (bound >= 4 * kMaxGetBytes ? 4 : 2);
}

// A consumer counts toward the read-ahead share (Impl::readahead_bound) this long after its last
// sequential read. (After its last window, until 2026-11-27: a consumer slower than ~8 MiB/s plans
// its 32 MiB window every 8 MiB, more than a second apart, and dropped out between windows.)
inline constexpr auto kConsumerActiveFor = std::chrono::seconds(1);

// A run of adjacent blocks of one object, fetched with one range GET.
struct Run {
  std::string key;
  std::vector<BlockIndexEntry> blocks;
  uint64_t consumer = 0;  // whose read-ahead (RaState::consumer; the helpers' per-consumer cap)
};

// Which blocks a plan covers: at least `blocks` blocks and `min_bytes` bytes (whichever ends
// later), never more than `max_bytes` (beyond the first block).
// whole_gets: a window that ends inside an object, in a run short of one GET (kMaxGetBytes),
// leaves that run to the next window, which fetches it whole (unless it is the window's only
// run). Windows that ended wherever their bound fell sent a short GET at every top-up's tail,
// and on a store with S3's latency a GET holds one of a consumer's GETs in flight for as long
// whatever its size: a consumer of 1 GiB made 25% more GETs than whole runs need, and went 9%
// slower (BENCHMARKS.md section 5k). Ending the window past its bound instead (to fill the run)
// outgrew the consumer's share of the cache and evicted blocks before they were read.
struct Window {
  size_t blocks = 1;
  uint64_t min_bytes = 0;
  uint64_t max_bytes = UINT64_MAX;
  bool whole_gets = false;
};

// Blocks a read fetched for itself (in parallel, before serving them).
using FetchedBlocks = std::unordered_map<BlockKey, BlockPtr, BlockKeyHash>;

// A block a read served every batch of (drop_behind), and the offset after its last batch.
struct PassedBlock {
  BlockKey key;
  Offset end;
};

// A consumer that read sequentially (take_state): when, and from where.
struct ActiveConsumer {
  std::chrono::steady_clock::time_point at;
  StreamId stream;
  Offset from;
};

// drop_behind: how many consumers' read_to positions are remembered (the oldest consumer ids
// go first; a consumer forgotten only loses the skip in run_prefetch).
inline constexpr size_t kReadToEntries = 4096;

}  // namespace catchup_detail

struct CatchUpReader::Impl {
  using BlockPtr = catchup_detail::BlockPtr;
  using BlockFuture = catchup_detail::BlockFuture;
  using BlockKey = catchup_detail::BlockKey;
  using BlockKeyHash = catchup_detail::BlockKeyHash;
  using PosKey = catchup_detail::PosKey;
  using RaState = catchup_detail::RaState;
  using Run = catchup_detail::Run;
  using Window = catchup_detail::Window;
  using FetchedBlocks = catchup_detail::FetchedBlocks;
  using PassedBlock = catchup_detail::PassedBlock;

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
  size_t running = 0;
  size_t prefetch_pending = 0;  // read-ahead runs queued or being fetched (prefetch_runs)
  bool stopped = false;
  bool joined = false;               // every pool thread has exited
  std::mutex join_mu;                // serializes stop()
  std::vector<std::thread> threads;  // written by the constructor and stop() (under join_mu)

  // Blocks being fetched; guarded by inflight_mu. read_to (drop_behind): how far each sequential
  // consumer's reads have served; its read-ahead runs skip blocks behind that. Under the same
  // mutex as the claims in run_prefetch, and raised before drop_behind erases a block, so a run
  // queued before its consumer passed its blocks never claims one that was just dropped.
  std::mutex inflight_mu;
  std::unordered_map<BlockKey, BlockFuture, BlockKeyHash> inflight;
  std::map<uint64_t, Offset> read_to;

  // Fetch helpers: threads x fetch_parallelism + fetch_parallelism - 1 long-lived threads
  // ("cold-fetch"). They join a read's fetch_runs() (jobs in fetch_jobs, taken first), and they
  // fetch the read-ahead runs (prefetch_runs), one run after another without waiting for a
  // window to end: windows that each held a pool thread until their last GET ended left the
  // store idle at every window's tail and reads queued behind windows (BENCHMARKS.md section
  // 5i). Read-ahead GETs in flight: at most fetch_parallelism per consumer (one window's worth;
  // a consumer's long queue does not hold back another's, and two consumers of one stream at
  // different offsets, say two consumer groups, each get theirs: until 2026-11-27 the cap was per
  // stream) and threads x fetch_parallelism in all
  // (what the pool's windows had before section 5i; capped at fetch_parallelism in all, two
  // consumers on a store with S3's latency kept 6.8 GETs in flight, now 9: section 5j). The
  // helpers beyond that are for a read's fetch_runs(), so a read finds its helpers free even
  // while read-ahead holds its maximum. Long-lived because the S3 client keeps its connections per
  // thread: a helper started per window opened a new connection (and a new curl handle) for
  // every GET. Guarded by fetch_mu; a job that starts after its fetch_runs() has returned does
  // nothing (see FetchBatch).
  std::mutex fetch_mu;
  std::condition_variable fetch_cv;
  std::deque<std::function<void()>> fetch_jobs;
  std::deque<Run> prefetch_runs;
  size_t prefetch_running = 0;
  std::map<uint64_t, size_t> prefetch_running_by_consumer;
  bool fetch_stopped = false;
  std::vector<std::thread> fetchers;  // written by the constructor and stop() (under join_mu)

  // Read-ahead states; guarded by ra_mu. ra_order is FIFO for the bound. ra_active: when and
  // where each consumer (RaState::consumer) last read sequentially, for those within
  // kConsumerActiveFor (older entries go lazily, in readahead_bound).
  std::mutex ra_mu;
  std::map<PosKey, RaState> ra;
  std::deque<PosKey> ra_order;
  std::map<uint64_t, catchup_detail::ActiveConsumer> ra_active;
  std::atomic<uint64_t> next_consumer{1};

  std::atomic<uint64_t> n_reads{0}, n_seq{0}, n_hits{0}, n_misses{0}, n_gets{0}, n_pf_gets{0},
      n_pf_blocks{0}, n_pf_dropped{0}, n_last_window{0}, n_dropped_behind{0};
  // Where reads spend their time, summed in microseconds (CatchUpStats).
  std::atomic<uint64_t> us_queued{0}, us_served{0}, us_inflight_wait{0}, us_prefetch{0},
      n_windows{0};

  // Names the calling thread and applies opts.thread_nice (pool threads and fetch helpers).
  void name_this_thread(const char* name) const;
  void worker();
  void fetcher();
  // No read queued or running and no read-ahead run pending. Requires mu.
  bool idle_locked() const { return reads.empty() && running == 0 && prefetch_pending == 0; }
  // Marks n read-ahead runs done (fetched or dropped).
  void prefetch_done(size_t n);
  Status enqueue(std::function<void(bool)> task);
  // *passed (if not null) receives the blocks whose every batch the read served.
  Result<CatchUpResult> serve(StreamId stream, Offset from, size_t max_bytes,
                              const std::vector<ObjectSlice>& slices,
                              std::vector<PassedBlock>* passed);
  // After a sequential read of `consumer` that served up to `next`: notes `next` (its read-ahead
  // runs then skip blocks behind it) and drops from the cache the passed blocks that no other
  // consumer of the stream active in the last kConsumerActiveFor may still read
  // (CatchUpReaderOptions::drop_behind).
  void drop_behind(StreamId stream, uint64_t consumer, Offset next,
                   const std::vector<PassedBlock>& passed);
  // A cold read of several blocks fetches them in parallel first (serve() then finds them).
  FetchedBlocks fetch_for_read(StreamId stream, Offset from, size_t max_bytes,
                               const std::vector<ObjectSlice>& slices);
  Result<std::optional<Offset>> find_timestamp(StreamId stream, int64_t ts,
                                               const std::vector<ObjectSlice>& slices);
  Result<BlockPtr> get_block(const std::string& key, const BlockIndexEntry& e);
  // Whether a read or read-ahead is fetching the block now (plans leave such blocks out).
  bool fetching(const std::string& key, uint64_t position);
  Result<std::vector<BlockPtr>> fetch_run(const std::string& key,
                                          const std::vector<BlockIndexEntry>& blocks);
  // The runs of blocks neither cached nor being fetched in a window starting at `from`; *blocks
  // counts every block of the window (cached or not), *until is raised to the window's end offset.
  std::vector<Run> plan_runs(StreamId stream, const std::vector<ObjectSlice>& slices, Offset from,
                             const Window& w, size_t* blocks, Offset* until);
  // Plans a read-ahead window of `consumer` and queues its runs for the helpers; returns the
  // window's block count.
  size_t plan_prefetch(StreamId stream, uint64_t consumer, const std::vector<ObjectSlice>& slices,
                       Offset from, const Window& w, Offset* until);
  // Fetches a read's runs with up to opts.fetch_parallelism GETs at once; `out` receives the
  // blocks fetched.
  void fetch_runs(const std::vector<Run>& runs, FetchedBlocks* out);
  // Calls job(0..count-1) on the calling thread and up to opts.fetch_parallelism - 1 fetch
  // helpers; returns when every call has returned. readahead: helpers queue behind reads'.
  void run_parallel(size_t count, const std::function<void(size_t)>& job, bool readahead);
  // Loads the layouts of the slices at or after `from` that are not cached, fetch_parallelism at
  // a time: a read or window over many small objects (a stream with one batch in each of many
  // WAL objects) would otherwise wait for one layout GET after another. Only the slices a read
  // or window of `bound` bytes can reach (by ObjectSlice::bytes; all when unknown): a layout GET
  // waits behind the store's bulk GETs, and a read that loaded the layouts of every slice it
  // was given (64 MiB ahead) spent 20-50 ms of each 16 MiB read on layouts it did not need.
  // Does nothing while fewer than min_missing are missing (a read's or window's own plan loads
  // a single layout itself: nothing to overlap).
  void preload_layouts(const std::vector<ObjectSlice>& slices, Offset from, uint64_t bound,
                       bool readahead, size_t min_missing = 2);
  // Fetches the blocks of a run that nobody has cached or is fetching; returns those fetched.
  std::vector<BlockPtr> run_prefetch(const Run& run, bool readahead);
  // The read-ahead state remembered at k, if any (the read is sequential); its consumer then
  // counts as reading sequentially now (readahead_bound's share).
  std::optional<RaState> take_state(PosKey k);
  void store_state(PosKey k, RaState s);
  // The byte bound of a window planned now: a share of half the block cache among the consumers
  // that read sequentially within kConsumerActiveFor (take_state), at most
  // opts.max_readahead_bytes. A consumer counts from its second read on; random reads do not
  // count (a flood of them would shrink every sequential consumer's read-ahead).
  // Read-ahead beyond the cache evicts blocks fetched ahead before they are read (the LRU's oldest
  // are blocks nobody has read yet), and every consumer then fetches them again: 4 consumers of 32
  // MiB windows through the default 64 MiB cache GET each byte 1.9 times and went 6x slower than 2
  // (BENCHMARKS.md section 5j).
  uint64_t readahead_bound();
  // The fetch helpers' choice among queued read-ahead runs: the first whose consumer has fewer
  // than fetch_parallelism GETs in flight, if fewer than threads x fetch_parallelism are in
  // flight in all; prefetch_runs.end() if none. Requires fetch_mu.
  std::deque<Run>::iterator next_prefetch_locked();
};

}  // namespace shale::objfmt
