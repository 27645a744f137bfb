#include "app/wiring.h"

#include <algorithm>
#include <climits>

#include "base/clock.h"
#include "base/log.h"
#include "broker/broker.h"
#include "cluster/cluster_node.h"
#include "cluster/load_balancer.h"
#include "cluster/load_report.h"
#include "cluster/membership.h"
#include "cluster/wal_takeover.h"
#include "coord/broker_coordinator.h"
#include "etcd/etcd_meta_store.h"
#include "io/fs.h"
#include "meta/embedded_meta_store.h"
#include "objstore/local_object_store.h"
#include "s3/s3_store.h"
#include "stream/stream_store_impl.h"
#include "wal/file_wal.h"
#include "wal/object_wal.h"

namespace shale::app {
namespace {

constexpr std::string_view kFileScheme = "file://";
constexpr std::string_view kS3Scheme = "s3://";

Status context(const Status& st, const std::string& what) {
  return st.ok() ? st : Status(st.code(), what + ": " + st.message());
}

// ---- The three storage seams, each built in one place ------------------------------------------

// The metadata store: etcd (--metadata etcd://..., a cluster member) or the embedded journal.
Result<std::unique_ptr<meta::MetaStore>> open_metadata_store(const Settings& s,
                                                             const StoragePlan& plan,
                                                             io::Filesystem& fs, Clock& clock) {
  if (s.metadata.starts_with("etcd://")) {
    SHALE_LOG_INFO("app", "metadata store: {}", s.metadata);
    return etcd::open_etcd_meta(s.metadata, clock);
  }
  if (!s.metadata.empty()) {
    return Error{Errc::kInvalidArgument, "--metadata must be empty (embedded) or etcd://..."};
  }
  SHALE_ASSIGN_OR_RETURN(auto meta, meta::open_embedded_meta(fs, plan.meta_dir, clock, {}));
  SHALE_LOG_INFO("app", "metadata store: embedded journal in {}", plan.meta_dir);
  return std::unique_ptr<meta::MetaStore>(std::move(meta));
}

// The object store, with its capabilities probed and logged (never the credentials).
Result<std::unique_ptr<objstore::ObjectStore>> open_objects(const Settings& s,
                                                            const StoragePlan& plan,
                                                            io::Filesystem& fs) {
  std::unique_ptr<objstore::ObjectStore> store;
  std::string what;
  if (plan.object_store.starts_with(kS3Scheme)) {
    s3::CredentialSources creds;
    creds.configured = {s.s3_access_key, s.s3_secret_key, s.s3_session_token};
    creds.credentials_file = s.s3_credentials_file;
    SHALE_ASSIGN_OR_RETURN(auto cfg, s3::parse_s3_uri(plan.object_store, creds));
    what = cfg.describe();
    cfg.prefault_get_buffer_bytes =
        static_cast<uint64_t>(std::max<int64_t>(0, s.s3_prefault_get_buffers_mib)) << 20;
    SHALE_ASSIGN_OR_RETURN(auto s3store, s3::S3ObjectStore::open(std::move(cfg)));  // probes
    store = std::move(s3store);
  } else {
    std::string dir = plan.object_store.substr(kFileScheme.size());
    SHALE_ASSIGN_OR_RETURN(auto local, objstore::LocalObjectStore::open(fs, dir));
    what = plan.object_store;
    store = std::move(local);
  }
  SHALE_LOG_INFO("app", "object store: {} (conditional put: {})", what,
                 store->capabilities().conditional_put ? "yes" : "no");
  return store;
}

wal::ObjectWalOptions object_wal_options(const Settings& s) {
  wal::ObjectWalOptions wo;
  wo.node = NodeId(static_cast<int32_t>(s.node_id));
  wo.next_epoch = true;  // every start fences the previous incarnation of this node
  wo.flush_bytes = static_cast<uint64_t>(s.wal_flush_bytes);
  wo.flush_delay = std::chrono::milliseconds(s.wal_flush_ms);
  wo.max_inflight_uploads = static_cast<int>(s.wal_uploads);
  wo.commit_order = s.wal_object_commit == "parallel"     ? wal::CommitOrder::kParallel
                    : s.wal_object_commit == "sequential" ? wal::CommitOrder::kSequential
                                                          : wal::CommitOrder::kAuto;
  return wo;
}

std::unique_ptr<wal::Wal> make_wal(const Settings& s, const StoragePlan& plan, io::Filesystem& fs,
                                   objstore::ObjectStore& objects, meta::MetaStore& meta) {
  if (plan.object_wal) {
    wal::ObjectWalOptions wo = object_wal_options(s);
    SHALE_LOG_INFO("app", "wal: object WAL on the object store (flush {} bytes or {} ms)",
                   wo.flush_bytes, s.wal_flush_ms);
    return std::make_unique<wal::ObjectWal>(objects, meta, wo);
  }
  wal::FileWalOptions wo;
  wo.dir = plan.wal_dir;
  wo.segment_size = static_cast<uint64_t>(s.wal_segment_bytes);
  wo.max_total_size = static_cast<uint64_t>(s.wal_max_bytes);
  wo.max_commit_bytes = static_cast<uint64_t>(s.wal_max_commit_bytes);
  SHALE_LOG_INFO("app", "wal: file WAL in {}", plan.wal_dir);
  return std::make_unique<wal::FileWal>(fs, wo);
}

stream::StoreOptions store_options(const Settings& s) {
  stream::StoreOptions so;
  so.node = NodeId(static_cast<int32_t>(s.node_id));
  so.log_cache_bytes = static_cast<size_t>(s.log_cache_bytes);
  so.block_cache_bytes = static_cast<size_t>(s.block_cache_bytes);
  so.upload_threshold_bytes = static_cast<size_t>(s.upload_threshold_bytes);
  so.upload_interval_ms = s.upload_interval_ms;
  so.stream_object_bytes = static_cast<size_t>(s.stream_object_bytes);
  so.adopt_min_bytes =
      s.wal_adopt_min_bytes < 0 ? UINT64_MAX : static_cast<uint64_t>(s.wal_adopt_min_bytes);
  so.cold_read_threads = static_cast<size_t>(std::max<int64_t>(1, s.cold_read_threads));
  so.cold_read_drop_behind = s.cold_read_drop_behind;
  so.delete_grace_ms = s.delete_grace_ms;
  so.cold_read_bytes_per_sec =
      static_cast<uint64_t>(std::max<int64_t>(0, s.cold_read_bytes_per_sec));
  so.compaction_bytes_per_sec =
      static_cast<uint64_t>(std::max<int64_t>(0, s.compaction_bytes_per_sec));
  return so;
}

// Members are declared in construction order; stop() and the destructor tear down in reverse.
// The stream store's counters as Prometheus families (scraped from /metrics).
std::string render_store_metrics(const stream::StoreStats& st) {
  std::string out;
  auto family = [&](const char* name, const char* type, const char* help, uint64_t v) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, v);
  };
  family("shale_store_unuploaded_bytes", "gauge",
         "Acknowledged bytes only in the WAL (in flight to it or cached, not yet in objects)",
         st.unuploaded_bytes);
  family("shale_store_cache_bytes", "gauge", "Batch bytes in the log cache", st.cache_bytes);
  family("shale_store_objects", "gauge", "Objects in this broker's index", st.objects);
  family("shale_store_uploads_total", "counter", "Committed upload rounds", st.uploads);
  family("shale_store_adopted_objects_total", "counter",
         "Object WAL objects indexed in place instead of uploaded again", st.adopted_objects);
  family("shale_store_adopted_bytes_total", "counter", "Bytes of the adopted WAL objects",
         st.adopted_bytes);
  family("shale_store_compactions_total", "counter", "Committed compactions", st.compactions);
  family("shale_store_objects_deleted_total", "counter", "Objects deleted by GC",
         st.objects_deleted);
  family("shale_store_cold_reads_total", "counter", "Reads served from object storage",
         st.cold_reads);
  family("shale_store_wal_trim_failures_total", "counter", "Failed WAL trims",
         st.wal_trim_failures);
  return out;
}

class ComposedServices final : public Services {
 public:
  explicit ComposedServices(kafka::MetricsRegistry& metrics) : metrics_(&metrics) {}
  ~ComposedServices() override { stop(); }
  broker::Broker& broker() override { return *broker_; }

  Status start(const Settings& s, const StoragePlan& plan) {
    Clock& clock = SystemClock::instance();
    fs_ = io::make_posix_fs();
    SHALE_RETURN_IF_ERROR(fs_->mkdirs(s.data_dir));
    clustered_ = s.metadata.starts_with("etcd://");
    auto meta = open_metadata_store(s, plan, *fs_, clock);
    if (!meta.ok()) return context(meta.status(), "metadata store");
    meta_ = std::move(meta).value();
    auto objects = open_objects(s, plan, *fs_);
    if (!objects.ok()) return context(objects.status(), "object store");
    objects_ = std::move(objects).value();
    broker::BrokerConfig bc;
    // A cluster member registers BEFORE it claims its object WAL's epoch: a controller takes over
    // a dead node's WAL only while that node's broker key is absent (cluster/wal_takeover.h).
    if (clustered_) SHALE_RETURN_IF_ERROR(join_cluster(s, bc));
    wal_ = make_wal(s, plan, *fs_, *objects_, *meta_);

    stream::StoreOptions so = store_options(s);
    // Shutdown leaves un-uploaded data in the durable WAL; the next start replays and uploads it.
    so.upload_on_stop = false;
    store_ = stream::open_stream_store(so, *wal_, *objects_, *meta_, clock);
    // Recovers the WAL (replays what was not uploaded) and starts the uploader.
    SHALE_RETURN_IF_ERROR(context(store_->start(), "stream store"));
    store_started_ = true;
    store_collector_ =
        metrics_->add_collector([st = store_.get()] { return render_store_metrics(st->stats()); });
    if (auto* ow = dynamic_cast<wal::ObjectWal*>(wal_.get())) {
      SHALE_LOG_INFO("app", "object WAL recovered: node {} epoch {}, end {}", s.node_id,
                     ow->epoch().value(), ow->end().value());
    }

    bc.node_id = NodeId(static_cast<int32_t>(s.node_id));
    bc.topics.node_id = bc.node_id;
    bc.topics.default_partitions = static_cast<int32_t>(s.default_partitions);
    bc.topics.producer_id_expiration_ms = s.producer_id_expiration_ms;
    broker_ = std::make_unique<broker::Broker>(bc, *meta_, *store_, clock);
    SHALE_RETURN_IF_ERROR(context(broker_->start(), "broker"));
    if (clustered_) {
      cluster::ClusterNodeOptions co;
      co.tick = std::chrono::milliseconds(std::max<int64_t>(10, s.cluster_tick_ms));
      co.watch = s.cluster_watch;
      co.resync = std::chrono::milliseconds(std::max<int64_t>(10, s.cluster_resync_ms));
      co.balance = s.balance;
      SHALE_RETURN_IF_ERROR(start_balancing(s, co));
      if (plan.object_wal) {
        // A dead broker's acknowledged, un-uploaded records are in its object WAL: recover them
        // into its streams before its partitions move.
        co.take_over_wal = [this, so, wo = object_wal_options(s), clk = &clock](int32_t node) {
          auto r = cluster::take_over_object_wal(*meta_, *objects_, *clk, node, so, wo);
          if (!r.ok()) return r.status();
          SHALE_LOG_INFO("app", "took over broker {}'s object WAL (epoch {}): {} bytes, {} uploads",
                         node, r->wal_epoch, r->recovered_bytes, r->uploads);
          return Status();
        };
        auto* own = dynamic_cast<wal::ObjectWal*>(wal_.get());
        co.own_wal_fenced = [own] {
          auto e = own->stored_epoch();
          return e.ok() && *e > own->epoch();
        };
      }
      agent_ = std::make_unique<cluster::ClusterNode>(*meta_, *membership_, broker_->topics(), co);
      agent_->start();                          // first pass: opens this broker's partitions
      broker_->set_cluster_view(agent_.get());  // before the coordinator: it hooks acquisitions
      SHALE_LOG_INFO("app", "cluster member {} (metadata {}){}", s.node_id, s.metadata,
                     plan.object_wal ? ""
                                     : "; file WAL: acknowledged records not yet uploaded "
                                       "are not served after a failover if it dies");
    }
    coord::CoordinatorOptions gco;
    gco.offsets_retention_ms = s.offsets_retention_minutes * 60 * 1000;
    gco.offsets_retention_check_interval_ms = s.offsets_retention_check_interval_ms;
    gco.max_group_size = static_cast<int32_t>(std::clamp<int64_t>(s.group_max_size, 1, INT32_MAX));
    coord::configure(*broker_, gco);
    SHALE_LOG_INFO("app", "storage ready (data dir {})", s.data_dir);
    return Status();
  }

  void stop() override {
    if (stopped_) return;
    stopped_ = true;
    if (agent_) agent_->stop();  // no more ownership changes from this broker
    if (reporter_) reporter_->stop();
    if (metrics_collector_) metrics_->remove_collector(metrics_collector_);
    if (store_collector_) metrics_->remove_collector(store_collector_);
    if (broker_) broker_->stop();                  // closes partitions: uploads, releases
    if (membership_) membership_->revoke();        // then the controller reassigns at once
    if (store_ && store_started_) store_->stop();  // stops the WAL
  }

 private:
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

  // Load reports from this broker and the controller's balancer (cluster/load_balancer.h).
  Status start_balancing(const Settings& s, cluster::ClusterNodeOptions& co) {
    cluster::BalanceMode mode = cluster::BalanceMode::kLoad;
    (void)cluster::parse_balance_mode(s.balancer_mode, &mode);  // validated by start_services
    if (!s.balance) mode = cluster::BalanceMode::kOff;
    auto ms = [](int64_t v) { return std::chrono::milliseconds(std::max<int64_t>(1, v)); };
    cluster::BalancerOptions bo;
    bo.threshold = static_cast<double>(s.balancer_threshold_pct) / 100.0;
    bo.sustain = static_cast<int>(std::clamp<int64_t>(s.balancer_sustain, 1, 1000));
    bo.min_gain = static_cast<double>(s.balancer_min_gain_pct) / 100.0;
    bo.cooldown = ms(s.balancer_cooldown_ms);
    bo.max_moves = static_cast<int>(std::clamp<int64_t>(s.balancer_max_moves, 0, 1000000));
    bo.move_window = ms(s.balancer_move_window_ms);
    bo.idle_bytes_per_sec = static_cast<double>(s.balancer_idle_bytes_per_sec);
    balancer_ = std::make_unique<cluster::LoadBalancer>(*meta_, mode, bo);
    co.planner = [lb = balancer_.get()](const cluster::PlacementInput& in) { return lb->plan(in); };
    metrics_collector_ =
        metrics_->add_collector([lb = balancer_.get()] { return lb->render_metrics(); });
    if (mode == cluster::BalanceMode::kLoad) {
      reporter_ = std::make_unique<cluster::LoadReporter>(
          *meta_, *membership_, broker_->topics(),
          cluster::LoadReporterOptions{ms(s.load_report_ms), ms(s.load_window_ms)});
      reporter_->start();
    }
    SHALE_LOG_INFO("app", "balancer: {} (load reports every {} ms)",
                   cluster::balance_mode_name(mode), s.load_report_ms);
    return Status();
  }

  std::unique_ptr<io::Filesystem> fs_;
  bool clustered_ = false;
  std::unique_ptr<meta::MetaStore> meta_;
  std::unique_ptr<objstore::ObjectStore> objects_;
  std::unique_ptr<wal::Wal> wal_;
  std::unique_ptr<stream::StreamStoreImpl> store_;
  std::unique_ptr<cluster::Membership> membership_;
  std::unique_ptr<broker::Broker> broker_;
  std::unique_ptr<cluster::LoadBalancer> balancer_;
  std::unique_ptr<cluster::LoadReporter> reporter_;
  std::unique_ptr<cluster::ClusterNode> agent_;
  kafka::MetricsRegistry* metrics_ = nullptr;
  uint64_t metrics_collector_ = 0;
  uint64_t store_collector_ = 0;
  bool store_started_ = false;
  bool stopped_ = false;
};

}  // namespace

Result<StoragePlan> plan_storage(const Settings& s) {
  StoragePlan p;
  p.meta_dir = s.meta_dir.empty() ? s.data_dir + "/meta" : s.meta_dir;
  p.object_store =
      s.object_store.empty() ? std::string(kFileScheme) + s.data_dir + "/objects" : s.object_store;
  if (!p.object_store.starts_with(kFileScheme) && !p.object_store.starts_with(kS3Scheme))
    return Error{Errc::kInvalidArgument,
                 "--object-store must be file://DIR or s3://BUCKET/PREFIX?..."};
  if (p.object_store == kFileScheme)
    return Error{Errc::kInvalidArgument, "--object-store file:// needs a directory"};
  if (s.wal == "object" || s.wal == "s3") {
    p.object_wal = true;
  } else if (s.wal.empty()) {
    p.wal_dir = s.data_dir + "/wal";
  } else if (s.wal.starts_with(kFileScheme) && s.wal.size() > kFileScheme.size()) {
    p.wal_dir = s.wal.substr(kFileScheme.size());
  } else {
    return Error{Errc::kInvalidArgument,
                 "--wal must be file://DIR, 'object' or 's3' (got '" + s.wal + "')"};
  }
  if (p.object_wal && (s.wal_flush_bytes <= 0 || s.wal_flush_ms < 0))
    return Error{Errc::kInvalidArgument, "--wal-flush-bytes must be > 0, --wal-flush-ms >= 0"};
  if (s.wal_uploads < 1 || s.wal_uploads > 64)
    return Error{Errc::kInvalidArgument, "--wal-uploads must be in [1, 64]"};
  if (s.wal_object_commit != "auto" && s.wal_object_commit != "parallel" &&
      s.wal_object_commit != "sequential")
    return Error{Errc::kInvalidArgument,
                 "--wal-object-commit must be auto, parallel or sequential"};
  return p;
}

Result<std::unique_ptr<Services>> start_services(const Settings& s,
                                                 kafka::MetricsRegistry& metrics) {
  SHALE_ASSIGN_OR_RETURN(StoragePlan plan, plan_storage(s));
  cluster::BalanceMode mode;
  if (!cluster::parse_balance_mode(s.balancer_mode, &mode)) {
    return Error{Errc::kInvalidArgument,
                 "--balancer-mode must be off, count or load (got '" + s.balancer_mode + "')"};
  }
  auto svc = std::make_unique<ComposedServices>(metrics);
  SHALE_RETURN_IF_ERROR(svc->start(s, plan));
  return std::unique_ptr<Services>(std::move(svc));
}

}  // namespace shale::app
