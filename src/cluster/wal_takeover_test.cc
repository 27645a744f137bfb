// WAL takeover (wal_takeover.h) over one embedded metadata store and one object store: a "dead"
// broker's acknowledged, never-uploaded appends become readable by the next owner, the zombie's
// WAL is fenced, a registered (live) broker's WAL is never taken, and a restart of the node in
// the middle of a takeover cannot delete the takeover's object (leftovers are swept later).
#include "cluster/wal_takeover.h"

#include <gtest/gtest.h>

#include <cstring>

#include "cluster/records.h"
#include "objstore/faulty_object_store.h"
#include "stream/stream_test_util.h"

namespace shale::cluster {
namespace {

using stream::testing::status_of;

// A broker's storage: a stream store over its own object WAL, never uploading by itself.
struct ObjectWalNode {
  ObjectWalNode(stream::testing::World& w, int32_t id) {
    wal::ObjectWalOptions wo;
    wo.node = NodeId(id);
    wo.next_epoch = true;
    wo.flush_delay = std::chrono::milliseconds(1);
    wal = std::make_unique<wal::ObjectWal>(*w.objects, *w.meta, wo);
    stream::StoreOptions so;
    so.node = NodeId(id);
    so.background = false;
    so.upload_on_stop = false;
    store = stream::open_stream_store(so, *wal, *w.objects, *w.meta, w.clock);
    EXPECT_TRUE(store->start().ok());
  }
  ~ObjectWalNode() { store->stop(); }
  std::unique_ptr<wal::ObjectWal> wal;
  std::unique_ptr<stream::StreamStoreImpl> store;
};

class WalTakeoverTest : public ::testing::Test {
 protected:
  Result<WalTakeoverStats> take_over(int32_t node) {
    return take_over_object_wal(*w_.meta, *w_.objects, w_.clock, node, {}, {});
  }
  // Broker `node` opens a new stream at epoch 1 and acknowledges 5 batches, only in its WAL.
  std::unique_ptr<ObjectWalNode> node_with_acked_wal(int32_t node) {
    auto n = std::make_unique<ObjectWalNode>(w_, node);
    auto id = n->store->create();
    EXPECT_TRUE(id.ok());
    id_ = *id;
    EXPECT_TRUE(n->store->open(id_, Epoch(1)).ok());
    for (int i = 0; i < 5; ++i) {
      acked_.push_back(stream::testing::make_batch(rng_, 100 + i));
      EXPECT_TRUE(n->store->append_sync(id_, Epoch(1), acked_.back(), 1).ok());
    }
    EXPECT_EQ(n->store->stats().uploads, 0u);  // only in the WAL
    return n;
  }
  // Broker 3 opens the stream at `epoch` and reads every acknowledged batch, in order, once.
  void expect_next_owner_reads_all(int64_t epoch) {
    stream::testing::Node next(w_.fs, {}, NodeId(3), "/wal3");
    ASSERT_OK(next.boot(*w_.objects, *w_.meta, w_.clock));
    auto info = next.store().open(id_, Epoch(epoch));
    ASSERT_OK(info);
    ASSERT_EQ(info->end, Offset(5));
    for (Offset at(0); at < Offset(5);) {
      auto rr = next.store().read_sync(id_, at, 1 << 20);
      ASSERT_OK(rr);
      ASSERT_FALSE(rr->batches.empty());
      for (const auto& b : rr->batches) {
        const int64_t i = at.value();
        ASSERT_EQ(b.size(), acked_[i].size()) << i;
        EXPECT_EQ(0, std::memcmp(b.data() + 8, acked_[i].data() + 8, b.size() - 8)) << i;
        at = Offset(i + 1);
      }
    }
  }
  stream::testing::World w_;
  std::mt19937_64 rng_{42};
  StreamId id_{0};
  std::vector<Buf> acked_;
};

TEST_F(WalTakeoverTest, AckedUnuploadedRecordsReachTheNextOwnerAndTheZombieIsFenced) {
  auto dead = node_with_acked_wal(2);

  // Broker 2 is "dead" (its store object stays alive: the zombie). Take over its WAL.
  auto r = take_over(2);
  ASSERT_OK(r);
  EXPECT_EQ(r->wal_epoch, 2);
  EXPECT_GT(r->recovered_bytes, 500u);
  EXPECT_EQ(r->uploads, 1u);

  // The zombie's WAL commit is refused: its append fails, nothing is acknowledged.
  auto z = dead->store->append_sync(id_, Epoch(1), stream::testing::make_batch(rng_, 10), 1);
  EXPECT_FALSE(z.ok());
  dead.reset();

  // The next owner (broker 3, epoch 2) reads every acknowledged batch, in order, once.
  expect_next_owner_reads_all(2);

  // A second takeover finds a trimmed WAL: nothing to do.
  auto again = take_over(2);
  ASSERT_OK(again);
  EXPECT_EQ(again->recovered_bytes, 0u);
  EXPECT_EQ(again->uploads, 0u);
}

// The zombie's uploader keeps running: its first WAL trim is fenced, and it stops trimming
// (it used to retry and log every tick, hundreds of lines per second, until it exited).
TEST_F(WalTakeoverTest, AFencedWalIsTrimmedOnceNotInALoop) {
  auto dead = node_with_acked_wal(2);
  ASSERT_OK(take_over(2));
  for (int i = 0; i < 20; ++i) (void)dead->store->upload_once();
  EXPECT_EQ(dead->store->stats().wal_trim_failures, 1u);
}

TEST_F(WalTakeoverTest, ARegisteredBrokersWalIsNotTaken) {
  ObjectWalNode live(w_, 4);
  ASSERT_OK(w_.meta->put(broker_key(4), "{}"));
  auto r = take_over(4);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kFenced);
  // Its WAL still works.
  auto id = live.store->create();
  ASSERT_OK(id);
  ASSERT_OK(live.store->open(*id, Epoch(1)));
  ASSERT_OK(live.store->append_sync(*id, Epoch(1), stream::testing::make_batch(rng_, 10), 1));
}

// The node restarts while the controller's takeover is between put and commit (the restart's
// orphan sweep runs right then). The takeover's object must survive it; the records are read
// back by the next owner. An earlier takeover's uncommitted leftover is deleted by the next
// successful takeover, and nothing committed is.
TEST_F(WalTakeoverTest, ARestartDuringTheTakeoverDeletesNothingAndLeftoversAreSwept) {
  node_with_acked_wal(2).reset();  // crashed: the records are only in its WAL

  objstore::FaultyObjectStore faulty(*w_.objects);
  std::unique_ptr<ObjectWalNode> restarted;
  std::string taken_key;
  faulty.set_crash_point("put:after", [&](const std::string&, const std::string& key) {
    if (restarted || key.find("/takeover/n2/") == std::string::npos) return;
    taken_key = key;
    restarted = std::make_unique<ObjectWalNode>(w_, 2);  // its start() sweeps orphans now
  });
  // The takeover commits its upload (its WAL trim fails: the restart claimed the WAL).
  (void)take_over_object_wal(*w_.meta, faulty, w_.clock, 2, {}, {});
  ASSERT_TRUE(restarted);
  ASSERT_OK(w_.objects->head(taken_key));  // not swept by the restart
  restarted.reset();                       // and gone again
  expect_next_owner_reads_all(2);

  // An upload of a takeover that died between put and commit: the next takeover of the node (it
  // died again) deletes it, and keeps the committed one.
  const std::string leftover = takeover_key_prefix("shale") + "/n2/i1/00000000000000000999";
  ASSERT_OK(w_.objects->put(leftover, {Buf::copy("an earlier takeover's uncommitted upload")}));
  auto r = take_over(2);
  ASSERT_OK(r);
  EXPECT_EQ(r->swept, 1u);
  EXPECT_EQ(w_.objects->head(leftover).status().code(), Errc::kNotFound);
  ASSERT_OK(w_.objects->head(taken_key));
  expect_next_owner_reads_all(3);
}

}  // namespace
}  // namespace shale::cluster
