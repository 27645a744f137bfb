#include "app/wiring.h"

#include "base/log.h"

namespace shale::app {
namespace {

// Interim: the storage stack and broker::Broker are not linked yet. Only handlers that do not
// touch the broker (ApiVersions, SaslHandshake) are registered, so the reference is never used.
class NoBrokerServices final : public Services {
 public:
  broker::Broker& broker() override { return *reinterpret_cast<broker::Broker*>(storage_); }
  void stop() override {}

 private:
  alignas(64) unsigned char storage_[64] = {};
};

}  // namespace

Result<std::unique_ptr<Services>> start_services(const Settings& s, kafka::MetricsRegistry&) {
  SHALE_LOG_WARN("app", "storage stack not wired yet; data dir {} unused", s.data_dir);
  return std::unique_ptr<Services>(std::make_unique<NoBrokerServices>());
}

}  // namespace shale::app
