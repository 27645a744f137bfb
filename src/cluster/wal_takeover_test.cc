// WAL takeover (wal_takeover.h) over one embedded metadata store and one object store: a "dead"
// broker's acknowledged, never-uploaded appends become readable by the next owner, the zombie's
// WAL is fenced, and a registered (live) broker's WAL is never taken.
#include "cluster/wal_takeover.h"

#include <gtest/gtest.h>

#include <cstring>

#include "cluster/records.h"
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
  stream::testing::World w_;
  std::mt19937_64 rng_{42};
};

TEST_F(WalTakeoverTest, AckedUnuploadedRecordsReachTheNextOwnerAndTheZombieIsFenced) {
  auto dead = std::make_unique<ObjectWalNode>(w_, 2);
  auto id = dead->store->create();
  ASSERT_OK(id);
  ASSERT_OK(dead->store->open(*id, Epoch(1)));
  std::vector<Buf> acked;
  for (int i = 0; i < 5; ++i) {
    acked.push_back(stream::testing::make_batch(rng_, 100 + i));
    ASSERT_OK(dead->store->append_sync(*id, Epoch(1), acked.back(), 1));
  }
  ASSERT_EQ(dead->store->stats().uploads, 0u);  // only in the WAL

  // Broker 2 is "dead" (its store object stays alive: the zombie). Take over its WAL.
  auto r = take_over(2);
  ASSERT_OK(r);
  EXPECT_EQ(r->wal_epoch, 2);
  EXPECT_GT(r->recovered_bytes, 500u);
  EXPECT_EQ(r->uploads, 1u);

  // The zombie's WAL commit is refused: its append fails, nothing is acknowledged.
  auto z = dead->store->append_sync(*id, Epoch(1), stream::testing::make_batch(rng_, 10), 1);
  EXPECT_FALSE(z.ok());
  dead.reset();

  // The next owner (broker 3, epoch 2) reads every acknowledged batch, in order, once.
  stream::testing::Node next(w_.fs, {}, NodeId(3), "/wal3");
  ASSERT_OK(next.boot(*w_.objects, *w_.meta, w_.clock));
  auto info = next.store().open(*id, Epoch(2));
  ASSERT_OK(info);
  EXPECT_EQ(info->end, Offset(5));
  Offset at(0);
  while (at < Offset(5)) {
    auto rr = next.store().read_sync(*id, at, 1 << 20);
    ASSERT_OK(rr);
    ASSERT_FALSE(rr->batches.empty());
    for (const auto& b : rr->batches) {
      const int64_t i = at.value();
      ASSERT_EQ(b.size(), acked[i].size()) << i;
      EXPECT_EQ(0, std::memcmp(b.data() + 8, acked[i].data() + 8, b.size() - 8)) << i;
      at = Offset(i + 1);
    }
  }

  // A second takeover finds a trimmed WAL: nothing to do.
  auto again = take_over(2);
  ASSERT_OK(again);
  EXPECT_EQ(again->recovered_bytes, 0u);
  EXPECT_EQ(again->uploads, 0u);
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

}  // namespace
}  // namespace shale::cluster
