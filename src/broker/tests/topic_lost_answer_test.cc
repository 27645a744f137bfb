// Topic writes whose answer from the metadata store was lost (the txn applied, the broker saw an
// error, as in a network cut): the streams the record names must never be removed, the broker's
// view must converge to the record, and a write that never landed must not leak its streams.
#include <gtest/gtest.h>

#include "broker/broker.h"
#include "broker/producer_ids.h"
#include "broker/tests/fakes.h"
#include "meta/faulty_meta_store.h"

namespace shale::broker {
namespace {

using meta::MetaFault;
using meta::MetaOp;
using testing::FakeMetaStore;
using testing::FakeStreamStore;

class TopicLostAnswerTest : public ::testing::Test {
 protected:
  void SetUp() override { restart(); }
  // A fresh broker over the same stores: what a restart loads from the metadata store.
  void restart() {
    broker.reset();
    BrokerConfig cfg;
    cfg.topics.default_partitions = 2;
    broker = std::make_unique<Broker>(cfg, faulty, store, clock);
    ASSERT_TRUE(broker->start().ok());
  }
  TopicManager& tm() { return broker->topics(); }
  // The nth next call of `op` fails; kFailAfter = it applied and its answer was lost.
  void fail(MetaOp op, int nth, MetaFault::Action a) {
    faulty.add_fault(MetaFault{static_cast<uint32_t>(op), nth, false, 0.0, a, Errc::kUnavailable});
  }
  // Every partition of `topic` is served and its stream exists.
  void expect_served(const std::string& topic, int partitions) {
    auto t = tm().find(topic);
    ASSERT_TRUE(t) << topic;
    EXPECT_EQ(t->partitions, partitions);
    for (int i = 0; i < partitions; ++i) {
      auto p = tm().partition(topic, i);
      ASSERT_TRUE(p) << topic << "-" << i;
      EXPECT_TRUE(store.info(p->stream_id()).ok()) << topic << "-" << i;
    }
  }
  StreamId next_stream_id() {  // the id the next store.create() returns
    auto id = store.create({});
    EXPECT_TRUE(id.ok());
    return StreamId(id->value() + 1);
  }

  FakeMetaStore base;
  meta::FaultyMetaStore faulty{base};
  FakeStreamStore store;
  ManualClock clock;
  std::unique_ptr<Broker> broker;
};

TEST_F(TopicLostAnswerTest, CreateWhoseAnswerWasLostIsServed) {
  fail(MetaOp::kTxn, 1, MetaFault::Action::kFailAfter);
  auto r = tm().create_topic_blocking({.name = "t"}, false);
  EXPECT_TRUE(r.error.ok()) << r.error.message;  // read back: it landed
  expect_served("t", 2);
  restart();
  expect_served("t", 2);
}

TEST_F(TopicLostAnswerTest, CreateOfUnknownOutcomeKeepsItsStreamsAndIsLearnt) {
  fail(MetaOp::kTxn, 1, MetaFault::Action::kFailAfter);
  // Get 1 is create's "does it exist already?" read; get 2 the read-back, which fails too.
  fail(MetaOp::kGet, 2, MetaFault::Action::kFailBefore);
  auto r = tm().create_topic_blocking({.name = "t"}, false);
  EXPECT_EQ(r.error.code, kerr::kRequestTimedOut);  // retriable: clients retry
  // The next mutation re-reads it: it landed, so the broker serves it, streams intact.
  EXPECT_TRUE(tm().create_topic_blocking({.name = "other"}, false).error.ok());
  expect_served("t", 2);
  EXPECT_EQ(tm().create_topic_blocking({.name = "t"}, false).error.code,
            kerr::kTopicAlreadyExists);  // the client's retry
  restart();
  expect_served("t", 2);
}

TEST_F(TopicLostAnswerTest, CreateThatNeverLandedKeepsItsStreamsForTheGracePeriod) {
  const StreamId first = next_stream_id();
  fail(MetaOp::kTxn, 1, MetaFault::Action::kFailBefore);  // not applied (may still apply)
  fail(MetaOp::kGet, 2, MetaFault::Action::kFailBefore);  // get 1: the existence check
  EXPECT_EQ(tm().create_topic_blocking({.name = "t"}, false).error.code, kerr::kRequestTimedOut);
  EXPECT_TRUE(tm().create_topic_blocking({.name = "a"}, false).error.ok());
  EXPECT_TRUE(store.info(first).ok());  // within the grace period: a late apply finds them
  EXPECT_TRUE(store.info(StreamId(first.value() + 1)).ok());
  EXPECT_FALSE(tm().find("t"));
  clock.advance(std::chrono::seconds(31));
  EXPECT_TRUE(tm().create_topic_blocking({.name = "b"}, false).error.ok());
  EXPECT_FALSE(store.info(first).ok());  // never landed: garbage, removed
  EXPECT_FALSE(store.info(StreamId(first.value() + 1)).ok());
  EXPECT_FALSE(tm().find("t"));
  // The client's retry creates it.
  EXPECT_TRUE(tm().create_topic_blocking({.name = "t"}, false).error.ok());
  expect_served("t", 2);
}

TEST_F(TopicLostAnswerTest, CreatePartitionsWhoseAnswerWasLostIsServed) {
  ASSERT_TRUE(tm().create_topic_blocking({.name = "t", .num_partitions = 1}, false).error.ok());
  fail(MetaOp::kTxn, 1, MetaFault::Action::kFailAfter);
  auto e = tm().create_partitions_blocking("t", 3, false);
  EXPECT_TRUE(e.ok()) << e.message;
  expect_served("t", 3);
  restart();
  expect_served("t", 3);
}

TEST_F(TopicLostAnswerTest, AlterConfigsWhoseAnswerWasLostConverges) {
  ASSERT_TRUE(tm().create_topic_blocking({.name = "t"}, false).error.ok());
  fail(MetaOp::kTxn, 1, MetaFault::Action::kFailAfter);
  auto e = tm().alter_configs_blocking("t", {{"retention.ms", "1000"}}, false);
  EXPECT_TRUE(e.ok()) << e.message;
  auto p = tm().partition("t", 0);
  ASSERT_TRUE(p);
  EXPECT_EQ(store.info(p->stream_id())->retention_ms, 1000);
  // The view holds the record's revision: the next change is not refused as concurrent.
  e = tm().alter_configs_blocking("t", {{"retention.ms", "2000"}}, false);
  EXPECT_TRUE(e.ok()) << e.message;
  EXPECT_TRUE(tm().create_partitions_blocking("t", 3, false).ok());
  expect_served("t", 3);
}

TEST_F(TopicLostAnswerTest, DeleteWhoseAnswerWasLostDeletes) {
  ASSERT_TRUE(tm().create_topic_blocking({.name = "t"}, false).error.ok());
  const StreamId s = tm().partition("t", 0)->stream_id();
  fail(MetaOp::kDel, 1, MetaFault::Action::kFailAfter);
  auto e = tm().delete_topic_blocking("t");
  EXPECT_TRUE(e.ok()) << e.message;
  EXPECT_FALSE(tm().find("t"));
  EXPECT_FALSE(store.info(s).ok());
  EXPECT_TRUE(tm().create_topic_blocking({.name = "t"}, false).error.ok());
}

// A block claim is a counter CAS: not repeatable. A lost answer skips the block; it is never
// handed out, by this broker or another.
TEST_F(TopicLostAnswerTest, ProducerIdBlockWhoseAnswerWasLostIsSkippedNeverReused) {
  ProducerIdAllocator a(faulty), b(base);
  fail(MetaOp::kTxn, 1, MetaFault::Action::kFailAfter);
  EXPECT_FALSE(a.next_blocking().ok());  // InitProducerId answers an error; the client retries
  auto id = a.next_blocking();
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, kProducerIdBlock);  // block 0 is skipped
  auto other = b.next_blocking();
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(*other, 2 * kProducerIdBlock);
}

}  // namespace
}  // namespace shale::broker
