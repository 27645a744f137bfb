// Startup wiring of the embedded default: everything `shale serve` runs besides the network
// servers, built bottom-up from the settings and stopped top-down.
//
//   PosixFs ─► FileWal (DATA/wal) ─┐
//   LocalObjectStore (DATA/objects)├─► StreamStore ─► broker::Broker
//   EmbeddedMetaStore (DATA/meta) ─┘
//
// With --metadata etcd://... the metadata store is etcd and the broker is a cluster member:
// cluster::Membership registers it under a lease before the broker starts, and a
// cluster::ClusterNode opens only the partitions the controller assigns it (src/cluster).
//
// Ownership: Services owns every component; stop() stops them in reverse order (broker first,
// then the stream store, which uploads what it can, then the WAL). Call it after the Kafka server
// has stopped.
#pragma once

#include <memory>

#include "app/settings.h"
#include "base/result.h"
#include "kafka/server/metrics.h"

namespace shale::broker {
class Broker;
}  // namespace shale::broker

namespace shale::app {

class Services {
 public:
  virtual ~Services() = default;
  virtual broker::Broker& broker() = 0;
  virtual void stop() = 0;
};

// Opens (recovering if needed) and starts the storage stack and the broker. Blocking.
Result<std::unique_ptr<Services>> start_services(const Settings& s,
                                                 kafka::MetricsRegistry& metrics);

}  // namespace shale::app
