// Startup wiring: everything `shale serve` runs besides the network servers, composed from the
// storage choices in the settings, built bottom-up and stopped top-down.
//
//   metadata store  EmbeddedMetaStore in --meta-dir (default DATA_DIR/meta)     ─┐
//   object store    --object-store file://DIR (default DATA_DIR/objects) | s3:// ├─► StreamStore
//   WAL             --wal file://DIR (default DATA_DIR/wal): FileWal on PosixFs  ─┘   ─► Broker
//                   --wal object|s3: ObjectWal on the object store + metadata
//
// With --metadata etcd://... the metadata store is etcd and the broker is a cluster member:
// cluster::Membership registers it under a lease before the broker starts, and a
// cluster::ClusterNode opens only the partitions the controller assigns it (src/cluster).
//
// Ownership: Services owns every component; stop() stops them in reverse order (broker first,
// then the stream store and the WAL; no final upload: the WAL is durable and the next start
// replays it). Call it after the Kafka server has stopped.
#pragma once

#include <memory>
#include <string>

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

// The storage choices resolved from the settings (defaults filled in, values validated).
struct StoragePlan {
  std::string meta_dir;
  std::string object_store;  // "file://DIR" or "s3://..."
  bool object_wal = false;
  std::string wal_dir;  // file WAL only
};
// kInvalidArgument for an unknown --wal or --object-store scheme.
Result<StoragePlan> plan_storage(const Settings& s);

// Opens (recovering if needed) and starts the storage stack and the broker. Blocking.
Result<std::unique_ptr<Services>> start_services(const Settings& s,
                                                 kafka::MetricsRegistry& metrics);

}  // namespace shale::app
