#include "coord/broker_coordinator.h"

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>
#include <map>
#include <set>

#include "base/log.h"
#include "broker/broker.h"
#include "coord/offsets_codec.h"
#include "coord/offsets_log.h"

namespace shale::coord {
namespace {

// What the Broker keeps attached: the log outlives the coordinator that writes to it.
//
// Cluster mode: the coordinator serves a group only while this broker serves the group's
// __consumer_offsets partition AND that partition's replay finished (the gate answers
// NOT_COORDINATOR, resp. COORDINATOR_LOAD_IN_PROGRESS, otherwise); OffsetsLog compacts only
// loaded partitions (compaction guard). Every gain and loss of a partition bumps its generation;
// a loss drops the partition's groups from memory at once (parked joins/syncs answer
// NOT_COORDINATOR); a gain drops them again and replays the partition from the log. Replays (and
// the start-up load) run one at a time under replay_mu, and a replay whose partition changed
// hands meanwhile drops what it restored instead of marking it loaded. A failed replay drops
// what it restored and is retried with back-off (timers on the control pool, cancelled when the
// broker stops) for as long as the partition stays here: it is never served half-loaded.
struct Attached {
  std::unique_ptr<OffsetsLog> log;
  std::unique_ptr<GroupCoordinator> gc;
  std::mutex mu;
  std::map<int32_t, uint64_t> gen;                        // guarded by mu
  std::set<int32_t> loaded;                               // guarded by mu
  std::set<std::shared_ptr<asio::steady_timer>> retries;  // guarded by mu; pending back-offs
  std::mutex replay_mu;  // held by the start-up load and each partition replay
  ~Attached() {
    {
      std::lock_guard lk(mu);
      for (const auto& t : retries) t->cancel();  // the control pool's join() must not wait
    }
    gc.reset();
  }

  std::function<bool(const std::string&)> groups_of(int32_t index) const {
    return [this, index](const std::string& g) {
      return partition_for_group(g, log->partitions()) == index;
    };
  }
  uint64_t bump(int32_t index) {  // a gain or a loss: not loaded until a replay says so
    std::lock_guard lk(mu);
    loaded.erase(index);
    return ++gen[index];
  }
  // Marks `index` loaded if its generation is still `g`; else drops what the replay restored.
  void finish(int32_t index, uint64_t g) {
    {
      std::lock_guard lk(mu);
      if (gen[index] == g) {
        loaded.insert(index);
        return;
      }
    }
    gc->drop_groups(groups_of(index));
  }
  // The compaction guard's token: non-zero (generation + 1) only while `index` is loaded.
  uint64_t token(int32_t index) {
    std::lock_guard lk(mu);
    return loaded.count(index) ? gen[index] + 1 : 0;
  }
};

constexpr const char* kOptionsKey = "coord.options";

// Back-off between replay attempts: 100 ms doubling up to 5 s.
std::chrono::milliseconds retry_delay(int attempt) {
  return std::chrono::milliseconds(
      std::min<int64_t>(int64_t{100} << std::min(attempt - 1, 6), 5000));
}

// Runs `fn` on the control pool after `delay`, unless the attachment is gone by then.
void retry_later(const std::weak_ptr<Attached>& weak, asio::thread_pool& pool,
                 std::chrono::milliseconds delay, std::function<void()> fn) {
  auto a = weak.lock();
  if (!a) return;
  auto t = std::make_shared<asio::steady_timer>(pool, delay);
  {
    std::lock_guard lk(a->mu);
    a->retries.insert(t);
  }
  a.reset();
  t->async_wait([weak, t, fn = std::move(fn)](std::error_code ec) {
    if (auto a = weak.lock()) {
      std::lock_guard lk(a->mu);
      a->retries.erase(t);
    }
    if (!ec) fn();
  });
}

int16_t gate(Attached& a, broker::Broker& broker, const std::string& group) {
  const int32_t index = partition_for_group(group, a.log->partitions());
  if (!broker.topics().partition(kOffsetsTopic, index)) return err::kNotCoordinator;
  std::lock_guard lk(a.mu);
  return a.loaded.count(index) ? err::kNone : err::kCoordinatorLoadInProgress;
}

// Replays one gained partition (generation g) and marks it loaded; on failure retries with
// back-off while the partition stays here at generation g.
void replay_gained(const std::weak_ptr<Attached>& weak, asio::thread_pool& pool,
                   std::shared_ptr<broker::Partition> part, uint64_t g, int attempt) {
  const int32_t index = part->index();
  {
    auto a = weak.lock();
    if (!a) return;
    std::lock_guard rl(a->replay_mu);
    {
      std::lock_guard lk(a->mu);
      if (a->gen[index] != g) return;  // lost or re-gained meanwhile: a later task decides
      // Already replayed at g by the start-up load (which ran first): it is being served, so
      // dropping its groups now would serve them from nothing until this replay ends.
      if (a->loaded.count(index)) return;
    }
    a->gc->drop_groups(a->groups_of(index));  // the replay starts from the log alone
    auto r = a->log->load_partition_blocking(*a->gc, part);
    if (r.ok()) {
      a->finish(index, g);
      SHALE_LOG_INFO("coord", "gained {}-{}: loaded {} records", kOffsetsTopic, index, *r);
      return;
    }
    SHALE_LOG_ERROR("coord",
                    "replaying gained {}-{} failed (attempt {}; its groups answer "
                    "COORDINATOR_LOAD_IN_PROGRESS, retrying in {} ms): {}",
                    kOffsetsTopic, index, attempt, retry_delay(attempt).count(),
                    r.error().to_string());
    a->gc->drop_groups(a->groups_of(index));  // never serve what a failed replay restored
  }
  retry_later(weak, pool, retry_delay(attempt),
              [weak, &pool, part, g, attempt] { replay_gained(weak, pool, part, g, attempt + 1); });
}

// Replays __consumer_offsets (retrying with back-off: the store may not be ready), then starts
// the ticker. Until then every request answers COORDINATOR_LOAD_IN_PROGRESS.
void load(const std::weak_ptr<Attached>& weak, asio::thread_pool& pool, int attempt) {
  Result<int64_t> r = int64_t{0};
  {
    auto a = weak.lock();
    if (!a) return;  // the broker is stopping
    std::lock_guard rl(a->replay_mu);
    std::map<int32_t, uint64_t> before;
    {
      std::lock_guard lk(a->mu);
      before = a->gen;
    }
    std::vector<int32_t> replayed;
    r = a->log->load_blocking(*a->gc, &replayed);
    for (int32_t index : r.ok() ? replayed : std::vector<int32_t>{}) {
      a->finish(index, before[index]);
    }
    if (r.ok()) {
      SHALE_LOG_INFO("coord", "loaded {} records from {}", *r, kOffsetsTopic);
      a->gc->set_loading(false);
      a->gc->start_ticker();
      return;
    }
    // A partial load is dropped: the next attempt starts from the log alone. (Partitions gained
    // meanwhile are replayed by their own task, after this one: they are not in `replayed`.)
    a->gc->drop_groups([&](const std::string& g) {
      std::lock_guard lk(a->mu);
      return !a->loaded.count(partition_for_group(g, a->log->partitions()));
    });
  }
  SHALE_LOG_ERROR("coord", "loading {} failed (attempt {}, retrying in {} ms): {}", kOffsetsTopic,
                  attempt, retry_delay(attempt).count(), r.error().to_string());
  retry_later(weak, pool, retry_delay(attempt),
              [weak, &pool, attempt] { load(weak, pool, attempt + 1); });
}

CoordinatorOptions options_of(broker::Broker& broker) {
  auto p = broker.attachment(kOptionsKey, [] { return std::shared_ptr<void>(); });
  return p ? *std::static_pointer_cast<CoordinatorOptions>(p) : CoordinatorOptions{};
}

}  // namespace

void configure(broker::Broker& broker, const CoordinatorOptions& opts) {
  broker.attachment(kOptionsKey, [&] { return std::make_shared<CoordinatorOptions>(opts); });
}

std::shared_ptr<GroupCoordinator> coordinator_of(broker::Broker& broker) {
  const CoordinatorOptions opts = options_of(broker);
  auto p =
      broker.attachment("coord.group_coordinator", [&broker, &opts]() -> std::shared_ptr<void> {
        auto a = std::make_shared<Attached>();
        a->log = std::make_unique<OffsetsLog>(broker, kDefaultOffsetsPartitions,
                                              opts.offsets_compact_min_records);
        a->gc = std::make_unique<GroupCoordinator>(opts, broker.clock(), a->log.get());
        a->gc->set_loading(true);
        if (broker.cluster()) {  // cluster hook: groups follow their __consumer_offsets partition
          std::weak_ptr<Attached> weak = a;
          a->gc->set_gate([raw = a.get(), &broker](const std::string& group) {
            return gate(*raw, broker, group);  // the gate lives in raw->gc: raw outlives it
          });
          a->gc->set_load_generation([raw = a.get()](const std::string& group) {
            std::lock_guard lk(raw->mu);
            return raw->gen[partition_for_group(group, raw->log->partitions())];
          });
          a->log->set_compaction_guard([weak](int32_t index) -> uint64_t {
            auto a = weak.lock();  // (snapshot trims may complete after the coordinator is gone)
            return a ? a->token(index) : 0;
          });
          broker.topics().set_acquire_listener(
              [weak, &broker](const std::string& topic, int32_t index, auto part) {
                if (topic != kOffsetsTopic) return;
                auto a = weak.lock();
                if (!a) return;
                const uint64_t g = a->bump(index);
                asio::post(broker.control_pool(), [weak, &broker, part, g] {
                  replay_gained(weak, broker.control_pool(), part, g, 1);
                });
              });
          broker.topics().set_release_listener([weak](const std::string& topic, int32_t index) {
            if (topic != kOffsetsTopic) return;
            auto a = weak.lock();
            if (!a) return;
            a->bump(index);
            size_t n = a->gc->drop_groups(a->groups_of(index));
            SHALE_LOG_INFO("coord", "lost {}-{}: its {} groups now answer NOT_COORDINATOR",
                           kOffsetsTopic, index, n);
          });
        }
        // Replay __consumer_offsets on the control pool; until then requests get
        // COORDINATOR_LOAD_IN_PROGRESS (clients retry). The task holds the attachment only while an
        // attempt runs: a broker that stops during retries is not kept waiting (shutdown is bounded
        // by one attempt).
        asio::post(broker.control_pool(), [weak = std::weak_ptr<Attached>(a), &broker] {
          load(weak, broker.control_pool(), 1);
        });
        return a;
      });
  if (!p) return nullptr;
  auto a = std::static_pointer_cast<Attached>(p);
  return std::shared_ptr<GroupCoordinator>(a, a->gc.get());
}

std::string client_host_of(const std::string& peer) {
  auto colon = peer.rfind(':');
  std::string ip = colon == std::string::npos ? peer : peer.substr(0, colon);
  if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  return "/" + ip;
}

}  // namespace shale::coord
