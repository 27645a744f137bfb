// The group coordinator of a Broker: created on first use and attached to the Broker (so it
// lives exactly as long as the broker serves), with its ticker thread running.
//
//   auto gc = coord::coordinator_of(ctx.broker);   // from a handler, on an event loop
//   if (!gc) -> COORDINATOR_NOT_AVAILABLE (the broker is stopping)
//
// Threading: thread-safe and non-blocking (creation does no I/O).
#pragma once

#include <memory>
#include <string>

#include "coord/group_coordinator.h"

namespace shale::broker {
class Broker;
}  // namespace shale::broker

namespace shale::coord {

std::shared_ptr<GroupCoordinator> coordinator_of(broker::Broker& broker);

// Options for the coordinator coordinator_of() creates (offsets retention, ...). Call once at
// startup, before the first group request; without it the Kafka defaults apply.
void configure(broker::Broker& broker, const CoordinatorOptions& opts);

// Kafka reports a member's host as "/ip"; `peer` is the connection's "ip:port".
std::string client_host_of(const std::string& peer);

}  // namespace shale::coord
