#include "coord/broker_coordinator.h"

#include <asio/post.hpp>
#include <thread>

#include "base/log.h"
#include "broker/broker.h"
#include "coord/offsets_codec.h"
#include "coord/offsets_log.h"

namespace shale::coord {
namespace {

// What the Broker keeps attached: the log outlives the coordinator that writes to it.
struct Attached {
  std::unique_ptr<OffsetsLog> log;
  std::unique_ptr<GroupCoordinator> gc;
  ~Attached() { gc.reset(); }
};

constexpr const char* kOptionsKey = "coord.options";

// Replays __consumer_offsets (retrying: the store may not be ready), then starts the ticker.
void load(const std::weak_ptr<Attached>& weak) {
  for (int attempt = 1;; ++attempt) {
    auto a = weak.lock();
    if (!a) return;  // the broker is stopping
    auto r = a->log->load_blocking(*a->gc);
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
          broker.topics().set_acquire_listener(
              [weak, &broker](const std::string& topic, int32_t index, auto part) {
                if (topic != kOffsetsTopic) return;
                asio::post(broker.control_pool(), [weak, index, part] {
                  auto a = weak.lock();
                  if (!a) return;
                  auto r = a->log->load_partition_blocking(*a->gc, part);
                  if (r.ok()) {
                    SHALE_LOG_INFO("coord", "gained {}-{}: loaded {} records", kOffsetsTopic, index,
                                   *r);
                  } else {
                    SHALE_LOG_ERROR("coord", "gained {}-{}: loading it failed: {}", kOffsetsTopic,
                                    index, r.error().to_string());
                  }
                });
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
