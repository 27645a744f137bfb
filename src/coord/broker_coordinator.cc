#include "coord/broker_coordinator.h"

#include "broker/broker.h"

namespace shale::coord {

std::shared_ptr<GroupCoordinator> coordinator_of(broker::Broker& broker) {
  auto p = broker.attachment("coord.group_coordinator", [&broker]() -> std::shared_ptr<void> {
    auto gc = std::make_shared<GroupCoordinator>(CoordinatorOptions{}, broker.clock());
    gc->start_ticker();
    return gc;
  });
  return std::static_pointer_cast<GroupCoordinator>(p);
}

std::string client_host_of(const std::string& peer) {
  auto colon = peer.rfind(':');
  std::string ip = colon == std::string::npos ? peer : peer.substr(0, colon);
  if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  return "/" + ip;
}

}  // namespace shale::coord
