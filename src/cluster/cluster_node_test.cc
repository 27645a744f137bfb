// Two brokers (each its own WAL and stream store) sharing one metadata store and one object
// store, as in a cluster: assignment, failover with fencing of the deposed owner, planned move.
// The agent passes are driven by the test (ClusterNode::pass), not by the thread, except in
// WatchesDriveTheAgents.
#include "cluster/cluster_node.h"

#include <gtest/gtest.h>

#include <thread>

#include "broker/broker.h"
#include "broker/tests/test_util.h"
#include "cluster/cluster_test_util.h"
#include "cluster/load_balancer.h"
#include "cluster/load_report.h"
#include "io/faulty_fs.h"
#include "kafka/records/records.h"
#include "stream/stream_test_util.h"

namespace shale::cluster {
namespace {

namespace rec = kafka::records;
using namespace std::chrono_literals;
using broker::testing::run;
using testing::batch;
using testing::Member;

class ClusterNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = std::make_unique<Member>(w_, 1, &a_wal_fs_);
    b_ = std::make_unique<Member>(w_, 2);
    auto r = run(io_, a_->broker->topics().create_topic({.name = "t", .num_partitions = 4}, false));
    ASSERT_TRUE(r.error.ok()) << r.error.message;
    settle();
  }
  void settle() {
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(a_->agent->pass().ok());
      if (b_) {
        ASSERT_TRUE(b_->agent->pass().ok());
      }
    }
  }
  broker::ProduceResult produce(Member& m, int i, int n = 3) {
    auto p = m.part(i);
    EXPECT_TRUE(p) << "partition " << i << " not served by broker " << m.broker->node_id().value();
    if (!p) return {};
    return run(io_, p->append({batch(n)}).wait());
  }
  int owned_by(int32_t id) {
    int n = 0;
    for (int i = 0; i < 4; ++i) n += a_->agent->owner("t", i)->node == id;
    return n;
  }

  stream::testing::World w_;
  io::FaultyFs a_wal_fs_{w_.fs};  // broker 1's WAL disk: tests inject errors here
  asio::io_context io_;
  std::unique_ptr<Member> a_, b_;
};

// True once pred() holds, polling for up to `limit`.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

TEST_F(ClusterNodeTest, ControllerSpreadsPartitionsAndEachBrokerServesOnlyItsOwn) {
  EXPECT_EQ(a_->agent->controller_id(), 1);
  EXPECT_EQ(b_->agent->controller_id(), 1);
  EXPECT_EQ(a_->agent->live_brokers().size(), 2u);
  EXPECT_EQ(b_->agent->live_brokers()[1].port, 9002);
  EXPECT_EQ(owned_by(1), 2);
  EXPECT_EQ(owned_by(2), 2);
  for (int i = 0; i < 4; ++i) {
    auto o = b_->agent->owner("t", i);
    ASSERT_TRUE(o);
    Member& owner = o->node == 1 ? *a_ : *b_;
    Member& other = o->node == 1 ? *b_ : *a_;
    ASSERT_TRUE(owner.part(i)) << i;
    EXPECT_FALSE(other.part(i)) << i;
    EXPECT_EQ(owner.part(i)->leader_epoch(), o->epoch);
    auto r = produce(owner, i);
    EXPECT_TRUE(r.error.ok()) << r.error.message;
  }
}

TEST_F(ClusterNodeTest, DeadOwnerFailsOverAndTheDeposedOwnerIsFenced) {
  int i = b_->agent->owner("t", 0)->node == 2 ? 0 : 1;
  ASSERT_EQ(a_->agent->owner("t", i)->node, 2);
  const int32_t epoch = a_->agent->owner("t", i)->epoch;
  ASSERT_TRUE(produce(*b_, i).error.ok());
  ASSERT_TRUE(b_->node->store().upload_once().ok());
  auto zombie = b_->part(i);  // a request that was in flight when broker 2 "paused"

  // Broker 2's lease goes (as when it is paused past its TTL): it stops serving at once ...
  b_->membership->revoke();
  EXPECT_FALSE(b_->part(i));
  // ... and the controller gives its partitions to broker 1 at epoch + 1.
  for (int k = 0; k < 2; ++k) ASSERT_TRUE(a_->agent->pass().ok());
  EXPECT_EQ(a_->agent->owner("t", i)->node, 1);
  EXPECT_EQ(a_->agent->owner("t", i)->epoch, epoch + 1);
  EXPECT_EQ(owned_by(1), 4);
  ASSERT_TRUE(a_->part(i));
  EXPECT_EQ(a_->part(i)->high_watermark(), 3);  // the uploaded data is there
  auto r = produce(*a_, i);
  ASSERT_TRUE(r.error.ok()) << r.error.message;
  EXPECT_EQ(r.base_offset, 3);

  // The zombie's write: its commit is fenced, nothing of it becomes visible.
  auto zr = run(io_, zombie->append({batch(2)}).wait());
  (void)b_->node->store().upload_once();
  EXPECT_EQ(a_->part(i)->high_watermark(), 6);
  int64_t records = 0;
  for (int64_t at = 0; at < 6;) {  // objects (broker 2's upload), then broker 1's cache
    auto read = run(io_, a_->part(i)->read(at, 1 << 20, true));
    ASSERT_TRUE(read.error.ok()) << read.error.message;
    ASSERT_FALSE(read.batches.empty()) << at;
    for (const auto& bt : read.batches) {
      auto h = rec::read_header(bt.span());
      EXPECT_EQ(h->base_offset, at);
      records += h->offset_count();
      at = h->last_offset() + 1;
    }
  }
  EXPECT_EQ(records, 6);
  // When broker 2 passes again it sees it owns nothing and releases everything.
  (void)b_->agent->pass();
  EXPECT_TRUE(b_->broker->topics().owned().empty());
  if (zr.error.ok()) {
    auto again = run(io_, zombie->append({batch(1)}).wait());
    EXPECT_EQ(again.error.code, broker::kerr::kNotLeaderOrFollower);
  }
}

// One failed WAL fdatasync fails the appends it covered and breaks the stream (later appends
// were given offsets after the failed ones). The owner reopens it by itself at epoch + 1 on its
// next pass instead of refusing every append until the partition moves.
TEST_F(ClusterNodeTest, OwnerReopensAStreamBrokenByAWalErrorAtTheNextEpoch) {
  int i = a_->agent->owner("t", 0)->node == 1 ? 0 : 1;
  ASSERT_EQ(a_->agent->owner("t", i)->node, 1);
  const int32_t epoch = a_->agent->owner("t", i)->epoch;
  ASSERT_TRUE(produce(*a_, i).error.ok());
  // The next fdatasync of the segment being written (not of one being prepared).
  a_wal_fs_.add_fault(io::FsFault{
      .ops = static_cast<io::FsOpMask>(io::FsOp::kSync), .path_contains = "seg-000000", .nth = 1});
  auto failed = produce(*a_, i);
  EXPECT_FALSE(failed.error.ok());
  EXPECT_EQ(a_wal_fs_.injected(), 1u);
  auto broken = produce(*a_, i);  // the WAL works again, the stream still refuses
  EXPECT_FALSE(broken.error.ok()) << "stream should refuse appends until reopened";
  settle();
  EXPECT_EQ(a_->agent->owner("t", i)->node, 1);
  EXPECT_EQ(a_->agent->owner("t", i)->epoch, epoch + 1);
  ASSERT_TRUE(a_->part(i));
  EXPECT_EQ(a_->part(i)->leader_epoch(), epoch + 1);
  auto r = produce(*a_, i);
  ASSERT_TRUE(r.error.ok()) << r.error.message;
  EXPECT_EQ(r.base_offset, 3);  // after the 3 acknowledged records; the failed ones never were
  EXPECT_EQ(a_->part(i)->high_watermark(), 6);
  for (int k = 0; k < 4; ++k) {  // nothing else was disturbed
    if (k != i) {
      EXPECT_EQ(a_->agent->owner("t", k)->epoch, 1) << k;
    }
  }
}

TEST_F(ClusterNodeTest, PlannedMoveHandsOverAtNextEpochWithUnuploadedData) {
  int i = a_->agent->owner("t", 0)->node == 1 ? 0 : 1;
  ASSERT_EQ(a_->agent->owner("t", i)->node, 1);
  const int32_t epoch = a_->agent->owner("t", i)->epoch;
  ASSERT_TRUE(produce(*a_, i, 5).error.ok());  // only in broker 1's WAL
  ASSERT_TRUE(a_->agent->request_move("t", i, 2).ok());
  EXPECT_EQ(a_->agent->request_move("t", i, 9).code(), Errc::kInvalidArgument);
  ASSERT_TRUE(a_->agent->pass().ok());  // broker 1 hands over: upload, release, epoch + 1
  EXPECT_FALSE(a_->part(i));
  ASSERT_TRUE(b_->agent->pass().ok());
  ASSERT_TRUE(b_->part(i));
  EXPECT_EQ(b_->part(i)->leader_epoch(), epoch + 1);
  EXPECT_EQ(b_->part(i)->high_watermark(), 5);
  auto r = produce(*b_, i);
  ASSERT_TRUE(r.error.ok()) << r.error.message;
  EXPECT_EQ(r.base_offset, 5);
  EXPECT_TRUE(b_->agent->moves().empty());
}

TEST_F(ClusterNodeTest, TopicsCreatedAndDeletedElsewhereAreSeen) {
  auto r = run(io_, b_->broker->topics().create_topic({.name = "u", .num_partitions = 2}, false));
  ASSERT_TRUE(r.error.ok());
  settle();
  EXPECT_TRUE(a_->broker->topics().find("u"));
  EXPECT_TRUE(a_->agent->owner("u", 1));
  auto e = run(io_, b_->broker->topics().delete_topic("u"));
  ASSERT_TRUE(e.ok());
  settle();
  EXPECT_FALSE(a_->broker->topics().find("u"));
  EXPECT_FALSE(a_->agent->owner("u", 1));
}

// With a 60 s tick and a 60 s resync, only watch events can make the agents act within seconds:
// a move request, a lost broker key and a topic created elsewhere each lead to the right passes.
TEST_F(ClusterNodeTest, WatchesDriveTheAgents) {
  const ClusterNodeOptions slow{.tick = std::chrono::seconds(60),
                                .watch = true,
                                .resync = std::chrono::seconds(60),
                                .balance = false};
  for (Member* m : {a_.get(), b_.get()}) {
    m->agent = std::make_unique<ClusterNode>(*w_.meta, *m->membership, m->broker->topics(), slow);
    m->agent->start();
  }
  const int64_t passes_a = a_->agent->passes(), passes_b = b_->agent->passes();
  int i = a_->agent->owner("t", 0)->node == 1 ? 0 : 1;
  ASSERT_EQ(a_->agent->owner("t", i)->node, 1);
  ASSERT_TRUE(produce(*a_, i, 4).error.ok());

  // Planned move: the request is a record change; broker 1 hands over, broker 2 opens.
  ASSERT_TRUE(a_->agent->request_move("t", i, 2).ok());
  ASSERT_TRUE(eventually([&] { return b_->part(i) != nullptr; }));
  EXPECT_FALSE(a_->part(i));
  EXPECT_EQ(b_->part(i)->high_watermark(), 4);

  // A topic created through broker 2 is assigned by the controller (broker 1) and opened.
  auto r = run(io_, b_->broker->topics().create_topic({.name = "u", .num_partitions = 2}, false));
  ASSERT_TRUE(r.error.ok());
  ASSERT_TRUE(eventually([&] {
    auto o = b_->agent->owner("u", 1);
    if (!o) return false;
    Member& m = o->node == 1 ? *a_ : *b_;
    return m.part("u", 1) != nullptr;
  }));

  // Broker 2's key goes: the controller fails its partitions over to broker 1 at once.
  b_->agent->stop();
  b_->membership->revoke();
  ASSERT_TRUE(eventually([&] { return a_->broker->topics().owned().size() == 6; }));
  EXPECT_TRUE(a_->part(i));
  EXPECT_GT(a_->agent->watch_events(), 0);
  EXPECT_GT(a_->agent->passes(), passes_a);
  EXPECT_GT(b_->agent->passes(), passes_b);
}

// Load balancing end to end in one process: the brokers' LoadReporters measure real appends,
// the controller's LoadBalancer (as ClusterNode's planner) moves one partition off the busy
// broker, and without a new report nothing else moves.
TEST_F(ClusterNodeTest, LoadReportsDriveOneBalancerMove) {
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(a_->agent->request_move("t", i, 1).ok());
  settle();
  ASSERT_EQ(owned_by(1), 4);
  LoadReporter ra(*w_.meta, *a_->membership, a_->broker->topics(), {.interval = 10ms});
  LoadReporter rb(*w_.meta, *b_->membership, b_->broker->topics(), {.interval = 10ms});
  ASSERT_TRUE(ra.report_once().ok());  // baselines
  ASSERT_TRUE(rb.report_once().ok());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(produce(*a_, i, 50).error.ok());
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(ra.report_once().ok());
  ASSERT_TRUE(rb.report_once().ok());
  auto reports = read_load_reports(*w_.meta);
  ASSERT_TRUE(reports.ok());
  ASSERT_EQ(reports->size(), 2u);
  ASSERT_EQ(reports->at(1).partitions.size(), 4u);
  for (const auto& [key, r] : reports->at(1).partitions) {
    EXPECT_GT(r.bytes_in, 1000) << key.second;  // 50 records of ~60 bytes in ~20 ms
    EXPECT_GT(r.requests, 0) << key.second;
  }
  EXPECT_TRUE(reports->at(2).partitions.empty());

  LoadBalancer lb(*w_.meta, BalanceMode::kLoad, {.sustain = 1, .idle_bytes_per_sec = 1});
  a_->agent = std::make_unique<ClusterNode>(
      *w_.meta, *a_->membership, a_->broker->topics(),
      ClusterNodeOptions{.balance = false,
                         .planner = [&](const PlacementInput& in) { return lb.plan(in); }});
  ASSERT_TRUE(a_->agent->pass().ok());  // the move target is written, broker 1 hands over
  EXPECT_EQ(lb.moves(), 0);             // counted once a record shows that the write landed
  ASSERT_TRUE(b_->agent->pass().ok());  // broker 2 opens it
  EXPECT_EQ(b_->broker->topics().owned().size(), 1u);
  ASSERT_TRUE(a_->agent->pass().ok());
  EXPECT_EQ(lb.moves(), 1);
  const std::string m = lb.render_metrics();
  EXPECT_NE(m.find("shale_balancer_moves_total 1\n"), std::string::npos) << m;
  EXPECT_NE(m.find("shale_balancer_enabled{mode=\"load\"} 1\n"), std::string::npos) << m;
  EXPECT_NE(m.find("shale_balancer_broker_load{broker=\"1\"} 1.0000\n"), std::string::npos) << m;
  // No new report since the move: no second move however often the controller passes.
  for (int k = 0; k < 5; ++k) ASSERT_TRUE(a_->agent->pass().ok());
  EXPECT_EQ(lb.moves(), 1);
  EXPECT_EQ(owned_by(1), 3);
  EXPECT_EQ(owned_by(2), 1);
}

}  // namespace
}  // namespace shale::cluster
