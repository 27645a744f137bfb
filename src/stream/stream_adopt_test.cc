// Adoption: on the object WAL, an upload indexes whole WAL objects in place (they are stream-set
// objects already) instead of uploading their records a second time. These tests check that
// nothing is PUT twice, that the WAL never deletes an adopted object (trim, restart sweep), that
// compaction and GC retire adopted objects only after the WAL let them go, and that a commit
// whose answer was lost neither deletes nor re-adopts the object.
#include <gtest/gtest.h>

#include <future>
#include <map>
#include <set>

#include "meta/faulty_meta_store.h"
#include "meta/txn_rules.h"
#include "objstore/mem_object_store.h"
#include "stream/stream_test_util.h"
#include "wal/object_wal.h"

namespace shale::stream::testing {
namespace {

using namespace std::chrono_literals;

class AdoptTest : public ::testing::Test {
 protected:
  void SetUp() override { boot(); }
  void TearDown() override { shutdown(); }

  StoreOptions options() {
    StoreOptions o = small_options();
    o.log_cache_bytes = 4 << 20;
    o.upload_threshold_bytes = 2 << 20;
    o.adopt_min_bytes = adopt_min_bytes_;
    o.upload_on_stop = false;  // as in the app: a stop leaves the records in the WAL
    return o;
  }
  void boot() {
    wal::ObjectWalOptions wo;
    wo.node = NodeId(1);
    wo.next_epoch = true;
    wo.flush_bytes = flush_bytes_;
    wo.early_flush_bytes = UINT64_MAX;  // objects as big as flush_bytes
    wo.flush_delay = 20ms;
    wal_ = std::make_unique<wal::ObjectWal>(objects_, meta_, wo);
    StoreOptions so = options();
    so.node = NodeId(1);
    store_ = open_stream_store(so, *wal_, objects_, meta_, clock_);
    ASSERT_OK(store_->start());
  }
  void shutdown() {
    if (store_) store_->stop();
    store_.reset();
    wal_.reset();
  }
  StreamStoreImpl& s() { return *store_; }
  StreamId open_new(Epoch e = Epoch(1)) {
    auto id = s().create();
    EXPECT_TRUE(id.ok());
    EXPECT_TRUE(s().open(*id, e).ok());
    return *id;
  }
  // n batches to each stream, interleaved and in flight together, so WAL objects mix streams.
  void append_interleaved(const std::vector<StreamId>& ids, int n, Epoch e = Epoch(1)) {
    std::vector<std::pair<StreamId, Buf>> batches;
    for (int i = 0; i < n; ++i) {
      for (StreamId id : ids) batches.emplace_back(id, make_batch(rng_, 2000, clock_.wall_ms()));
    }
    append_in_flight(batches, 3, e);
  }
  // Appends every batch (of `records` records each) before waiting for any acknowledgement.
  void append_in_flight(const std::vector<std::pair<StreamId, Buf>>& batches, int32_t records,
                        Epoch e = Epoch(1)) {
    std::vector<std::future<Result<AppendResult>>> fs;
    for (const auto& [id, b] : batches) {
      auto p = std::make_shared<std::promise<Result<AppendResult>>>();
      fs.push_back(p->get_future());
      s().append(id, e, b, records, [p](Result<AppendResult> r) { p->set_value(std::move(r)); });
    }
    for (size_t i = 0; i < fs.size(); ++i) {
      auto r = fs[i].get();
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      sent_[batches[i].first][r->base.value()] = batches[i].second;
    }
  }
  std::set<std::string> stored(const std::string& prefix) {
    auto l = objects_.list(prefix);
    EXPECT_TRUE(l.ok());
    std::set<std::string> out;
    for (const auto& o : l->objects) out.insert(o.key);
    return out;
  }
  // The object records in the metadata store.
  std::vector<ObjectRecord> index_records() {
    const std::string op(kObjectsPrefix);
    auto rr = meta_.get(op, meta::prefix_end(op));
    EXPECT_TRUE(rr.ok());
    std::vector<ObjectRecord> out;
    for (const auto& kv : rr->kvs) {
      auto rec =
          decode_object(ObjectId(std::stoull(kv.key.substr(kv.key.rfind('/') + 1))), kv.value);
      EXPECT_TRUE(rec.ok());
      if (rec.ok()) out.push_back(std::move(*rec));
    }
    return out;
  }
  std::set<std::string> indexed() {
    std::set<std::string> out;
    for (const ObjectRecord& rec : index_records()) out.insert(rec.key);
    return out;
  }
  size_t keys_under(const std::string& prefix) {
    auto rr = meta_.get(prefix, meta::prefix_end(prefix));
    EXPECT_TRUE(rr.ok());
    return rr->kvs.size();
  }
  // Every acknowledged batch, read from object storage by another node after a takeover.
  void expect_readable_elsewhere() {
    for (const auto& k : indexed()) EXPECT_TRUE(stored("").count(k)) << "indexed but gone: " << k;
    ASSERT_OK(s().flush_uploads());
    shutdown();
    wal::ObjectWalOptions wo;
    wo.node = NodeId(2);
    wo.next_epoch = true;
    wal::ObjectWal w2(objects_, meta_, wo);
    StoreOptions so = options();
    so.node = NodeId(2);
    auto other = open_stream_store(so, w2, objects_, meta_, clock_);
    ASSERT_OK(other->start());
    for (auto& [id, batches] : sent_) {
      ASSERT_TRUE(other->open(id, Epoch(9)).ok());
      for (auto& [base, want] : batches) {
        auto r = other->read_sync(id, Offset(base), 1);
        ASSERT_TRUE(r.ok()) << r.status().to_string() << " at " << base;
        ASSERT_TRUE(r->batches.at(0) == want) << "bytes differ at " << base;
      }
    }
    other->stop();
  }

  uint64_t adopt_min_bytes_ = 0;
  size_t flush_bytes_ = 256 << 10;
  objstore::MemObjectStore objects_;
  std::unique_ptr<meta::MetaStore> meta_owner_ = meta::make_mem_meta();
  meta::FaultyMetaStore meta_{*meta_owner_};
  ManualClock clock_;
  std::mt19937_64 rng_{11};
  std::unique_ptr<wal::ObjectWal> wal_;
  std::unique_ptr<StreamStoreImpl> store_;
  std::map<StreamId, std::map<int64_t, Buf>> sent_;
};

TEST_F(AdoptTest, UploadIndexesWholeWalObjectsAndPutsNothingTwice) {
  std::vector<StreamId> ids = {open_new(), open_new(), open_new()};
  append_interleaved(ids, 120);  // ~720 KiB: a few WAL objects of up to 256 KiB
  const std::set<std::string> wal_objects = stored("wal/");
  ASSERT_GE(wal_objects.size(), 2u);
  ASSERT_OK(s().upload_once());
  EXPECT_EQ(s().stats().adopted_objects, wal_objects.size());
  EXPECT_TRUE(stored("shale/").empty()) << "records were uploaded a second time";
  EXPECT_EQ(indexed(), wal_objects);
  // The WAL was trimmed past them (no index entries left) but kept every object.
  EXPECT_EQ(keys_under("/shale/wal/0000000001/idx/"), 0u);
  EXPECT_EQ(stored("wal/"), wal_objects);
  EXPECT_EQ(keys_under("/shale/wal/keep/"), wal_objects.size());
  // A restart's WAL sweep (objects no index entry names) leaves adopted objects alone.
  shutdown();
  boot();
  EXPECT_EQ(stored("wal/"), wal_objects);
  expect_readable_elsewhere();
}

// One object per append: more WAL objects than one commit txn may adopt (etcd's 128 ops). The
// round adopts what fits and uploads the rest again, instead of failing forever.
TEST_F(AdoptTest, ARoundAdoptsNoMoreObjectsThanOneTxnHolds) {
  StreamId id = open_new();
  for (int i = 0; i < 150; ++i) {
    Buf b = make_batch(rng_, 500, clock_.wall_ms());
    auto r = s().append_sync(id, Epoch(1), b, 1);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    sent_[id][r->base.value()] = b;
  }
  ASSERT_EQ(stored("wal/").size(), 150u);
  ASSERT_OK(s().upload_once());
  EXPECT_EQ(s().stats().adopted_objects, (meta::kMaxTxnOps - 3) / 2);
  EXPECT_FALSE(stored("shale/").empty());
  EXPECT_EQ(stored("wal/").size(), s().stats().adopted_objects);
  expect_readable_elsewhere();
}

TEST_F(AdoptTest, ObjectsBelowTheSizeThresholdAreUploadedAgain) {
  adopt_min_bytes_ = 1 << 30;
  shutdown();
  boot();
  std::vector<StreamId> ids = {open_new(), open_new()};
  append_interleaved(ids, 60);
  ASSERT_OK(s().upload_once());
  EXPECT_EQ(s().stats().adopted_objects, 0u);
  EXPECT_FALSE(stored("shale/").empty());
  EXPECT_TRUE(stored("wal/").empty()) << "the WAL trim deletes objects nobody adopted";
  EXPECT_EQ(keys_under("/shale/wal/keep/"), 0u);
  expect_readable_elsewhere();
}

TEST_F(AdoptTest, RecordsReplayedAfterACrashAreAdoptedToo) {
  std::vector<StreamId> ids = {open_new(), open_new()};
  append_interleaved(ids, 80);
  const std::set<std::string> wal_objects = stored("wal/");
  shutdown();  // leaves the records only in the WAL, as a crash would
  boot();
  for (StreamId id : ids) ASSERT_TRUE(s().open(id, Epoch(2)).ok());
  // open() uploads recovered records before it bumps the epoch: by adopting the WAL objects.
  EXPECT_EQ(s().stats().adopted_objects, wal_objects.size());
  EXPECT_TRUE(stored("shale/").empty());
  EXPECT_EQ(indexed(), wal_objects);
  expect_readable_elsewhere();
}

TEST_F(AdoptTest, CompactionRetiresAdoptedObjectsAndGcReleasesThem) {
  std::vector<StreamId> ids = {open_new(), open_new(), open_new()};
  for (int round = 0; round < 4; ++round) {
    append_interleaved(ids, 30);
    ASSERT_OK(s().upload_once());
  }
  const std::set<std::string> adopted = stored("wal/");
  ASSERT_GE(s().stats().adopted_objects, 4u);
  ASSERT_OK(s().compact_once());
  EXPECT_EQ(s().stats().compactions, 1u);
  for (const auto& k : indexed()) EXPECT_EQ(k.rfind("shale/", 0), 0u) << k;
  clock_.advance(2s);  // past delete_grace_ms
  ASSERT_OK(s().gc_once());
  EXPECT_TRUE(stored("wal/").empty()) << "compacted-away adopted objects are deleted";
  EXPECT_EQ(keys_under("/shale/wal/keep/"), 0u) << "and their keep keys after them";
  expect_readable_elsewhere();
}

// A busy partition's adopted WAL objects hold one stream and are big: compaction does not write
// them a second time. Small ones, and big ones that mix streams, are still merged. Each WAL
// object is what one flush timer gathered (flush_bytes is never reached), so the objects' sizes
// do not depend on how fast the test runs (ASan).
TEST_F(AdoptTest, CompactionLeavesBigSingleStreamObjectsAlone) {
  flush_bytes_ = 4 << 20;
  shutdown();
  boot();
  StreamId a = open_new(), b = open_new();
  auto append = [&](StreamId id, size_t payload) {
    Buf batch = make_batch(rng_, payload, clock_.wall_ms());
    auto r = s().append_sync(id, Epoch(1), batch, 1);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    sent_[id][r->base.value()] = batch;
  };
  for (int i = 0; i < 3; ++i) {  // compact_small_object_bytes is 1 MiB: "big" is >= 512 KiB
    append(a, 600 << 10);
    append(a, 2000);
  }
  // Both in flight before the timer fires: usually one object holding both streams.
  append_in_flight({{a, make_batch(rng_, 300 << 10)}, {b, make_batch(rng_, 300 << 10)}}, 1);
  ASSERT_OK(s().upload_once());
  std::set<std::string> big_single, other;
  for (const ObjectRecord& rec : index_records()) {
    const bool one = rec.ranges.front().stream == rec.ranges.back().stream;
    (one && rec.size >= (512u << 10) ? big_single : other).insert(rec.key);
  }
  ASSERT_GE(big_single.size(), 2u);
  ASSERT_GE(other.size(), 3u);  // the small ones and the mixed one(s)
  ASSERT_EQ(s().stats().adopted_objects, big_single.size() + other.size());
  ASSERT_OK(s().compact_once());
  EXPECT_EQ(s().stats().compactions, 1u);
  const std::set<std::string> after = indexed();
  for (const auto& k : big_single) EXPECT_TRUE(after.count(k)) << "rewritten: " << k;
  for (const auto& k : other) EXPECT_FALSE(after.count(k)) << "not merged: " << k;
  expect_readable_elsewhere();
}

TEST_F(AdoptTest, GcWaitsWhileTheWalStillIndexesAnAdoptedObject) {
  std::vector<StreamId> ids = {open_new()};
  append_interleaved(ids, 40);
  const std::set<std::string> wal_objects = stored("wal/");
  ASSERT_FALSE(wal_objects.empty());
  const std::string key = *wal_objects.begin();
  EXPECT_TRUE(*wal_->still_indexed(key));
  // The upload's commit lands; the WAL trim after it fails (txns: 1 id allocation, 2 commit,
  // 3 trim).
  meta_.add_fault(meta::MetaFault{static_cast<uint32_t>(meta::MetaOp::kTxn), 3, false, 0.0,
                                  meta::MetaFault::Action::kFailBefore, Errc::kUnavailable});
  ASSERT_OK(s().upload_once());
  ASSERT_EQ(s().stats().adopted_objects, wal_objects.size());
  EXPECT_TRUE(*wal_->still_indexed(key));
  // Retention drops everything: the objects are dead, but the WAL still names them.
  ASSERT_OK(s().trim(ids[0], s().info(ids[0])->end));
  clock_.advance(2s);
  ASSERT_OK(s().gc_once());  // moves them to pending delete
  clock_.advance(2s);
  ASSERT_OK(s().gc_once());
  EXPECT_EQ(stored("wal/"), wal_objects) << "deleted while a WAL replay could still need it";
  ASSERT_OK(s().flush_uploads());  // nothing to upload: the WAL is trimmed
  EXPECT_FALSE(*wal_->still_indexed(key));
  ASSERT_OK(s().gc_once());
  EXPECT_TRUE(stored("wal/").empty());
  EXPECT_EQ(keys_under("/shale/wal/keep/"), 0u);
}

TEST_F(AdoptTest, ALostCommitAnswerNeitherDeletesNorReadoptsTheObject) {
  std::vector<StreamId> ids = {open_new(), open_new()};
  append_interleaved(ids, 50);
  const std::set<std::string> wal_objects = stored("wal/");
  // The upload txn fails without applying, and the read-back fails too: outcome unknown
  // (txns: 1 id allocation, 2 commit; gets: 1 id counter, 2 read-back).
  meta_.add_fault(meta::MetaFault{static_cast<uint32_t>(meta::MetaOp::kTxn), 2, false, 0.0,
                                  meta::MetaFault::Action::kFailBefore, Errc::kUnavailable});
  meta_.add_fault(meta::MetaFault{static_cast<uint32_t>(meta::MetaOp::kGet), 2, false, 0.0,
                                  meta::MetaFault::Action::kFailBefore, Errc::kUnavailable});
  EXPECT_FALSE(s().upload_once().ok());
  EXPECT_EQ(stored("wal/"), wal_objects);
  // The next round uploads copies instead of adopting the same objects again.
  ASSERT_OK(s().upload_once());
  EXPECT_EQ(s().stats().adopted_objects, 0u);
  EXPECT_FALSE(stored("shale/").empty());
  clock_.advance(2s);
  ASSERT_OK(s().gc_once());  // the unsure commit never landed: nothing of the WAL's deleted here
  EXPECT_EQ(keys_under("/shale/wal/keep/"), 0u);
  EXPECT_TRUE(stored("wal/").empty()) << "the WAL trim deleted its unadopted objects";
  expect_readable_elsewhere();
}

}  // namespace
}  // namespace shale::stream::testing
