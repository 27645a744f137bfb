#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>
#include <thread>

#include "broker/broker.h"
#include "broker/tests/fakes.h"
#include "broker/tests/test_util.h"
#include "kafka/records/records.h"

namespace shale::broker {
namespace {

namespace rec = kafka::records;
using testing::run;

Buf batch(int n, int64_t ts = 1000, rec::BatchBuilder::Options o = {}) {
  o.base_timestamp = ts;
  rec::BatchBuilder b(o);
  for (int i = 0; i < n; ++i) b.add("k", std::string(10, 'a' + i), ts + i);
  return b.build();
}

class PartitionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker = std::make_unique<Broker>(BrokerConfig{}, meta, store, clock);
    ASSERT_TRUE(broker->start().ok());
    auto r = run(io, broker->topics().create_topic({.name = "t", .num_partitions = 1}, false));
    ASSERT_TRUE(r.error.ok());
    p = broker->topics().partition("t", 0);
  }
  ProduceResult produce(std::vector<Buf> bs) { return run(io, p->append(std::move(bs)).wait()); }
  FetchResult fetch(int64_t off, size_t max = 1 << 20, bool min_one = true) {
    return run(io, p->read(off, max, min_one));
  }

  asio::io_context io;
  testing::FakeMetaStore meta;
  testing::FakeStreamStore store;
  ManualClock clock{1'700'000'000'000};
  std::unique_ptr<Broker> broker;
  std::shared_ptr<Partition> p;
};

TEST_F(PartitionTest, ProduceAssignsOffsetsAndFetchReturnsTheSameBytes) {
  Buf a = batch(3), b = batch(2);
  auto r1 = produce({a});
  ASSERT_TRUE(r1.error.ok()) << r1.error.message;
  EXPECT_EQ(r1.base_offset, 0);
  EXPECT_EQ(r1.log_append_time_ms, -1);
  EXPECT_EQ(r1.log_start_offset, 0);
  auto r2 = produce({b});
  EXPECT_EQ(r2.base_offset, 3);
  EXPECT_EQ(p->high_watermark(), 5);

  auto f = fetch(0);
  ASSERT_TRUE(f.error.ok());
  EXPECT_EQ(f.high_watermark, 5);
  EXPECT_EQ(f.last_stable_offset, 5);
  EXPECT_EQ(f.log_start_offset, 0);
  ASSERT_EQ(f.batches.size(), 2u);
  // Zero copy: the fetched Buf is the produced storage, patched in place.
  EXPECT_EQ(f.batches[1].data(), b.data());
  auto h = rec::read_header(f.batches[1].span());
  EXPECT_EQ(h->base_offset, 3);
  EXPECT_EQ(h->partition_leader_epoch, p->leader_epoch());
  EXPECT_TRUE(rec::validate_batch(f.batches[1].span(), {.from_client = false}).ok());

  // A fetch inside a batch returns the whole batch containing the offset.
  auto mid = fetch(4);
  ASSERT_EQ(mid.batches.size(), 1u);
  EXPECT_EQ(rec::read_header(mid.batches[0].span())->base_offset, 3);
  // At the end: nothing, no error.
  auto end = fetch(5);
  EXPECT_TRUE(end.error.ok());
  EXPECT_TRUE(end.batches.empty());
  EXPECT_EQ(fetch(6).error.code, kerr::kOffsetOutOfRange);
  EXPECT_EQ(fetch(-1).error.code, kerr::kOffsetOutOfRange);
}

TEST_F(PartitionTest, FetchHonoursMaxBytesButReturnsOneBatch) {
  Buf a = batch(3);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(produce({batch(3)}).error.ok());
  EXPECT_EQ(fetch(0, a.size() * 2).batches.size(), 2u);
  EXPECT_EQ(fetch(0, 1, true).batches.size(), 1u);   // KIP-74: first batch even if too big
  EXPECT_EQ(fetch(0, 1, false).batches.size(), 0u);  // unless someone already got data
}

TEST_F(PartitionTest, ColdReadsGoThroughTheStoreThread) {
  ASSERT_TRUE(produce({batch(2)}).error.ok());
  store.cache_misses = true;
  auto f = fetch(0);
  ASSERT_TRUE(f.error.ok());
  EXPECT_EQ(f.batches.size(), 1u);
  EXPECT_EQ(store.cold_reads.load(), 1);
}

TEST_F(PartitionTest, ProduceValidationErrors) {
  Buf bad = Buf::copy(batch(2).data(), batch(2).size());
  bad.mutable_data()[bad.size() - 1] ^= 1;
  EXPECT_EQ(produce({bad}).error.code, kerr::kCorruptMessage);
  ASSERT_TRUE(
      run(io, broker->topics().alter_configs("t", {{"max.message.bytes", "100"}}, false)).ok());
  EXPECT_EQ(produce({batch(10)}).error.code, kerr::kMessageTooLarge);
  rec::BatchBuilder::Options txn;
  txn.transactional = true;
  txn.producer_id = 1;
  txn.base_sequence = 0;
  EXPECT_EQ(produce({batch(1, 1000, txn)}).error.code, kerr::kInvalidTxnState);
  EXPECT_EQ(produce({}).error.code, kerr::kInvalidRecord);
  EXPECT_EQ(store.appends.load(), 0);  // nothing reached the store
  // Idempotent (non-transactional) batches are accepted.
  rec::BatchBuilder::Options idem;
  idem.producer_id = 9;
  idem.producer_epoch = 0;
  idem.base_sequence = 0;
  EXPECT_TRUE(produce({batch(1, 1000, idem)}).error.ok());
}

TEST_F(PartitionTest, StoreFailuresMapToKafkaErrors) {
  store.fail_appends = true;
  auto r = produce({batch(1)});
  EXPECT_EQ(r.error.code, kerr::kKafkaStorageError);
  EXPECT_EQ(r.base_offset, -1);
}

TEST_F(PartitionTest, LogAppendTimeRewritesTheBatch) {
  ASSERT_TRUE(
      run(io, broker->topics().incremental_alter_configs(
                  "t", {{"message.timestamp.type", AlterOp::Type::kSet, "LogAppendTime"}}, false))
          .ok());
  auto r = produce({batch(2, 5)});
  ASSERT_TRUE(r.error.ok());
  EXPECT_EQ(r.log_append_time_ms, clock.wall_ms());
  auto f = fetch(0);
  auto h = rec::read_header(f.batches[0].span());
  EXPECT_EQ(h->timestamp_type(), rec::TimestampType::kLogAppendTime);
  EXPECT_EQ(h->max_timestamp, clock.wall_ms());
  EXPECT_EQ(h->base_timestamp, 5);
  EXPECT_TRUE(rec::validate_batch(f.batches[0].span(), {.from_client = false}).ok());
}

TEST_F(PartitionTest, ListOffsets) {
  EXPECT_EQ(run(io, p->list_offset(kLatestTimestamp)).offset, 0);
  EXPECT_EQ(run(io, p->list_offset(kMaxTimestamp)).offset, -1);
  ASSERT_TRUE(produce({batch(3, 1000)}).error.ok());  // ts 1000..1002, offsets 0..2
  ASSERT_TRUE(produce({batch(3, 5000)}).error.ok());  // ts 5000..5002, offsets 3..5
  ASSERT_TRUE(produce({batch(2, 2000)}).error.ok());  // ts 2000..2001, offsets 6..7
  EXPECT_EQ(run(io, p->list_offset(kEarliestTimestamp)).offset, 0);
  auto latest = run(io, p->list_offset(kLatestTimestamp));
  EXPECT_EQ(latest.offset, 8);
  EXPECT_EQ(latest.leader_epoch, p->leader_epoch());
  auto mx = run(io, p->list_offset(kMaxTimestamp));
  EXPECT_EQ(mx.offset, 5);
  EXPECT_EQ(mx.timestamp, 5002);
  auto t = run(io, p->list_offset(1001));
  EXPECT_EQ(t.offset, 1);
  EXPECT_EQ(t.timestamp, 1001);
  auto t2 = run(io, p->list_offset(4000));  // first record with ts >= 4000
  EXPECT_EQ(t2.offset, 3);
  EXPECT_EQ(t2.timestamp, 5000);
  auto none = run(io, p->list_offset(9999));
  EXPECT_EQ(none.offset, -1);
  EXPECT_EQ(none.timestamp, -1);
}

TEST_F(PartitionTest, DeleteRecordsMovesTheLogStart) {
  ASSERT_TRUE(produce({batch(3)}).error.ok());
  ASSERT_TRUE(produce({batch(3)}).error.ok());
  EXPECT_EQ(p->trim_blocking(7).error.code, kerr::kOffsetOutOfRange);
  auto r = p->trim_blocking(3);
  ASSERT_TRUE(r.error.ok());
  EXPECT_EQ(r.offset, 3);
  EXPECT_EQ(p->trim_blocking(1).offset, 3);  // never moves back
  EXPECT_EQ(fetch(0).error.code, kerr::kOffsetOutOfRange);
  EXPECT_EQ(fetch(3).log_start_offset, 3);
  EXPECT_EQ(run(io, p->list_offset(kEarliestTimestamp)).offset, 3);
  EXPECT_EQ(p->trim_blocking(-1).offset, 6);  // -1: up to the high watermark
}

TEST_F(PartitionTest, LeaderEpochChecksAndEndOffsets) {
  EXPECT_TRUE(p->check_leader_epoch(-1).ok());
  EXPECT_TRUE(p->check_leader_epoch(p->leader_epoch()).ok());
  EXPECT_EQ(p->check_leader_epoch(p->leader_epoch() - 1).code, kerr::kFencedLeaderEpoch);
  EXPECT_EQ(p->check_leader_epoch(p->leader_epoch() + 1).code, kerr::kUnknownLeaderEpoch);
  ASSERT_TRUE(produce({batch(4)}).error.ok());
  auto cur = p->end_offset_for_epoch(p->leader_epoch());
  EXPECT_EQ(cur.leader_epoch, p->leader_epoch());
  EXPECT_EQ(cur.offset, 4);
  auto future = p->end_offset_for_epoch(p->leader_epoch() + 1);
  EXPECT_EQ(future.leader_epoch, -1);
  EXPECT_EQ(future.offset, -1);
}

TEST_F(PartitionTest, OlderEpochEndsWhereTheCurrentBegan) {
  ASSERT_TRUE(produce({batch(4)}).error.ok());
  broker.reset();  // restart: the partition reopens at epoch 2, starting at offset 4
  broker = std::make_unique<Broker>(BrokerConfig{}, meta, store, clock);
  ASSERT_TRUE(broker->start().ok());
  p = broker->topics().partition("t", 0);
  ASSERT_EQ(p->leader_epoch(), 2);
  ASSERT_TRUE(produce({batch(2)}).error.ok());
  EXPECT_EQ(p->end_offset_for_epoch(1).offset, 4);
  EXPECT_EQ(p->end_offset_for_epoch(2).offset, 6);
  // The old epoch's batches still say epoch 1, the new ones epoch 2.
  auto f = fetch(0);
  ASSERT_EQ(f.batches.size(), 2u);
  EXPECT_EQ(rec::read_header(f.batches[0].span())->partition_leader_epoch, 1);
  EXPECT_EQ(rec::read_header(f.batches[1].span())->partition_leader_epoch, 2);
}

TEST_F(PartitionTest, WaiterWakesWhenDataArrivesFromAnotherThread) {
  bool woke = false;
  auto start = std::chrono::steady_clock::now();
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto w = std::make_shared<DataWaiter>(co_await asio::this_coro::executor);
        p->add_waiter(w, 0);
        woke = co_await w->wait_until(std::chrono::steady_clock::now() + std::chrono::seconds(10));
        p->remove_waiter(w.get());
      },
      asio::detached);
  std::thread producer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    asio::io_context io2;
    (void)run(io2, p->append({batch(1)}).wait());
  });
  io.restart();
  io.run();
  producer.join();
  EXPECT_TRUE(woke);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(PartitionTest, WaiterTimesOutWithoutData) {
  bool woke = true;
  auto start = std::chrono::steady_clock::now();
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto w = std::make_shared<DataWaiter>(co_await asio::this_coro::executor);
        p->add_waiter(w, 0);
        woke = co_await w->wait_until(std::chrono::steady_clock::now() +
                                      std::chrono::milliseconds(30));
        p->remove_waiter(w.get());
      },
      [](std::exception_ptr e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& x) {
            ADD_FAILURE() << x.what();
          }
        }
      });
  io.restart();
  io.run();
  EXPECT_FALSE(woke);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(30));
}

TEST_F(PartitionTest, WaiterRegisteredBehindTheEndFiresAtOnce) {
  ASSERT_TRUE(produce({batch(1)}).error.ok());
  auto w = std::make_shared<DataWaiter>(io.get_executor());
  p->add_waiter(w, 0);  // end is 1 > 0
  EXPECT_TRUE(w->notified());
}

TEST_F(PartitionTest, DeletedPartitionAnswersUnknown) {
  ASSERT_TRUE(run(io, broker->topics().delete_topic("t")).ok());
  EXPECT_EQ(produce({batch(1)}).error.code, kerr::kUnknownTopicOrPartition);
  EXPECT_EQ(fetch(0).error.code, kerr::kUnknownTopicOrPartition);
}

}  // namespace
}  // namespace shale::broker
