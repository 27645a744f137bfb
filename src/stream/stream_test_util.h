// Test harness for the stream store: a whole "node" (FileWal + LocalObjectStore + embedded
// metadata, all on one MemFs) that can crash (drop unsynced data) and reboot from the same disk.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "base/clock.h"
#include "base/endian.h"
#include "io/mem_fs.h"
#include "meta/embedded_meta_store.h"
#include "objstore/local_object_store.h"
#include "stream/stream_store_impl.h"
#include "wal/file_wal.h"

namespace shale::stream::testing {

inline Status status_of(const Status& s) {
  return s;
}
template <typename T>
Status status_of(const Result<T>& r) {
  return r.status();
}

#define ASSERT_OK(expr)                                \
  do {                                                 \
    auto _s = (expr);                                  \
    ASSERT_TRUE(_s.ok()) << status_of(_s).to_string(); \
  } while (0)

// A fake Kafka v2 batch: 61-byte header (magic 2 at byte 16, max timestamp at 35) + payload.
inline Buf make_batch(std::mt19937_64& rng, size_t payload, int64_t max_ts = -1) {
  std::vector<uint8_t> v(61 + payload);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  store_be<int64_t>(v.data(), -1);
  v[16] = 2;
  store_be<int64_t>(v.data() + 35, max_ts);
  return Buf::take(std::move(v));
}
inline Offset base_of(const Buf& b) {
  return Offset(load_be<int64_t>(b.data()));
}

class Node {
 public:
  // fs holds the WAL (a FaultyFs over the world's MemFs to inject WAL errors).
  explicit Node(io::Filesystem& fs, StoreOptions opts = {}, NodeId id = NodeId(1),
                std::string wal_dir = "/wal1")
      : fs_(fs), opts_(std::move(opts)), wal_dir_(std::move(wal_dir)) {
    opts_.node = id;
  }
  ~Node() { shutdown(); }

  // Crash at the `nth` (1-based) hit of crash point `point` ("" = never).
  void arm(std::string point, int nth = 1) {
    crash_point_ = std::move(point);
    crash_countdown_ = nth;
  }
  bool crashed() const { return crashed_.load(); }

  Status boot(objstore::ObjectStore& objects, meta::MetaStore& meta, Clock& clock) {
    crashed_ = false;
    StoreOptions o = opts_;
    o.crash_hook = [this](std::string_view p) { return hook(p); };
    wal::FileWalOptions wo;
    wo.dir = wal_dir_;
    wo.segment_size = 1 << 20;
    wo.max_total_size = 8 << 20;
    wo.crash_hook = [this](std::string_view) { return crashed_.load(); };
    wal_ = std::make_unique<wal::FileWal>(fs_, wo);
    store_ = open_stream_store(o, *wal_, objects, meta, clock);
    return store_->start();
  }
  void shutdown() {
    if (store_) store_->stop();
    store_.reset();
    wal_.reset();
  }
  // Simulated process death: no more I/O from this node; its threads are joined.
  void kill() {
    crashed_ = true;
    shutdown();
  }
  StreamStoreImpl& store() { return *store_; }
  wal::FileWal& wal() { return *wal_; }

 private:
  bool hook(std::string_view p) {
    if (crashed_.load()) return true;
    if (crash_point_.empty() || p != crash_point_) return false;
    if (--crash_countdown_ != 0) return false;
    crashed_ = true;
    return true;
  }

  io::Filesystem& fs_;
  StoreOptions opts_;
  std::string wal_dir_;
  std::string crash_point_;
  int crash_countdown_ = 0;
  std::atomic<bool> crashed_{false};
  std::unique_ptr<wal::FileWal> wal_;
  std::unique_ptr<StreamStoreImpl> store_;
};

// The shared world: one disk with the metadata journal and the object store directory.
struct World {
  io::MemFs fs{7};
  ManualClock clock;
  std::unique_ptr<objstore::LocalObjectStore> objects;
  std::unique_ptr<meta::MetaStore> meta;

  World() { reopen(); }
  // After a crash: rebuild the stores from what is durable on the disk.
  void reopen() {
    meta.reset();
    auto o = objstore::LocalObjectStore::open(fs, "/objects");
    EXPECT_TRUE(o.ok()) << o.status().to_string();
    if (o.ok()) objects = std::move(*o);
    auto m = meta::open_embedded_meta(fs, "/meta", clock);
    EXPECT_TRUE(m.ok()) << m.status().to_string();
    if (m.ok()) meta = std::move(*m);
  }
  void power_loss() {
    meta.reset();
    fs.crash();
    reopen();
  }
};

inline StoreOptions small_options() {
  StoreOptions o;
  o.background = false;
  o.log_cache_bytes = 64 << 10;
  o.upload_threshold_bytes = 16 << 10;
  o.stream_object_bytes = 32 << 10;
  o.delete_grace_ms = 1000;
  o.compact_min_objects = 3;
  o.compact_small_object_bytes = 1 << 20;
  o.block_cache_bytes = 1 << 20;
  return o;
}

}  // namespace shale::stream::testing
