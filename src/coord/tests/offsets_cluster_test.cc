// The group coordinator of real brokers that share one metadata and object store (the cluster
// wiring of broker_coordinator.cc over the real stream store, on an in-memory disk), with the
// partition moves driven by hand and object-store faults injected on one broker.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "broker/broker.h"
#include "coord/broker_coordinator.h"
#include "coord/offsets_codec.h"
#include "objstore/faulty_object_store.h"
#include "stream/stream_test_util.h"

namespace shale::coord {
namespace {

using namespace std::chrono_literals;
using stream::testing::Node;
using stream::testing::World;

// No controller: the test moves partitions itself (TopicManager::acquire / release).
class NoController final : public broker::ClusterView {
 public:
  std::vector<broker::BrokerEndpoint> live_brokers() const override { return {}; }
  int32_t controller_id() const override { return -1; }
  std::optional<broker::PartitionOwner> owner(std::string_view, int32_t) const override {
    return std::nullopt;
  }
  std::vector<broker::PartitionMove> moves() const override { return {}; }
  Status request_move(const std::string&, int32_t, int32_t) override {
    return Status(Errc::kNotFound, "no controller in this test");
  }
};

// One broker: its own WAL and stream store (reading the shared objects through a fault
// injector), the shared metadata store, and a coordinator that compacts every 5 records.
struct Member {
  Member(World& w, int id, std::chrono::milliseconds tick)
      : objects(*w.objects), node(w.fs, opts(), NodeId(id), "/wal" + std::to_string(id)) {
    EXPECT_TRUE(node.boot(objects, *w.meta, w.clock).ok());
    broker::BrokerConfig cfg;
    cfg.node_id = NodeId(id);
    cfg.topics.node_id = NodeId(id);
    cfg.topics.open_all = false;
    broker = std::make_unique<broker::Broker>(cfg, *w.meta, node.store(), w.clock);
    broker->set_cluster_view(&view);
    EXPECT_TRUE(broker->start().ok());
    CoordinatorOptions o;
    o.tick_interval = tick;
    o.offsets_compact_min_records = 5;
    configure(*broker, o);
  }
  ~Member() {
    broker->stop();
    node.shutdown();
  }
  // No background uploads: a partition's data reaches the objects when it moves (close()).
  static stream::StoreOptions opts() { return stream::testing::small_options(); }
  std::shared_ptr<GroupCoordinator> gc() {
    auto c = coordinator_of(*broker);
    for (int i = 0; i < 200 && c->loading(); ++i) std::this_thread::sleep_for(10ms);
    EXPECT_FALSE(c->loading());
    return c;
  }
  broker::TopicManager& topics() { return broker->topics(); }

  objstore::FaultyObjectStore objects;
  Node node;
  NoController view;
  std::unique_ptr<broker::Broker> broker;
};

// Commits `offset` for group g, topic t, partition 0; returns the error code.
int16_t commit(GroupCoordinator& gc, int64_t offset) {
  std::promise<int16_t> done;
  gc.commit_offsets({"g", -1, "", std::nullopt, -1, {{{"t", 0}, {offset}}}},
                    [&](std::vector<int16_t> e) { done.set_value(e.at(0)); });
  return done.get_future().get();
}

// Polls until fetch_offsets("g") answers `error` (at most `limit`).
bool wait_fetch(GroupCoordinator& gc, int16_t error, std::chrono::milliseconds limit) {
  for (auto t0 = std::chrono::steady_clock::now(); std::chrono::steady_clock::now() - t0 < limit;
       std::this_thread::sleep_for(10ms)) {
    if (gc.fetch_offsets("g", std::nullopt).error == error) return true;
  }
  return false;
}

// A broker regains a __consumer_offsets partition whose replay fails (its object-store reads
// fail). While it fails, the group answers COORDINATOR_LOAD_IN_PROGRESS to fetches and commits,
// and the coordinator's compaction leaves the partition alone, although a snapshot was due
// (5+ records since the last one, taken here before the partition moved away): a snapshot then
// would hold none of the group's offsets and its trim would lose them for good. Once the store
// heals, the retried replay serves exactly what the log says.
TEST(OffsetsCluster, AFailedReplayIsRetriedAndNeitherServedNorCompacted) {
  World w;
  Member a(w, 1, 1000ms), b(w, 2, 1000ms);
  auto ga = a.gc();  // creates __consumer_offsets; owns none of it yet
  ASSERT_TRUE(b.topics().sync_topics().ok());
  auto gb = b.gc();
  const int32_t p = partition_for_group("g", kDefaultOffsetsPartitions);

  // b owns the partition: 6 commits (a snapshot is now due), then it moves away at once, before
  // b's ticker ran (the ticks are 1 s apart).
  ASSERT_TRUE(b.topics().acquire(kOffsetsTopic, p, Epoch(1)).ok());
  ASSERT_TRUE(wait_fetch(*gb, err::kNone, 2s));
  for (int i = 1; i <= 6; ++i) ASSERT_EQ(commit(*gb, i), err::kNone);
  ASSERT_TRUE(b.topics().release(kOffsetsTopic, p).ok());
  auto end_of = [&](Member& m) { return m.topics().stream_info(kOffsetsTopic, p)->end.value(); };
  ASSERT_EQ(end_of(b), 6) << "b compacted before the move: the test's timing assumption broke";

  // a owns it: replays from the objects, one more commit, moves back.
  ASSERT_TRUE(a.topics().acquire(kOffsetsTopic, p, Epoch(2)).ok());
  ASSERT_TRUE(wait_fetch(*ga, err::kNone, 2s));
  EXPECT_EQ(ga->fetch_offsets("g", std::nullopt).offsets.at(0).offset, 6);
  ASSERT_EQ(commit(*ga, 100), err::kNone);
  ASSERT_TRUE(a.topics().release(kOffsetsTopic, p).ok());

  // b regains it while its object reads fail.
  b.objects.add_fault({.ops = static_cast<objstore::StoreOpMask>(objstore::StoreOp::kGet),
                       .nth = 1,
                       .and_after = true});
  ASSERT_TRUE(b.topics().acquire(kOffsetsTopic, p, Epoch(3)).ok());
  for (int i = 0; i < 20; ++i) {  // 2 s: several replay attempts and at least one tick
    EXPECT_EQ(gb->fetch_offsets("g", std::nullopt).error, err::kCoordinatorLoadInProgress);
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(commit(*gb, 7), err::kCoordinatorLoadInProgress);
  EXPECT_GT(b.objects.injected(), 2u);  // it was retried
  auto info = b.topics().stream_info(kOffsetsTopic, p);
  EXPECT_EQ(info->start.value(), 0);  // no snapshot, no trim
  EXPECT_EQ(info->end.value(), 7);

  b.objects.clear_faults();
  ASSERT_TRUE(wait_fetch(*gb, err::kNone, 5s));
  auto f = gb->fetch_offsets("g", std::nullopt);
  ASSERT_EQ(f.offsets.size(), 1u);
  EXPECT_EQ(f.offsets.at(0).offset, 100);
  ASSERT_EQ(commit(*gb, 101), err::kNone);  // served again
}

// A single broker: the start-up load of __consumer_offsets fails while the object store's
// reads fail; every group answers COORDINATOR_LOAD_IN_PROGRESS meanwhile, the load is retried
// with back-off until it succeeds, and a broker stopping during a back-off is not held up by it.
TEST(OffsetsSingle, AFailedStartUpLoadIsRetriedAndAStopDuringItsBackOffIsNotHeldUp) {
  World w;
  objstore::FaultyObjectStore objects(*w.objects);
  auto start = [&](Node& node) {
    EXPECT_TRUE(node.boot(objects, *w.meta, w.clock).ok());
    auto b =
        std::make_unique<broker::Broker>(broker::BrokerConfig{}, *w.meta, node.store(), w.clock);
    EXPECT_TRUE(b->start().ok());
    return b;
  };
  {
    Node node(w.fs, Member::opts());
    auto b = start(node);
    auto gc = coordinator_of(*b);
    for (int i = 0; i < 200 && gc->loading(); ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(commit(*gc, 42), err::kNone);
    b->stop();  // uploads: the next start reads the partition from the objects
  }
  const objstore::StoreFault reads_fail{
      .ops = static_cast<objstore::StoreOpMask>(objstore::StoreOp::kGet),
      .nth = 1,
      .and_after = true};
  {
    Node node(w.fs, Member::opts());
    auto b = start(node);
    objects.add_fault(reads_fail);
    auto gc = coordinator_of(*b);  // created (and loaded) on first use
    for (int i = 0; i < 10; ++i) {
      EXPECT_EQ(gc->fetch_offsets("g", std::nullopt).error, err::kCoordinatorLoadInProgress);
      std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(commit(*gc, 7), err::kCoordinatorLoadInProgress);
    const uint64_t failed = objects.injected();
    EXPECT_GE(failed, 3u);
    objects.clear_faults();
    ASSERT_TRUE(wait_fetch(*gc, err::kNone, 5s));
    EXPECT_EQ(gc->fetch_offsets("g", std::nullopt).offsets.at(0).offset, 42);
    b->stop();
  }
  {
    Node node(w.fs, Member::opts());
    auto b = start(node);
    objects.add_fault(reads_fail);
    auto gc = coordinator_of(*b);
    // Attempts at about 0, 0.1, 0.3 and 0.7 s; the next one waits for a timer until 1.5 s.
    std::this_thread::sleep_for(800ms);
    const auto t0 = std::chrono::steady_clock::now();
    gc.reset();
    b->stop();  // cancels the timer: the control pool's join() does not wait for it
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(took, 400ms) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
    objects.clear_faults();
  }
}

}  // namespace
}  // namespace shale::coord
