// ProducerStateTable: Kafka 3.9's idempotent-producer rules, one test per path.
#include "broker/producer_state.h"

#include <gtest/gtest.h>

#include <limits>

namespace shale::broker {
namespace {

using Outcome = ProducerStateTable::Outcome;
constexpr int64_t kPid = 1000;

ProducerBatch batch(int32_t first_seq, int32_t count, int16_t epoch = 0, int64_t pid = kPid,
                    int64_t ts = 1000) {
  return {pid, epoch, first_seq, count - 1, ts};
}

// Reserves and completes `b` at `offset`; returns the ticket.
uint64_t append(ProducerStateTable& t, const ProducerBatch& b, int64_t offset) {
  auto c = t.check_and_reserve(b);
  EXPECT_EQ(c.outcome, Outcome::kAppend) << c.error.message;
  t.complete(b.producer_id, c.ticket, offset, offset + b.last_offset_delta);
  return c.ticket;
}

TEST(ProducerStateTest, UnknownProducerAcceptsAnySequence) {
  ProducerStateTable t;
  // Kafka >= 2.5 accepts a producer it has no state for at any sequence (no UNKNOWN_PRODUCER_ID).
  append(t, batch(42, 3), 0);
  EXPECT_EQ(t.epoch(kPid), 0);
  ASSERT_EQ(t.batches(kPid).size(), 1u);
  EXPECT_EQ(t.batches(kPid)[0].last_seq, 44);
  append(t, batch(45, 1), 3);
}

TEST(ProducerStateTest, InSequenceBatchesAreAccepted) {
  ProducerStateTable t;
  for (int i = 0; i < 10; ++i) append(t, batch(i * 2, 2), i * 2);
  auto bs = t.batches(kPid);
  ASSERT_EQ(bs.size(), kMaxBatchesPerProducer);  // only the last five are kept
  EXPECT_EQ(bs.front().first_seq, 10);
  EXPECT_EQ(bs.back().last_seq, 19);
  EXPECT_EQ(bs.back().last_offset, 19);
}

TEST(ProducerStateTest, DuplicateOfEachOfTheLastFiveReturnsItsOffsets) {
  ProducerStateTable t;
  for (int i = 0; i < 7; ++i) append(t, batch(i, 1), 100 + i);
  for (int i = 2; i < 7; ++i) {
    auto c = t.check_and_reserve(batch(i, 1));
    ASSERT_EQ(c.outcome, Outcome::kDuplicate) << i;
    EXPECT_EQ(c.original.first_offset, 100 + i);
  }
  // Older than the window: not recognised; a gap relative to the last sequence.
  auto old = t.check_and_reserve(batch(1, 1));
  EXPECT_EQ(old.outcome, Outcome::kError);
  EXPECT_EQ(old.error.code, kerr::kOutOfOrderSequenceNumber);
  EXPECT_EQ(t.counters().duplicates, 5u);
  EXPECT_EQ(t.in_flight(), 0u);
}

TEST(ProducerStateTest, SameFirstSequenceDifferentLengthIsNotADuplicate) {
  ProducerStateTable t;
  append(t, batch(0, 3), 0);
  auto c = t.check_and_reserve(batch(0, 2));
  EXPECT_EQ(c.outcome, Outcome::kError);
  EXPECT_EQ(c.error.code, kerr::kOutOfOrderSequenceNumber);
}

TEST(ProducerStateTest, GapIsOutOfOrder) {
  ProducerStateTable t;
  append(t, batch(0, 5), 0);
  auto c = t.check_and_reserve(batch(6, 1));
  EXPECT_EQ(c.outcome, Outcome::kError);
  EXPECT_EQ(c.error.code, kerr::kOutOfOrderSequenceNumber);
  EXPECT_EQ(t.counters().out_of_order, 1u);
  append(t, batch(5, 1), 5);  // state unchanged by the refusal
}

TEST(ProducerStateTest, OlderEpochIsFenced) {
  ProducerStateTable t;
  append(t, batch(0, 1, /*epoch=*/3), 0);
  auto c = t.check_and_reserve(batch(1, 1, /*epoch=*/2));
  EXPECT_EQ(c.outcome, Outcome::kError);
  EXPECT_EQ(c.error.code, kerr::kInvalidProducerEpoch);
  // Even an exact duplicate under the old epoch is fenced (duplicates need the same epoch).
  auto d = t.check_and_reserve(batch(0, 1, /*epoch=*/2));
  EXPECT_EQ(d.error.code, kerr::kInvalidProducerEpoch);
  EXPECT_EQ(t.counters().fenced_epochs, 2u);
}

TEST(ProducerStateTest, NewEpochMustStartAtZeroAndForgetsOldBatches) {
  ProducerStateTable t;
  append(t, batch(0, 4, 0), 0);
  auto bad = t.check_and_reserve(batch(4, 1, 1));
  EXPECT_EQ(bad.outcome, Outcome::kError);
  EXPECT_EQ(bad.error.code, kerr::kOutOfOrderSequenceNumber);
  EXPECT_EQ(t.epoch(kPid), 0);
  append(t, batch(0, 2, 1), 4);
  EXPECT_EQ(t.epoch(kPid), 1);
  ASSERT_EQ(t.batches(kPid).size(), 1u);
  EXPECT_EQ(t.batches(kPid)[0].first_offset, 4);
  // Old epoch now fenced.
  EXPECT_EQ(t.check_and_reserve(batch(4, 1, 0)).error.code, kerr::kInvalidProducerEpoch);
}

TEST(ProducerStateTest, SequenceWrapsAtInt32Max) {
  constexpr int32_t kMax = std::numeric_limits<int32_t>::max();
  EXPECT_EQ(batch(kMax - 1, 4).last_seq(), 1);
  EXPECT_EQ(batch(kMax, 1).last_seq(), kMax);
  ProducerStateTable t;
  append(t, batch(kMax - 2, 3), 0);  // ends exactly at INT32_MAX
  append(t, batch(0, 2), 3);         // wraps to 0
  append(t, batch(2, 1), 5);
  ProducerStateTable u;
  append(u, batch(kMax - 1, 4), 0);  // a batch that itself wraps: last seq 1
  EXPECT_EQ(u.batches(kPid)[0].last_seq, 1);
  EXPECT_EQ(u.check_and_reserve(batch(kMax - 1, 4)).outcome, Outcome::kDuplicate);
  append(u, batch(2, 1), 4);
  EXPECT_EQ(u.check_and_reserve(batch(0, 1)).error.code, kerr::kOutOfOrderSequenceNumber);
}

TEST(ProducerStateTest, FiveInFlightAreCheckedAgainstReservations) {
  ProducerStateTable t;
  std::vector<uint64_t> tickets;
  for (int i = 0; i < 5; ++i) {
    auto c = t.check_and_reserve(batch(i * 10, 10));
    ASSERT_EQ(c.outcome, Outcome::kAppend) << i;
    tickets.push_back(c.ticket);
  }
  EXPECT_EQ(t.in_flight(), 5u);
  // A retry of an in-flight batch waits for the original.
  auto dup = t.check_and_reserve(batch(20, 10));
  ASSERT_EQ(dup.outcome, Outcome::kDuplicateInFlight);
  EXPECT_EQ(dup.ticket, tickets[2]);
  int64_t seen = -1;
  ASSERT_TRUE(t.wait_for(kPid, dup.ticket, [&](const ApiError& e, const BatchMetadata& m) {
    EXPECT_TRUE(e.ok());
    seen = m.first_offset;
  }));
  for (int i = 0; i < 5; ++i) {
    auto w = t.complete(kPid, tickets[i], i * 10, i * 10 + 9);
    w.run();
  }
  EXPECT_EQ(seen, 20);
  EXPECT_EQ(t.in_flight(), 0u);
  EXPECT_EQ(t.batches(kPid).size(), 5u);
  EXPECT_EQ(t.check_and_reserve(batch(50, 1)).outcome, Outcome::kAppend);
}

TEST(ProducerStateTest, FailedAppendLeavesNoClaim) {
  ProducerStateTable t;
  append(t, batch(0, 1), 0);
  auto c = t.check_and_reserve(batch(1, 1));
  ASSERT_EQ(c.outcome, Outcome::kAppend);
  bool failed = false;
  auto dup = t.check_and_reserve(batch(1, 1));
  ASSERT_EQ(dup.outcome, Outcome::kDuplicateInFlight);
  t.wait_for(kPid, dup.ticket, [&](const ApiError& e, const BatchMetadata&) {
    failed = e.code == kerr::kKafkaStorageError;
  });
  t.fail(kPid, c.ticket, {kerr::kKafkaStorageError, "disk"}).run();
  EXPECT_TRUE(failed);
  EXPECT_EQ(t.in_flight(), 0u);
  // The retry is appended (not a duplicate of a batch that never landed).
  auto retry = t.check_and_reserve(batch(1, 1));
  EXPECT_EQ(retry.outcome, Outcome::kAppend);
}

TEST(ProducerStateTest, FailedFirstAppendOfUnknownProducerForgetsIt) {
  ProducerStateTable t;
  auto c = t.check_and_reserve(batch(7, 1));
  t.fail(kPid, c.ticket, {kerr::kKafkaStorageError, "disk"});
  EXPECT_EQ(t.size(), 0u);
}

TEST(ProducerStateTest, ProducersAreIndependent) {
  ProducerStateTable t;
  append(t, batch(0, 1, 0, 1), 0);
  append(t, batch(0, 1, 0, 2), 1);
  EXPECT_EQ(t.check_and_reserve(batch(0, 1, 0, 1)).original.first_offset, 0);
  EXPECT_EQ(t.check_and_reserve(batch(0, 1, 0, 2)).original.first_offset, 1);
}

TEST(ProducerStateTest, ReplayRebuildsAndSkipsKnownBatches) {
  ProducerStateTable live;
  ProducerStateTable rebuilt;
  for (int i = 0; i < 8; ++i) {
    append(live, batch(i, 1), i);
    rebuilt.replay(batch(i, 1), i, i);
  }
  rebuilt.replay(batch(7, 1), 7, 7);  // overlap of snapshot and tail: ignored
  rebuilt.replay(batch(3, 1), 3, 3);
  auto a = live.batches(kPid), b = rebuilt.batches(kPid);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first_offset, b[i].first_offset);
    EXPECT_EQ(a[i].last_seq, b[i].last_seq);
  }
  EXPECT_EQ(rebuilt.check_and_reserve(batch(7, 1)).original.first_offset, 7);
  EXPECT_EQ(rebuilt.check_and_reserve(batch(8, 1)).outcome, Outcome::kAppend);
  // A replayed epoch change clears the old epoch's batches.
  rebuilt.replay(batch(0, 1, 1), 9, 9);
  EXPECT_EQ(rebuilt.epoch(kPid), 1);
  EXPECT_EQ(rebuilt.batches(kPid).size(), 1u);
}

TEST(ProducerStateTest, SnapshotRoundTrip) {
  ProducerStateTable t;
  for (int i = 0; i < 6; ++i) append(t, batch(i, 1, 2, 5, 1000 + i), i);
  append(t, batch(0, 3, 0, 6), 6);
  auto in_flight = t.check_and_reserve(batch(6, 1, 2, 5));  // not part of the snapshot
  ASSERT_EQ(in_flight.outcome, Outcome::kAppend);
  auto u = ProducerStateTable::decode(t.encode());
  ASSERT_TRUE(u.ok()) << u.error().to_string();
  EXPECT_EQ(u->size(), 2u);
  EXPECT_EQ(u->epoch(5), 2);
  EXPECT_EQ(u->batches(5).size(), 5u);
  EXPECT_EQ(u->check_and_reserve(batch(5, 1, 2, 5)).original.first_offset, 5);
  EXPECT_EQ(u->check_and_reserve(batch(3, 1, 0, 6)).outcome, Outcome::kAppend);
  EXPECT_FALSE(ProducerStateTable::decode("{").ok());
  EXPECT_FALSE(ProducerStateTable::decode(R"({"version":2,"producers":[]})").ok());
  EXPECT_FALSE(
      ProducerStateTable::decode(R"({"version":1,"producers":[{"id":1,"batches":[[1,2]]}]})").ok());
  EXPECT_FALSE(ProducerStateTable::decode(
                   R"({"version":1,"producers":[{"id":1,"batches":[["a",2,3,4,5]]}]})")
                   .ok());
}

TEST(ProducerStateTest, ExpiryDropsIdleProducersOnly) {
  ProducerStateTable t;
  append(t, batch(0, 1, 0, 1, /*ts=*/1000), 0);
  append(t, batch(0, 1, 0, 2, /*ts=*/5000), 1);
  auto c = t.check_and_reserve(batch(0, 1, 0, 3, /*ts=*/0));  // in flight: never expired
  ASSERT_EQ(c.outcome, Outcome::kAppend);
  EXPECT_EQ(t.expire(/*now=*/4999, /*expiration=*/4000), 0u);  // pid 1 idle 3999 ms
  EXPECT_EQ(t.expire(/*now=*/5000, /*expiration=*/4000), 1u);  // pid 1 idle 4000 ms
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.epoch(1), -1);
  EXPECT_EQ(t.expire(8999, 4000), 0u);
  EXPECT_EQ(t.expire(9000, 4000), 1u);  // pid 2: idle exactly 4000 ms
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.counters().expired, 2u);
  // An expired producer is unknown again: any sequence is accepted.
  EXPECT_EQ(t.check_and_reserve(batch(17, 1, 0, 1)).outcome, Outcome::kAppend);
}

}  // namespace
}  // namespace shale::broker
