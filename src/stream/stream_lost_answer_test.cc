// Commits whose answer is lost (an etcd request that applied, but the response never came back):
// the objects they name must never be deleted, and the index must learn them. Found by the
// cluster scenario test: a network cut hit a compaction's swap txn; the compactor took the error
// for "not committed", deleted its output, and three partitions lost the data it held.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "meta/faulty_meta_store.h"
#include "stream/stream_test_util.h"

namespace shale::stream::testing {
namespace {

using meta::MetaFault;
using meta::MetaOp;

class LostAnswerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_ = std::make_unique<Node>(w_.fs, small_options());
    ASSERT_OK(node_->boot(*w_.objects, faulty_, w_.clock));
    a_ = open_new();
    b_ = open_new();
  }
  StreamStoreImpl& s() { return node_->store(); }
  StreamId open_new() {
    auto id = s().create();
    EXPECT_TRUE(id.ok());
    EXPECT_TRUE(s().open(*id, Epoch(1)).ok());
    return *id;
  }
  // Appends n small batches to each of a_ and b_ (kept for the final check); no upload.
  void append_both(int n) {
    for (StreamId id : {a_, b_}) {
      for (int i = 0; i < n; ++i) {
        Buf b = make_batch(rng_, 300, w_.clock.wall_ms());
        auto r = s().append_sync(id, Epoch(1), b, 2);
        ASSERT_TRUE(r.ok()) << r.status().to_string();
        sent_[id][r->base.value()] = b;
      }
    }
  }
  // The next txn / get fails; kFailAfter = the txn applies and its answer is lost.
  void fail_txn(int nth, MetaFault::Action a) {
    faulty_.add_fault(
        MetaFault{static_cast<uint32_t>(MetaOp::kTxn), nth, false, 0.0, a, Errc::kUnavailable});
  }
  void fail_get(int nth) {
    faulty_.add_fault(MetaFault{static_cast<uint32_t>(MetaOp::kGet), nth, false, 0.0,
                                MetaFault::Action::kFailBefore, Errc::kUnavailable});
  }
  // Reads every batch on this node, from objects: a filler stream's uploads push a_'s and b_'s
  // batches out of the 64 KiB log cache first.
  void expect_readable_here() {
    StreamId filler = open_new();
    for (int i = 0; i < 24; ++i) {
      ASSERT_TRUE(s().append_sync(filler, Epoch(1), make_batch(rng_, 4000), 1).ok());
      if (i % 4 == 3) ASSERT_OK(s().upload_once());
    }
    ASSERT_FALSE(s().try_read_cached(a_, Offset(0), 100).has_value());
    for (StreamId id : {a_, b_}) {
      for (auto& [base, want] : sent_[id]) {
        auto r = s().read_sync(id, Offset(base), 1);
        ASSERT_TRUE(r.ok()) << r.status().to_string() << " at " << base;
        ASSERT_TRUE(r->batches.at(0) == want) << "bytes differ at " << base;
      }
    }
  }
  std::set<std::string> stored() {
    std::set<std::string> out;
    auto l = w_.objects->list("shale/");
    EXPECT_TRUE(l.ok());
    for (const auto& o : l->objects) out.insert(o.key);
    return out;
  }
  std::set<std::string> indexed() {
    const std::string op(kObjectsPrefix);
    auto rr = w_.meta->get(op, meta::prefix_end(op));
    EXPECT_TRUE(rr.ok());
    std::set<std::string> out;
    for (const auto& kv : rr->kvs) {
      auto id = std::stoull(kv.key.substr(kv.key.rfind('/') + 1));
      auto rec = decode_object(ObjectId(id), kv.value);
      EXPECT_TRUE(rec.ok());
      out.insert(rec->key);
    }
    return out;
  }
  // Every object the index names is in the store, and another node that takes both streams
  // over reads every acknowledged batch from object storage.
  void expect_everything_readable() {
    for (const auto& k : indexed()) EXPECT_TRUE(stored().count(k)) << "indexed but gone: " << k;
    ASSERT_OK(s().flush_uploads());
    node_->shutdown();
    Node other(w_.fs, small_options(), NodeId(2), "/wal2");
    ASSERT_OK(other.boot(*w_.objects, *w_.meta, w_.clock));
    for (StreamId id : {a_, b_}) {
      auto info = other.store().open(id, Epoch(2));
      ASSERT_TRUE(info.ok()) << info.status().to_string();
      ASSERT_EQ(info->end.value(), static_cast<int64_t>(sent_[id].size() * 2));
      for (auto& [base, want] : sent_[id]) {
        auto r = other.store().read_sync(id, Offset(base), 1);
        ASSERT_TRUE(r.ok()) << r.status().to_string() << " at " << base;
        ASSERT_TRUE(r->batches.at(0) == want) << "bytes differ at " << base;
      }
    }
  }

  World w_;
  meta::FaultyMetaStore faulty_{*w_.meta};
  std::unique_ptr<Node> node_;
  std::mt19937_64 rng_{3};
  StreamId a_{0}, b_{0};
  std::map<StreamId, std::map<int64_t, Buf>> sent_;
};

// upload_once: txn 1 allocates the object id, txn 2 commits; get 1 reads the id counter, get 2
// is the read-back after a lost answer.
TEST_F(LostAnswerTest, UploadCommitThatLandedIsReadBackAndCounts) {
  append_both(10);
  fail_txn(2, MetaFault::Action::kFailAfter);
  ASSERT_OK(s().upload_once());
  EXPECT_EQ(s().stats().unuploaded_bytes, 0u);
  EXPECT_EQ(stored(), indexed());
  expect_everything_readable();
}

TEST_F(LostAnswerTest, UploadCommitThatLandedUnseenKeepsItsObjectsAndIsLearnedLater) {
  append_both(10);
  fail_txn(2, MetaFault::Action::kFailAfter);
  fail_get(2);  // the read-back fails too: the outcome stays unknown
  EXPECT_FALSE(s().upload_once().ok());
  const auto landed = indexed();
  ASSERT_EQ(landed.size(), 1u);
  EXPECT_EQ(stored(), landed);  // kept, though the uploader saw an error
  // The next round re-uploads the same records and the ones appended since (its commit first
  // loses a race with the one that landed, then succeeds); the maintenance pass learns that the
  // first commit landed, deletes nothing, and its shorter copy of the records does not hide the
  // longer one in the index (reads on this node go on past its end).
  append_both(5);
  while (s().stats().unuploaded_bytes > 0) (void)s().upload_once();
  ASSERT_OK(s().gc_once());
  w_.clock.advance(std::chrono::seconds(2));
  ASSERT_OK(s().gc_once());
  for (const auto& k : landed) EXPECT_TRUE(stored().count(k));
  expect_readable_here();
  expect_everything_readable();
}

TEST_F(LostAnswerTest, UploadCommitThatNeverLandedIsDeletedAfterTheGrace) {
  append_both(10);
  fail_txn(2, MetaFault::Action::kFailBefore);
  EXPECT_FALSE(s().upload_once().ok());
  EXPECT_TRUE(indexed().empty());
  const auto unsure = stored();
  ASSERT_EQ(unsure.size(), 1u);  // not known to be garbage yet: the commit may still apply
  ASSERT_OK(s().upload_once());
  ASSERT_OK(s().gc_once());
  EXPECT_EQ(stored().size(), 2u);  // within the grace: kept
  w_.clock.advance(std::chrono::seconds(2));
  ASSERT_OK(s().gc_once());
  EXPECT_EQ(stored(), indexed());
  EXPECT_FALSE(stored().count(*unsure.begin()));
  expect_everything_readable();
}

// compact_once: txn 1 allocates the output id, txn 2 swaps inputs for outputs; get 1 reads the
// counter, get 2 is the read-back.
TEST_F(LostAnswerTest, CompactionSwapThatLandedUnseenKeepsItsOutputAndTheIndexFollows) {
  for (int i = 0; i < 4; ++i) {
    append_both(3);
    ASSERT_OK(s().upload_once());
  }
  ASSERT_EQ(indexed().size(), 4u);
  fail_txn(2, MetaFault::Action::kFailAfter);
  fail_get(2);
  EXPECT_FALSE(s().compact_once().ok());
  const auto after = indexed();
  ASSERT_EQ(after.size(), 1u);  // the swap applied
  EXPECT_TRUE(stored().count(*after.begin()));
  // The next maintenance pass learns the swap before gc may delete the inputs; once the grace
  // is over the inputs are gone and every byte is read from the output.
  ASSERT_OK(s().gc_once());
  EXPECT_EQ(s().stats().objects, 1u);
  w_.clock.advance(std::chrono::seconds(2));
  ASSERT_OK(s().gc_once());
  EXPECT_EQ(stored(), after);
  expect_readable_here();
  expect_everything_readable();
}

TEST_F(LostAnswerTest, CompactionSwapThatLandedIsReadBack) {
  for (int i = 0; i < 4; ++i) {
    append_both(3);
    ASSERT_OK(s().upload_once());
  }
  fail_txn(2, MetaFault::Action::kFailAfter);
  ASSERT_OK(s().compact_once());
  EXPECT_EQ(s().stats().compactions, 1u);
  EXPECT_EQ(s().stats().objects, 1u);
  expect_everything_readable();
}

}  // namespace
}  // namespace shale::stream::testing
