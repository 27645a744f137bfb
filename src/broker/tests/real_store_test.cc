// The broker over the real StreamStoreImpl (FileWal + LocalObjectStore + embedded metadata on an
// in-memory filesystem, from stream/stream_test_util.h): produce, tail reads from the log cache,
// cold reads after upload, ListOffsets by timestamp, DeleteRecords, and a broker restart.
#include <gtest/gtest.h>

#include "broker/broker.h"
#include "broker/tests/test_util.h"
#include "kafka/records/records.h"
#include "stream/stream_test_util.h"

namespace shale::broker {
namespace {

namespace rec = kafka::records;
using stream::testing::Node;
using stream::testing::World;
using testing::run;

Buf batch(int n, int64_t ts) {
  rec::BatchBuilder::Options o;
  o.base_timestamp = ts;
  rec::BatchBuilder b(o);
  for (int i = 0; i < n; ++i) b.add("key", std::string(100, 'a' + i % 26), ts + i);
  return b.build();
}

class RealStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stream::StoreOptions o;
    o.background = false;  // the test drives uploads
    node_ = std::make_unique<Node>(w_.fs, o);
    ASSERT_TRUE(node_->boot(*w_.objects, *w_.meta, w_.clock).ok());
    start_broker();
    auto r = run(io_, broker_->topics().create_topic({.name = "t", .num_partitions = 2}, false));
    ASSERT_TRUE(r.error.ok()) << r.error.message;
  }
  void start_broker() {
    broker_ = std::make_unique<Broker>(BrokerConfig{}, *w_.meta, node_->store(), w_.clock);
    ASSERT_TRUE(broker_->start().ok());
  }
  std::shared_ptr<Partition> p(int i = 0) { return broker_->topics().partition("t", i); }
  ProduceResult produce(Buf b, int i = 0) { return run(io_, p(i)->append({b}).wait()); }

  World w_;
  std::unique_ptr<Node> node_;
  asio::io_context io_;
  std::unique_ptr<Broker> broker_;
};

TEST_F(RealStoreTest, ProduceFetchFromCacheThenFromObjects) {
  std::vector<Buf> sent;
  for (int i = 0; i < 4; ++i) {
    sent.push_back(batch(5, 1000 * (i + 1)));
    auto r = produce(sent.back());
    ASSERT_TRUE(r.error.ok()) << r.error.message;
    EXPECT_EQ(r.base_offset, 5 * i);
  }
  auto hot = run(io_, p()->read(0, 1 << 20, true));
  ASSERT_TRUE(hot.error.ok()) << hot.error.message;
  ASSERT_EQ(hot.batches.size(), 4u);
  EXPECT_EQ(hot.high_watermark, 20);
  EXPECT_EQ(hot.batches[2].data(), sent[2].data());  // zero copy from the log cache

  ASSERT_TRUE(node_->store().upload_once().ok());
  // Restart the store so the log cache is empty and reads go to the objects.
  broker_.reset();
  node_->shutdown();
  stream::StoreOptions o;
  o.background = false;
  node_ = std::make_unique<Node>(w_.fs, o);
  ASSERT_TRUE(node_->boot(*w_.objects, *w_.meta, w_.clock).ok());
  start_broker();
  EXPECT_EQ(p()->leader_epoch(), 2);
  auto cold = run(io_, p()->read(7, 1 << 20, true));
  ASSERT_TRUE(cold.error.ok()) << cold.error.message;
  ASSERT_FALSE(cold.batches.empty());
  EXPECT_EQ(rec::read_header(cold.batches[0].span())->base_offset, 5);
  EXPECT_EQ(cold.batches[0].slice(16), sent[1].slice(16));
  EXPECT_TRUE(rec::validate_batch(cold.batches[0].span(), {.from_client = false}).ok());

  auto by_ts = run(io_, p()->list_offset(3002));
  EXPECT_EQ(by_ts.offset, 12);
  EXPECT_EQ(by_ts.timestamp, 3002);
  // New appends continue after the old data under the new epoch.
  auto r = produce(batch(1, 9000));
  EXPECT_EQ(r.base_offset, 20);
  EXPECT_EQ(p()->end_offset_for_epoch(1).offset, 20);
}

TEST_F(RealStoreTest, DeleteRecordsAndDeleteTopic) {
  ASSERT_TRUE(produce(batch(5, 1000)).error.ok());
  ASSERT_TRUE(produce(batch(5, 2000)).error.ok());
  auto t = run(io_, run_blocking(broker_->control_pool(), [&] { return p()->trim_blocking(5); }));
  ASSERT_TRUE(t.error.ok()) << t.error.message;
  EXPECT_EQ(t.offset, 5);
  EXPECT_EQ(run(io_, p()->read(0, 1 << 20, true)).error.code, kerr::kOffsetOutOfRange);
  EXPECT_EQ(run(io_, p()->list_offset(kEarliestTimestamp)).offset, 5);
  StreamId sid = p()->stream_id();
  ASSERT_TRUE(run(io_, broker_->topics().delete_topic("t")).ok());
  EXPECT_FALSE(node_->store().info(sid).ok());
}

}  // namespace
}  // namespace shale::broker
