// Cluster metadata writes whose answer was lost (the txn applied, the broker saw an error, as in
// a network cut between a broker and etcd): registration must still succeed, and controller
// election, failover and hand-over must converge on the next pass without handing an epoch out
// twice or leaving a partition without an owner. (FaultyMetaStore kFailAfter; README "Lost
// answers".)
#include <gtest/gtest.h>

#include "broker/tests/test_util.h"
#include "cluster/cluster_test_util.h"
#include "cluster/records.h"
#include "meta/faulty_meta_store.h"

namespace shale::cluster {
namespace {

using broker::testing::run;
using meta::MetaFault;
using meta::MetaOp;
using testing::batch;
using testing::Member;

class ClusterLostAnswerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = std::move(w_.meta);
    auto f = std::make_unique<meta::FaultyMetaStore>(*base_);
    faulty_ = f.get();
    w_.meta = std::move(f);  // every member talks to the store through faulty_
  }
  void TearDown() override {
    b_.reset();
    a_.reset();
  }
  // The next txn applies and its answer is lost.
  void lose_next_txn_answer() {
    faulty_->add_fault(MetaFault{static_cast<uint32_t>(MetaOp::kTxn), 1, false, 0.0,
                                 MetaFault::Action::kFailAfter, Errc::kUnavailable});
  }
  void two_members_with_topic() {
    a_ = std::make_unique<Member>(w_, 1);
    b_ = std::make_unique<Member>(w_, 2);
    auto r = run(io_, a_->broker->topics().create_topic({.name = "t", .num_partitions = 4}, false));
    ASSERT_TRUE(r.error.ok()) << r.error.message;
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(a_->agent->pass().ok());
      ASSERT_TRUE(b_->agent->pass().ok());
    }
  }
  int first_owned_by(int32_t id) {
    for (int i = 0; i < 4; ++i) {
      if (a_->agent->owner("t", i)->node == id) return i;
    }
    return -1;
  }
  void expect_produce(Member& m, int i, int64_t base) {
    auto p = m.part(i);
    ASSERT_TRUE(p) << "partition " << i;
    auto r = run(io_, p->append({batch(2)}).wait());
    ASSERT_TRUE(r.error.ok()) << r.error.message;
    EXPECT_EQ(r.base_offset, base);
  }

  stream::testing::World w_;
  std::unique_ptr<meta::MetaStore> base_;
  meta::FaultyMetaStore* faulty_ = nullptr;
  asio::io_context io_;
  std::unique_ptr<Member> a_, b_;
};

TEST_F(ClusterLostAnswerTest, RegistrationWhoseAnswerWasLostRegisters) {
  Membership m(*faulty_, MembershipOptions{{7, "127.0.0.1", 9007, "r1"}, std::chrono::seconds(30)});
  lose_next_txn_answer();
  ASSERT_TRUE(m.start().ok());  // read back: the key under our new lease is our registration
  EXPECT_EQ(m.generation(), 1);
  EXPECT_TRUE(m.lease_valid());
  auto r = base_->get(broker_key(7));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->kvs.size(), 1u);
  EXPECT_EQ(r->kvs[0].lease, m.lease());
  m.revoke();
}

TEST_F(ClusterLostAnswerTest, ControllerElectionWhoseAnswerWasLostIsWonNextPass) {
  a_ = std::make_unique<Member>(w_, 1);
  lose_next_txn_answer();  // the election txn
  EXPECT_FALSE(a_->agent->pass().ok());
  ASSERT_TRUE(a_->agent->pass().ok());
  EXPECT_EQ(a_->agent->controller_id(), 1);
}

TEST_F(ClusterLostAnswerTest, FailoverWhoseAnswerWasLostBumpsTheEpochOnce) {
  two_members_with_topic();
  const int i = first_owned_by(2);
  ASSERT_GE(i, 0);
  const int32_t epoch = a_->agent->owner("t", i)->epoch;
  b_->membership->revoke();
  lose_next_txn_answer();  // the controller's first failover write
  for (int k = 0; k < 3; ++k) (void)a_->agent->pass();
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(a_->agent->owner("t", k)->node, 1) << k;
    EXPECT_LE(a_->agent->owner("t", k)->epoch, 2) << k;  // epoch 1, or 2 after one failover
  }
  EXPECT_EQ(a_->agent->owner("t", i)->epoch, epoch + 1);
  expect_produce(*a_, i, 0);
}

TEST_F(ClusterLostAnswerTest, HandOverWhoseAnswerWasLostCompletes) {
  two_members_with_topic();
  const int i = first_owned_by(1);
  ASSERT_GE(i, 0);
  const int32_t epoch = a_->agent->owner("t", i)->epoch;
  ASSERT_TRUE(a_->agent->request_move("t", i, 2).ok());
  lose_next_txn_answer();  // broker 1's hand-over write
  (void)a_->agent->pass();
  EXPECT_FALSE(a_->part(i));
  for (int k = 0; k < 2; ++k) {
    (void)a_->agent->pass();
    (void)b_->agent->pass();
  }
  EXPECT_EQ(b_->agent->owner("t", i)->node, 2);
  EXPECT_EQ(b_->agent->owner("t", i)->epoch, epoch + 1);
  EXPECT_FALSE(a_->part(i));
  expect_produce(*b_, i, 0);
  EXPECT_TRUE(a_->agent->moves().empty());
}

}  // namespace
}  // namespace shale::cluster
