#include "coord/broker_coordinator.h"

#include <asio/post.hpp>
#include <map>
#include <set>
#include <thread>

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
// NOT_COORDINATOR, resp. COORDINATOR_LOAD_IN_PROGRESS, otherwise). Every gain and loss of a
// partition bumps its generation; a loss drops the partition's groups from memory at once
// (parked joins/syncs answer NOT_COORDINATOR); a gain drops them again and replays the partition
// from the log. Replays (and the start-up load) run one at a time under replay_mu, and a replay
// whose partition changed hands meanwhile drops what it restored instead of marking it loaded.
struct Attached {
  std::unique_ptr<OffsetsLog> log;
  std::unique_ptr<GroupCoordinator> gc;
  std::mutex mu;
  std::map<int32_t, uint64_t> gen;  // guarded by mu
  std::set<int32_t> loaded;         // guarded by mu
  std::mutex replay_mu;             // held by the start-up load and each partition replay
  ~Attached() { gc.reset(); }

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
};

constexpr const char* kOptionsKey = "coord.options";

int16_t gate(Attached& a, broker::Broker& broker, const std::string& group) {
  const int32_t index = partition_for_group(group, a.log->partitions());
  if (!broker.topics().partition(kOffsetsTopic, index)) return err::kNotCoordinator;
  std::lock_guard lk(a.mu);
  return a.loaded.count(index) ? err::kNone : err::kCoordinatorLoadInProgress;
}

// Replays one gained partition (generation g), retrying briefly; then marks it loaded.
void replay_gained(const std::weak_ptr<Attached>& weak, std::shared_ptr<broker::Partition> part,
                   uint64_t g) {
  const int32_t index = part->index();
  for (int attempt = 1; attempt <= 20; ++attempt) {
    auto a = weak.lock();
    if (!a) return;
    {
      std::lock_guard rl(a->replay_mu);
      {
        std::lock_guard lk(a->mu);
        if (a->gen[index] != g) return;  // lost or re-gained meanwhile: a later task decides
      }
      a->gc->drop_groups(a->groups_of(index));  // the replay starts from the log alone
      auto r = a->log->load_partition_blocking(*a->gc, part);
      if (r.ok()) {
        a->finish(index, g);
        SHALE_LOG_INFO("coord", "gained {}-{}: loaded {} records", kOffsetsTopic, index, *r);
        return;
      }
      SHALE_LOG_ERROR("coord", "replaying gained {}-{} failed (attempt {}): {}", kOffsetsTopic,
                      index, attempt, r.error().to_string());
      a->gc->drop_groups(a->groups_of(index));
    }
    a.reset();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// Replays __consumer_offsets (retrying: the store may not be ready), then starts the ticker.
void load(const std::weak_ptr<Attached>& weak) {
  for (int attempt = 1;; ++attempt) {
    auto a = weak.lock();
    if (!a) return;  // the broker is stopping
    Result<int64_t> r = int64_t{0};
    {
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
    }
    if (r.ok()) {
      SHALE_LOG_INFO("coord", "loaded {} records from {}", *r, kOffsetsTopic);
      a->gc->set_loading(false);
      a->gc->start_ticker();
      return;
    }
    SHALE_LOG_ERROR("coord", "loading {} failed (attempt {}): {}", kOffsetsTopic, attempt,
                    r.error().to_string());
    if (attempt >= 20) return;  // stays unavailable; the log says why
    a.reset();
    for (int i = 0; i < 10 && !weak.expired(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
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
        a->log = std::make_unique<OffsetsLog>(broker, kDefaultOffsetsPartitions);
        a->gc = std::make_unique<GroupCoordinator>(opts, broker.clock(), a->log.get());
        a->gc->set_loading(true);
        if (broker.cluster()) {  // cluster hook: groups follow their __consumer_offsets partition
          std::weak_ptr<Attached> weak = a;
          a->gc->set_gate([raw = a.get(), &broker](const std::string& group) {
            return gate(*raw, broker, group);  // the gate lives in raw->gc: raw outlives it
          });
          broker.topics().set_acquire_listener([weak, &broker](const std::string& topic,
                                                               int32_t index, auto part) {
            if (topic != kOffsetsTopic) return;
            auto a = weak.lock();
            if (!a) return;
            const uint64_t g = a->bump(index);
            asio::post(broker.control_pool(), [weak, part, g] { replay_gained(weak, part, g); });
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
        asio::post(broker.control_pool(), [weak = std::weak_ptr<Attached>(a)] { load(weak); });
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
