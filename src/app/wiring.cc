#include "app/wiring.h"

#include "base/clock.h"
#include "base/log.h"
#include "broker/broker.h"
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
    auto meta = meta::open_embedded_meta(*fs_, s.data_dir + "/meta", clock, {});
    if (!meta.ok()) return Status(meta.error().code, "metadata store: " + meta.error().message);
    meta_ = std::move(meta).value();
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
    // Shutdown leaves un-uploaded data in the durable WAL; the next start replays and uploads it.
    so.upload_on_stop = false;
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
    broker_ = std::make_unique<broker::Broker>(bc, *meta_, *store_, clock);
    if (Status st = broker_->start(); !st.ok()) {
      return Status(st.code(), "broker: " + st.message());
    }
    SHALE_LOG_INFO("app", "embedded default ready under {} (wal, objects, meta)", s.data_dir);
    return Status();
  }

  void stop() override {
    if (stopped_) return;
    stopped_ = true;
    if (broker_) broker_->stop();
    if (store_ && store_started_) store_->stop();  // stops the WAL; no final upload
  }

 private:
  std::unique_ptr<io::Filesystem> fs_;
  std::unique_ptr<meta::EmbeddedMetaStore> meta_;
  std::unique_ptr<objstore::LocalObjectStore> objects_;
  std::unique_ptr<wal::FileWal> wal_;
  std::unique_ptr<stream::StreamStoreImpl> store_;
  std::unique_ptr<broker::Broker> broker_;
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
