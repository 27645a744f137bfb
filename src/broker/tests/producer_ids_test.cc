// ProducerIdAllocator over a shared metadata store, and the idempotent append path of Partition
// (duplicates, in-flight retries, failed appends, rebuild after a restart, expiry).
#include "broker/producer_ids.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "broker/broker.h"
#include "broker/producer_recovery.h"
#include "broker/tests/fakes.h"
#include "broker/tests/test_util.h"
#include "kafka/records/records.h"

namespace shale::broker {
namespace {

namespace rec = kafka::records;
using testing::run;

TEST(ProducerIdAllocatorTest, TwoBrokersNeverShareAnId) {
  testing::FakeMetaStore meta;
  ProducerIdAllocator a(meta), b(meta);
  EXPECT_FALSE(a.try_next().has_value());  // no block yet
  std::set<int64_t> seen;
  std::mutex mu;
  auto take = [&](ProducerIdAllocator& x) {
    for (int i = 0; i < 1500; ++i) {
      auto id = x.next_blocking();
      ASSERT_TRUE(id.ok());
      std::lock_guard lk(mu);
      EXPECT_TRUE(seen.insert(*id).second) << "id " << *id << " handed out twice";
    }
  };
  std::thread t1(take, std::ref(a)), t2(take, std::ref(b));
  t1.join();
  t2.join();
  EXPECT_EQ(seen.size(), 3000u);
  EXPECT_EQ(*seen.begin(), 0);
  // Each took two blocks: four blocks claimed in all.
  auto next = meta.get("shale/producer-ids/next", {}, 0);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->kvs.at(0).value, std::to_string(4 * kProducerIdBlock));
  EXPECT_TRUE(*a.known_blocking(3999));
  EXPECT_FALSE(*a.known_blocking(4000));
  EXPECT_FALSE(*a.known_blocking(-1));
  // A restarted broker skips its unused ids.
  ProducerIdAllocator c(meta);
  EXPECT_EQ(*c.next_blocking(), 4 * kProducerIdBlock);
}

TEST(ProducerIdAllocatorTest, CorruptCounterIsAnError) {
  testing::FakeMetaStore meta;
  ASSERT_TRUE(meta.put("shale/producer-ids/next", "x1", LeaseId(0)).ok());
  ProducerIdAllocator a(meta);
  EXPECT_EQ(a.next_blocking().error().code, Errc::kCorruption);
}

Buf idem_batch(int64_t pid, int16_t epoch, int32_t seq, int n, int64_t ts = 1'700'000'000'000) {
  rec::BatchBuilder b(
      {.base_timestamp = ts, .producer_id = pid, .producer_epoch = epoch, .base_sequence = seq});
  for (int i = 0; i < n; ++i) b.add("k", fmt::format("v{}", seq + i), ts);
  return b.build();
}

class IdempotentPartitionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    start(true);
    auto r = run(io, broker->topics().create_topic({.name = "t", .num_partitions = 1}, false));
    ASSERT_TRUE(r.error.ok());
    p = broker->topics().partition("t", 0);
  }
  void start(bool first) {
    BrokerConfig cfg;
    cfg.topics.producer_id_expiration_ms = 60'000;
    broker = std::make_unique<Broker>(cfg, meta, store, clock);
    ASSERT_TRUE(broker->start().ok());
    if (!first) p = broker->topics().partition("t", 0);
  }
  // A clean restart (snapshot written on close) or a crash (no close: the snapshot is whatever
  // was written before; the stream is re-opened at a higher epoch).
  void restart() {
    p.reset();
    broker->stop();
    broker.reset();
    start(false);
  }
  ProduceResult produce(Buf b) { return run(io, p->append({std::move(b)}).wait()); }

  asio::io_context io;
  testing::FakeMetaStore meta;
  testing::FakeStreamStore store;
  ManualClock clock{1'700'000'000'000};
  std::unique_ptr<Broker> broker;
  std::shared_ptr<Partition> p;
};

TEST_F(IdempotentPartitionTest, DuplicateGetsTheOriginalOffsetAndIsNotStored) {
  EXPECT_EQ(produce(idem_batch(7, 0, 0, 3)).base_offset, 0);
  EXPECT_EQ(produce(idem_batch(7, 0, 3, 2)).base_offset, 3);
  auto dup = produce(idem_batch(7, 0, 0, 3));
  EXPECT_TRUE(dup.error.ok());
  EXPECT_EQ(dup.base_offset, 0);
  EXPECT_EQ(p->high_watermark(), 5);
  EXPECT_EQ(store.appends.load(), 2);
  EXPECT_EQ(produce(idem_batch(7, 0, 9, 1)).error.code, kerr::kOutOfOrderSequenceNumber);
  EXPECT_EQ(produce(idem_batch(7, -1 + 0, 5, 1)).error.code, kerr::kInvalidProducerEpoch);
  EXPECT_EQ(produce(idem_batch(7, 0, 5, 1)).base_offset, 5);
  EXPECT_EQ(p->producer_counters().duplicates, 1u);
}

TEST_F(IdempotentPartitionTest, RetryOfAnInFlightBatchWaitsForTheOriginal) {
  auto first = p->append({idem_batch(7, 0, 0, 2)});
  auto retry = p->append({idem_batch(7, 0, 0, 2)});  // before the first is durable
  auto a = run(io, first.wait());
  auto b = run(io, retry.wait());
  EXPECT_EQ(a.base_offset, 0);
  EXPECT_TRUE(b.error.ok());
  EXPECT_EQ(b.base_offset, 0);
  EXPECT_EQ(store.appends.load(), 1);
}

TEST_F(IdempotentPartitionTest, FailedStoreAppendDoesNotClaimTheSequence) {
  store.fail_appends = true;
  EXPECT_EQ(produce(idem_batch(7, 0, 0, 2)).error.code, kerr::kKafkaStorageError);
  store.fail_appends = false;
  auto r = produce(idem_batch(7, 0, 0, 2));
  EXPECT_TRUE(r.error.ok());
  EXPECT_EQ(r.base_offset, 0);
  EXPECT_EQ(store.appends.load(), 1);
}

TEST_F(IdempotentPartitionTest, MultipleIdempotentBatchesInOneAppendAreRefused) {
  auto r = produce(idem_batch(7, 0, 0, 1));
  ASSERT_TRUE(r.error.ok());
  auto two = run(io, p->append({idem_batch(7, 0, 1, 1), idem_batch(7, 0, 2, 1)}).wait());
  EXPECT_EQ(two.error.code, kerr::kInvalidRecord);
}

TEST_F(IdempotentPartitionTest, CleanRestartRebuildsFromTheSnapshot) {
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(produce(idem_batch(7, 0, i * 2, 2)).error.ok());
  restart();
  const int reads = store.cold_reads.load();
  auto dup = produce(idem_batch(7, 0, 10, 2));
  EXPECT_TRUE(dup.error.ok());
  EXPECT_EQ(dup.base_offset, 10);
  // A gap just after the partition (with history) opened is answered retriable: the batches
  // before it may have been refused while the partition was still opening (a failover or a
  // restart), and librdkafka gives up for good on OUT_OF_ORDER_SEQUENCE_NUMBER.
  EXPECT_EQ(produce(idem_batch(7, 0, 13, 1)).error.code, kerr::kNotLeaderOrFollower);
  clock.advance(std::chrono::milliseconds(10'001));
  EXPECT_EQ(produce(idem_batch(7, 0, 13, 1)).error.code, kerr::kOutOfOrderSequenceNumber);
  EXPECT_EQ(produce(idem_batch(7, 0, 12, 1)).base_offset, 12);
  EXPECT_EQ(store.cold_reads.load(), reads);  // the snapshot covered everything: no scan
  EXPECT_EQ(p->producer_counters().out_of_order, 2u);
}

TEST_F(IdempotentPartitionTest, AGapRightAfterAStraddledOpenIsRetriableAndTheRunLandsInOrder) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(produce(idem_batch(7, 0, i, 1)).error.ok());
  restart();  // the partition opens here again with history (a failover looks the same)
  // Seq 3 was refused while the partition was opening; seq 4 arrives after the open.
  EXPECT_EQ(produce(idem_batch(7, 0, 4, 1)).error.code, kerr::kNotLeaderOrFollower);
  // The client resends the run in order: both land, nothing is skipped.
  EXPECT_EQ(produce(idem_batch(7, 0, 3, 1)).base_offset, 3);
  EXPECT_EQ(produce(idem_batch(7, 0, 4, 1)).base_offset, 4);
}

TEST_F(IdempotentPartitionTest, CrashRebuildScansOnlyTheTailAfterTheSnapshot) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(produce(idem_batch(7, 0, i, 1)).error.ok());
  // A snapshot at offset 3 (as the periodic snapshot would write), then more batches, then
  // a "crash": the stream is re-opened without a clean close.
  auto [off, json] = p->producer_snapshot();
  EXPECT_EQ(off, 3);
  ASSERT_TRUE(save_producer_snapshot(meta, p->stream_id(), off, json).ok());
  for (int i = 3; i < 9; ++i) ASSERT_TRUE(produce(idem_batch(7, 0, i, 1)).error.ok());
  ASSERT_TRUE(produce(idem_batch(8, 4, 100, 1)).error.ok());
  auto info = store.info(p->stream_id());
  ASSERT_TRUE(info.ok());
  auto rec = recover_producer_state(meta, store, p->stream_id(), *info);
  ASSERT_TRUE(rec.ok()) << rec.error().to_string();
  EXPECT_EQ(rec->snapshot_offset, 3);
  EXPECT_EQ(rec->scanned_from, 3);
  EXPECT_EQ(rec->scanned_batches, 7);
  auto& t = rec->table;
  EXPECT_EQ(t.check_and_reserve({7, 0, 4, 0, 0}).original.first_offset, 4);
  EXPECT_EQ(t.check_and_reserve({8, 4, 100, 0, 0}).original.first_offset, 9);
  EXPECT_EQ(t.check_and_reserve({7, 0, 9, 0, 0}).outcome, ProducerStateTable::Outcome::kAppend);

  // And through a full broker restart with that state in the store.
  restart();
  auto dup = produce(idem_batch(7, 0, 8, 1));
  EXPECT_EQ(dup.base_offset, 8);
}

TEST_F(IdempotentPartitionTest, RebuildWithoutSnapshotScansFromTheLogStart) {
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(produce(idem_batch(7, 0, i, 1)).error.ok());
  ASSERT_TRUE(meta.del(producer_snapshot_key(p->stream_id()), {}).ok());
  auto info = store.info(p->stream_id());
  auto rec = recover_producer_state(meta, store, p->stream_id(), *info);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->snapshot_offset, -1);
  EXPECT_EQ(rec->scanned_batches, 4);
  EXPECT_EQ(rec->table.check_and_reserve({7, 0, 3, 0, 0}).original.first_offset, 3);
  // A corrupt snapshot is ignored (full scan) rather than failing the open.
  ASSERT_TRUE(meta.put(producer_snapshot_key(p->stream_id()), "{bad", LeaseId(0)).ok());
  auto again = recover_producer_state(meta, store, p->stream_id(), *info);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->scanned_batches, 4);
}

TEST_F(IdempotentPartitionTest, IdleProducerExpiresWithTheClock) {
  const int64_t now = clock.wall_ms();
  ASSERT_TRUE(produce(idem_batch(7, 0, 0, 1, now)).error.ok());
  clock.advance(std::chrono::milliseconds(59'999));
  EXPECT_EQ(produce(idem_batch(7, 0, 0, 1, now)).base_offset, 0);  // still a duplicate
  clock.advance(std::chrono::milliseconds(61'000));
  // Expired: the producer is unknown again, so the old batch is appended anew.
  auto r = produce(idem_batch(7, 0, 0, 1, now));
  EXPECT_TRUE(r.error.ok());
  EXPECT_EQ(r.base_offset, 1);
  EXPECT_EQ(p->producer_counters().expired, 1u);
}

TEST_F(IdempotentPartitionTest, DeletingTheTopicRemovesTheSnapshot) {
  ASSERT_TRUE(produce(idem_batch(7, 0, 0, 1)).error.ok());
  restart();  // writes a snapshot on close
  const StreamId id = p->stream_id();
  ASSERT_FALSE(meta.get(producer_snapshot_key(id), {}, 0)->kvs.empty());
  ASSERT_TRUE(run(io, broker->topics().delete_topic("t")).ok());
  EXPECT_TRUE(meta.get(producer_snapshot_key(id), {}, 0)->kvs.empty());
}

}  // namespace
}  // namespace shale::broker
