#include "app/wiring.h"

#include "base/clock.h"
#include "base/log.h"
#include "broker/broker.h"
#include "cluster/cluster_node.h"
#include "cluster/membership.h"
#include "etcd/etcd_meta_store.h"
#include "io/fs.h"
#include "meta/embedded_meta_store.h"
#include "objstore/local_object_store.h"
#include "stream/stream_store_impl.h"
#include "wal/file_wal.h"

namespace shale::app {
namespace {

// The embedded default, all under one data directory. Members are declared in construction
// order; stop() and the destructor tear down in reverse.
class EmbeddedServices final : public Services {
 public:
  ~EmbeddedServices() override { stop(); }
  broker::Broker& broker() override { return *broker_; }

  Status start(const Settings& s) {
    Clock& clock = SystemClock::instance();
    fs_ = io::make_posix_fs();
    SHALE_RETURN_IF_ERROR(fs_->mkdirs(s.data_dir));
    SHALE_RETURN_IF_ERROR(open_meta(s, clock));
    auto objects = objstore::LocalObjectStore::open(*fs_, s.data_dir + "/objects");
    if (!objects.ok()) {
      return Status(objects.error().code, "object store: " + objects.error().message);
    }
    objects_ = std::move(objects).value();

    wal::FileWalOptions wo;
    wo.dir = s.data_dir + "/wal";
    wo.segment_size = static_cast<uint64_t>(s.wal_segment_bytes);
    wo.max_total_size = static_cast<uint64_t>(s.wal_max_bytes);
    wo.max_commit_bytes = static_cast<uint64_t>(s.wal_max_commit_bytes);
    wal_ = std::make_unique<wal::FileWal>(*fs_, wo);

    stream::StoreOptions so;
    so.node = NodeId(static_cast<int32_t>(s.node_id));
    so.log_cache_bytes = static_cast<size_t>(s.log_cache_bytes);
    so.block_cache_bytes = static_cast<size_t>(s.block_cache_bytes);
    so.upload_threshold_bytes = static_cast<size_t>(s.upload_threshold_bytes);
    so.upload_interval_ms = s.upload_interval_ms;
    so.stream_object_bytes = static_cast<size_t>(s.stream_object_bytes);
    so.cold_read_threads = static_cast<size_t>(std::max<int64_t>(1, s.cold_read_threads));
    so.delete_grace_ms = s.delete_grace_ms;
    store_ = stream::open_stream_store(so, *wal_, *objects_, *meta_, clock);
    // Recovers the WAL (replays what was not uploaded) and starts the uploader.
    if (Status st = store_->start(); !st.ok()) {
      return Status(st.code(), "stream store: " + st.message());
    }
    store_started_ = true;

    broker::BrokerConfig bc;
    bc.node_id = NodeId(static_cast<int32_t>(s.node_id));
    bc.topics.node_id = bc.node_id;
    bc.topics.default_partitions = static_cast<int32_t>(s.default_partitions);
    if (clustered_) SHALE_RETURN_IF_ERROR(join_cluster(s, bc));
    broker_ = std::make_unique<broker::Broker>(bc, *meta_, *store_, clock);
    if (Status st = broker_->start(); !st.ok()) {
      return Status(st.code(), "broker: " + st.message());
    }
    if (clustered_) {
      cluster::ClusterNodeOptions co;
      co.tick = std::chrono::milliseconds(std::max<int64_t>(10, s.cluster_tick_ms));
      co.balance = s.balance;
      agent_ = std::make_unique<cluster::ClusterNode>(*meta_, *membership_, broker_->topics(), co);
      agent_->start();  // first pass: opens this broker's partitions
      broker_->set_cluster_view(agent_.get());
      SHALE_LOG_INFO("app", "cluster member {} (metadata {}); local WAL and objects under {}",
                     s.node_id, s.metadata, s.data_dir);
    } else {
      SHALE_LOG_INFO("app", "embedded default ready under {} (wal, objects, meta)", s.data_dir);
    }
    return Status();
  }

  void stop() override {
    if (stopped_) return;
    stopped_ = true;
    if (agent_) agent_->stop();                    // no more ownership changes from this broker
    if (broker_) broker_->stop();                  // closes partitions: uploads, releases
    if (membership_) membership_->revoke();        // then the controller reassigns at once
    if (store_ && store_started_) store_->stop();  // uploads what it can, stops the WAL
  }

 private:
  Status open_meta(const Settings& s, Clock& clock) {
    clustered_ = s.metadata.starts_with("etcd://");
    if (!s.metadata.empty() && !clustered_) {
      return Status(Errc::kInvalidArgument, "--metadata must be empty (embedded) or etcd://...");
    }
    if (clustered_) {
      auto meta = etcd::open_etcd_meta(s.metadata, clock);
      if (!meta.ok()) return Status(meta.error().code, "metadata store: " + meta.error().message);
      meta_ = std::move(meta).value();
    } else {
      auto meta = meta::open_embedded_meta(*fs_, s.data_dir + "/meta", clock, {});
      if (!meta.ok()) return Status(meta.error().code, "metadata store: " + meta.error().message);
      meta_ = std::move(meta).value();
    }
    return Status();
  }

  // Registers this broker (waits for a previous incarnation's lease if needed) and makes the
  // broker open only the partitions the controller assigns it.
  Status join_cluster(const Settings& s, broker::BrokerConfig& bc) {
    auto adv = parse_host_port(s.advertise.empty() ? s.listen : s.advertise);
    if (!adv.ok()) return adv.error();
    if (adv->port == 0) {
      return Status(Errc::kInvalidArgument,
                    "a cluster member needs a fixed --listen/--advertise port");
    }
    cluster::MembershipOptions mo;
    mo.self = {static_cast<int32_t>(s.node_id), adv->host, adv->port, s.rack};
    mo.ttl = std::chrono::seconds(std::max<int64_t>(1, s.broker_lease_seconds));
    membership_ = std::make_unique<cluster::Membership>(*meta_, mo);
    if (Status st = membership_->start(); !st.ok()) {
      return Status(st.code(), "cluster registration: " + st.message());
    }
    bc.topics.open_all = false;
    bc.topics.serving_guard = [m = membership_.get()] { return m->serving(); };
    return Status();
  }

  std::unique_ptr<io::Filesystem> fs_;
  bool clustered_ = false;
  std::unique_ptr<meta::MetaStore> meta_;
  std::unique_ptr<objstore::LocalObjectStore> objects_;
  std::unique_ptr<wal::FileWal> wal_;
  std::unique_ptr<stream::StreamStoreImpl> store_;
  std::unique_ptr<cluster::Membership> membership_;
  std::unique_ptr<broker::Broker> broker_;
  std::unique_ptr<cluster::ClusterNode> agent_;
  bool store_started_ = false;
  bool stopped_ = false;
};

}  // namespace

Result<std::unique_ptr<Services>> start_services(const Settings& s, kafka::MetricsRegistry&) {
  auto svc = std::make_unique<EmbeddedServices>();
  SHALE_RETURN_IF_ERROR(svc->start(s));
  return std::unique_ptr<Services>(std::move(svc));
}

}  // namespace shale::app
