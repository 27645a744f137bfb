// ObjectWal on MemObjectStore + make_mem_meta(): group commit by size and time, ack only after
// the index commit, replay after restart, fencing of a stale writer, garbage collection of
// uncommitted objects, trim, and failure handling. MemObjectStore has conditional PUT, so these
// run in parallel commit order (CommitOrder::kAuto) unless a test pins the order.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include "wal/object_wal_test_util.h"

namespace shale::wal {
namespace {

TEST(ObjectWal, AcksInOrderAfterIndexCommitAndReplaysAfterRestart) {
  Env env;
  std::vector<WalRecord> recs;
  for (int i = 0; i < 200; ++i) recs.push_back(rec(i % 7, i, std::string(100 + i, 'a' + i % 26)));
  std::vector<std::pair<WalPos, std::string>> acked;
  {
    ObjectWal w(env.store, *env.meta, env.opts(1, /*flush_bytes=*/4096));
    EXPECT_TRUE(replay(w).empty());
    ASSERT_TRUE(w.start().ok());
    std::mutex mu;
    std::vector<int64_t> order;
    std::vector<std::promise<void>> done(recs.size());
    for (size_t i = 0; i < recs.size(); ++i) {
      w.append(recs[i], [&, i](Result<WalPos> r) {
        ASSERT_TRUE(r.ok()) << r.error().to_string();
        // Acknowledged => the index entry covering it is already committed.
        auto idx = env.meta->get("/shale/wal/", meta::prefix_end("/shale/wal/"));
        bool covered = false;
        for (const auto& kv : idx->kvs) {
          if (kv.key.find("/idx/") == std::string::npos) continue;
          uint64_t start = std::stoull(kv.key.substr(kv.key.rfind('/') + 1));
          uint64_t end = std::stoull(kv.value.substr(kv.value.find(' ') + 1));
          covered |=
              start <= static_cast<uint64_t>(r->value()) && static_cast<uint64_t>(r->value()) < end;
        }
        EXPECT_TRUE(covered) << r->value();
        std::lock_guard lk(mu);
        order.push_back(r->value());
        acked.emplace_back(*r, fmt::format("{}:{}:{}", recs[i].stream.value(), recs[i].base.value(),
                                           recs[i].payload.view()));
        done[i].set_value();
      });
    }
    for (auto& d : done) d.get_future().wait();
    EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
    EXPECT_EQ(std::adjacent_find(order.begin(), order.end()), order.end());
    EXPECT_GT(w.stats().commits, 5u);    // 4 KiB objects: many group commits
    EXPECT_LT(w.stats().commits, 200u);  // ... but grouped
    EXPECT_EQ(w.stats().acked_appends, 200u);
    EXPECT_EQ(env.objects(), w.stats().commits);
    EXPECT_GT(w.end().value(), order.back());
  }
  ObjectWal w2(env.store, *env.meta, env.opts(2));
  EXPECT_EQ(replay(w2), acked);
  ASSERT_TRUE(w2.start().ok());
  auto r = append_all(w2, {rec(1, 1000, "after restart")});
  ASSERT_TRUE(r[0].ok());
  EXPECT_GE(r[0]->value(), acked.back().first.value());
  // Its object carries node 3 and epoch 2.
  EXPECT_EQ(env.store.list("wal/0000000003/00000000000000000002/")->objects.size(), 1u);
}

TEST(ObjectWal, FlushesOnTimeAndOnSize) {
  Env env;
  ObjectWal w(env.store, *env.meta, env.opts(1, /*flush_bytes=*/1 << 20, /*delay_ms=*/30));
  replay(w);
  ASSERT_TRUE(w.start().ok());
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(append_all(w, {rec(1, 0, "small")})[0].ok());  // only the timer can flush it
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(25));
  EXPECT_EQ(env.objects(), 1u);
  // Three 600 KiB records with a 1 MiB limit: each object holds one (a second would not fit).
  std::string big(600 << 10, 'x');
  auto r = append_all(w, {rec(1, 1, big), rec(1, 2, big), rec(1, 3, big)});
  for (auto& x : r) ASSERT_TRUE(x.ok());
  EXPECT_EQ(env.objects(), 4u);
}

TEST(ObjectWal, HalfAFlushUploadsAtOnceWhenASlotIsFree) {
  Env env;
  std::string big(600 << 10, 'x');  // more than half of flush_bytes (1 MiB), less than all
  {
    ObjectWal w(env.store, *env.meta, env.opts(1, /*flush_bytes=*/1 << 20, /*delay_ms=*/10000));
    replay(w);
    ASSERT_TRUE(w.start().ok());
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(append_all(w, {rec(1, 0, big)})[0].ok());  // no 10 s wait for the timer
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
    w.stop();
  }
  ObjectWalOptions off = env.opts(2, /*flush_bytes=*/1 << 20, /*delay_ms=*/300);
  off.early_flush_bytes = UINT64_MAX;
  ObjectWal w(env.store, *env.meta, off);
  replay(w);
  ASSERT_TRUE(w.start().ok());
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(append_all(w, {rec(1, 1, big)})[0].ok());  // only the timer flushes it
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(250));
}

TEST(ObjectWal, StaleWriterIsFencedAndNeverOverwrites) {
  Env env;
  ObjectWal old_w(env.store, *env.meta, env.opts(5));
  replay(old_w);
  ASSERT_TRUE(old_w.start().ok());
  auto a = append_all(old_w, {rec(1, 0, "old-acked")});
  ASSERT_TRUE(a[0].ok());
  // A newer writer takes over and replays what the old one acknowledged.
  ObjectWal new_w(env.store, *env.meta, env.opts(6));
  auto seen = replay(new_w);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].second, "1:0:old-acked");
  ASSERT_TRUE(new_w.start().ok());
  ASSERT_TRUE(append_all(new_w, {rec(1, 1, "new")})[0].ok());
  // The old writer's next append is fenced, and its object is cleaned up.
  auto f = append_all(old_w, {rec(1, 1, "stale")});
  EXPECT_EQ(f[0].code(), Errc::kFenced);
  EXPECT_EQ(append_all(old_w, {rec(1, 2, "stale2")})[0].code(), Errc::kFenced);  // sticky
  EXPECT_EQ(env.store.list("wal/0000000003/00000000000000000005/")->objects.size(), 1u);
  // An older (or equal) epoch cannot even recover.
  ObjectWal older(env.store, *env.meta, env.opts(6));
  Status st;
  replay(older, &st);
  EXPECT_EQ(st.code(), Errc::kFenced);
  old_w.stop();
  new_w.stop();
  ObjectWal w3(env.store, *env.meta, env.opts(7));
  auto all = replay(w3);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].second, "1:1:new");
}

// Sequential order: a failed upload is never committed. (Parallel order: its commit may land;
// object_wal_parallel_test.cc covers that.)
TEST(ObjectWal, RecoveryDeletesUncommittedObjects) {
  Env env;
  objstore::FaultyObjectStore faulty(env.store);
  {
    ObjectWal w(faulty, *env.meta, env.opts(1, 1 << 20, 5, CommitOrder::kSequential));
    EXPECT_FALSE(w.parallel_commit());
    replay(w);
    ASSERT_TRUE(w.start().ok());
    ASSERT_TRUE(append_all(w, {rec(1, 0, "kept")})[0].ok());
    // The next upload lands but reports a non-retryable failure: uploaded, never committed.
    faulty.add_fault({.ops = static_cast<uint32_t>(objstore::StoreOp::kPut),
                      .nth = 1,
                      .action = objstore::StoreFault::Action::kFailAfter,
                      .code = Errc::kInternal});
    auto r = append_all(w, {rec(1, 1, "lost")});
    EXPECT_FALSE(r[0].ok());
    // Sticky: nothing is acknowledged past the hole.
    EXPECT_FALSE(append_all(w, {rec(1, 2, "after")})[0].ok());
    EXPECT_EQ(env.objects(), 2u);
  }
  ASSERT_TRUE(env.store.put("wal/0000000003/00000000000000000001/99999", Buf::copy("junk")).ok());
  ASSERT_TRUE(env.store.put("wal/0000000004/other-node", Buf::copy("keep")).ok());
  ObjectWal w2(env.store, *env.meta, env.opts(2));
  auto seen = replay(w2);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].second, "1:0:kept");
  EXPECT_EQ(env.store.list("wal/0000000003/")->objects.size(), 1u);
  EXPECT_TRUE(env.store.head("wal/0000000004/other-node").ok());
}

TEST(ObjectWal, OutageDelaysAcksAndNothingIsLostOrDuplicated) {
  Env env;
  objstore::FaultyObjectStore faulty(env.store);
  ObjectWalOptions o = env.opts(1, /*flush_bytes=*/256, /*delay_ms=*/1);
  o.retry_base = std::chrono::milliseconds(1);
  o.retry_cap = std::chrono::milliseconds(5);
  std::vector<Result<WalPos>> r;
  {
    ObjectWal w(faulty, *env.meta, o);
    replay(w);
    ASSERT_TRUE(w.start().ok());
    // The first upload lands but reports an I/O error (its retry finds our own bytes there);
    // then every put fails for a while (an outage), then the store recovers.
    faulty.add_fault({.ops = static_cast<uint32_t>(objstore::StoreOp::kPut),
                      .nth = 1,
                      .action = objstore::StoreFault::Action::kFailAfter});
    int outage = faulty.add_fault({.ops = static_cast<uint32_t>(objstore::StoreOp::kPut),
                                   .nth = 2,
                                   .and_after = true,
                                   .code = Errc::kUnavailable});
    std::thread heal([&] {
      while (w.upload_retries() < 10) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      faulty.remove_fault(outage);
    });
    std::vector<WalRecord> recs;
    for (int i = 0; i < 10; ++i) recs.push_back(rec(1, i, std::string(100, 'a' + i)));
    r = append_all(w, recs);
    heal.join();
    for (auto& x : r) ASSERT_TRUE(x.ok()) << x.error().to_string();
    EXPECT_GE(w.upload_retries(), 10u);
  }
  ObjectWal w2(env.store, *env.meta, env.opts(2));
  auto seen = replay(w2);
  ASSERT_EQ(seen.size(), 10u);  // each exactly once, in order
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(seen[i].first, *r[i]);
    EXPECT_EQ(seen[i].second, fmt::format("1:{}:{}", i, std::string(100, 'a' + i)));
  }
}

// A metadata outage during the index commit (the etcd member in use was killed: the client does
// not repeat conditional txns) delays the acks; it used to fail that commit and, the failure
// being sticky, every later append of the broker, for good.
TEST(ObjectWal, MetadataOutageDuringCommitDelaysAcksAndBreaksNothing) {
  Env env;
  meta::FaultyMetaStore faulty(*env.meta);
  ObjectWalOptions o = env.opts(1, /*flush_bytes=*/256, /*delay_ms=*/1);
  o.retry_base = std::chrono::milliseconds(1);
  o.retry_cap = std::chrono::milliseconds(5);
  std::vector<Result<WalPos>> r;
  {
    ObjectWal w(env.store, faulty, o);
    replay(w);
    ASSERT_TRUE(w.start().ok());
    // The first commit lands but reports a timeout; the next three fail before reaching etcd.
    int outage = land_then_fail_txns(faulty);
    std::thread heal([&] {
      for (int i = 0; i < 5000 && w.commit_retries() < 4; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      faulty.remove_fault(outage);
    });
    std::vector<WalRecord> recs;
    for (int i = 0; i < 10; ++i) recs.push_back(rec(1, i, std::string(100, 'a' + i)));
    r = append_all(w, recs);
    heal.join();
    for (auto& x : r) ASSERT_TRUE(x.ok()) << x.error().to_string();
    EXPECT_GE(w.commit_retries(), 4u);
    // Still healthy afterwards.
    ASSERT_TRUE(append_all(w, {rec(1, 10, "after")})[0].ok());
  }
  ObjectWal w2(env.store, *env.meta, env.opts(2));
  auto seen = replay(w2);
  ASSERT_EQ(seen.size(), 11u);  // each exactly once, in order
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(seen[i].first, *r[i]);
    EXPECT_EQ(seen[i].second, fmt::format("1:{}:{}", i, std::string(100, 'a' + i)));
  }
}

TEST(ObjectWal, AFencedRepeatOfALandedCommitKeepsTheObjectItsIndexNames) {
  Env env;
  meta::FaultyMetaStore faulty(*env.meta);
  ObjectWalOptions o = env.opts(1, /*flush_bytes=*/256, /*delay_ms=*/1);
  o.retry_base = std::chrono::milliseconds(1);
  o.retry_cap = std::chrono::milliseconds(5);
  {
    ObjectWal w(env.store, faulty, o);
    replay(w);
    ASSERT_TRUE(w.start().ok());
    // The commit lands but reports a timeout (a network cut); the repeats fail until another
    // broker has taken the WAL over (epoch 2), so the next repeat is fenced.
    int outage = land_then_fail_txns(faulty);
    std::promise<Result<WalPos>> p;
    auto f = p.get_future();
    w.append(rec(1, 0, "landed"), [&p](Result<WalPos> r) { p.set_value(std::move(r)); });
    for (int i = 0; i < 5000 && w.commit_retries() < 2; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_GE(w.commit_retries(), 2u);
    {
      ObjectWal taker(env.store, *env.meta, env.opts(2));
      auto seen = replay(taker);
      ASSERT_EQ(seen.size(), 1u);  // the landed commit is visible to the takeover
    }
    faulty.remove_fault(outage);
    auto r = f.get();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::kFenced);
  }
  // The index still names the object (nobody trimmed it): it must still exist.
  ObjectWal w3(env.store, *env.meta, env.opts(3));
  Status st;
  auto seen = replay(w3, &st);
  ASSERT_TRUE(st.ok()) << st.to_string();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].second, "1:0:landed");
}

TEST(ObjectWal, NextEpochClaimsStoredPlusOne) {
  Env env;
  ObjectWalOptions o = env.opts(0);
  o.next_epoch = true;
  for (int64_t want = 1; want <= 3; ++want) {
    ObjectWal w(env.store, *env.meta, o);
    replay(w);
    EXPECT_EQ(w.epoch().value(), want);
    ASSERT_TRUE(w.start().ok());
    ASSERT_TRUE(append_all(w, {rec(1, want, "x")})[0].ok());
  }
  ObjectWal w(env.store, *env.meta, o);
  EXPECT_EQ(replay(w).size(), 3u);  // every incarnation's records, none fenced away
}

TEST(ObjectWal, TrimDeletesWholeObjectsAndHidesTrimmedRecords) {
  Env env;
  std::vector<Result<WalPos>> r;
  {
    ObjectWal w(env.store, *env.meta, env.opts(1, /*flush_bytes=*/200));
    replay(w);
    ASSERT_TRUE(w.start().ok());
    r = append_all(w, {rec(1, 0, std::string(100, 'a')), rec(1, 1, std::string(100, 'b')),
                       rec(1, 2, std::string(100, 'c'))});
    for (auto& x : r) ASSERT_TRUE(x.ok());
    ASSERT_EQ(env.objects(), 3u);
    ASSERT_TRUE(w.trim(*r[1]).ok());  // releases record 0 (its object ends at r[1])
    EXPECT_EQ(env.objects(), 2u);
  }
  ObjectWal w2(env.store, *env.meta, env.opts(2));
  auto seen = replay(w2);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].first, *r[1]);
  EXPECT_EQ(seen[1].first, *r[2]);
}

// Lost answers (README): a trim whose txn applied but answered an error deletes no object (the
// next trim, or the next recovery's sweep, does); an epoch claim whose answer was lost fails
// recover(), and the retry claims the next epoch: one epoch skipped, never one owned twice.
TEST(ObjectWal, TrimWhoseAnswerWasLostDeletesOnTheNextTrim) {
  Env env;
  meta::FaultyMetaStore faulty(*env.meta);
  std::vector<Result<WalPos>> r;
  {
    ObjectWal w(env.store, faulty, env.opts(1, /*flush_bytes=*/200));
    replay(w);
    ASSERT_TRUE(w.start().ok());
    r = append_all(w, {rec(1, 0, std::string(100, 'a')), rec(1, 1, std::string(100, 'b')),
                       rec(1, 2, std::string(100, 'c'))});
    for (auto& x : r) ASSERT_TRUE(x.ok());
    faulty.add_fault({.ops = static_cast<uint32_t>(meta::MetaOp::kTxn),
                      .nth = 1,
                      .action = meta::MetaFault::Action::kFailAfter});
    EXPECT_FALSE(w.trim(*r[1]).ok());
    EXPECT_EQ(env.objects(), 3u);  // unknown outcome: nothing deleted
    ASSERT_TRUE(w.trim(*r[1]).ok());
    EXPECT_EQ(env.objects(), 2u);
  }
  ObjectWal w2(env.store, *env.meta, env.opts(2));
  auto seen = replay(w2);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].first, *r[1]);
}

TEST(ObjectWal, EpochClaimWhoseAnswerWasLostIsRetriedAtTheNextEpoch) {
  Env env;
  meta::FaultyMetaStore faulty(*env.meta);
  ObjectWalOptions o = env.opts(0);
  o.next_epoch = true;
  {
    ObjectWal w(env.store, faulty, o);
    replay(w);
    ASSERT_TRUE(w.start().ok());
    ASSERT_TRUE(append_all(w, {rec(1, 0, "x")})[0].ok());
  }
  faulty.add_fault({.ops = static_cast<uint32_t>(meta::MetaOp::kTxn),
                    .nth = 1,
                    .action = meta::MetaFault::Action::kFailAfter});
  {
    ObjectWal lost(env.store, faulty, o);
    Status st;
    replay(lost, &st);
    EXPECT_FALSE(st.ok());  // epoch 2 was claimed, but the claimer cannot know
  }
  ObjectWal w(env.store, faulty, o);
  auto seen = replay(w);
  EXPECT_EQ(w.epoch().value(), 3);
  ASSERT_EQ(seen.size(), 1u);
  ASSERT_TRUE(w.start().ok());
  ASSERT_TRUE(append_all(w, {rec(1, 1, "y")})[0].ok());
}

TEST(ObjectWal, TrimOfMoreEntriesThanOneTxnMayDeleteGoesInChunks) {
  Env env;
  const size_t n = 2 * kMaxTrimDeletesPerTxn + 17;
  std::vector<Result<WalPos>> r;
  {
    ObjectWal w(env.store, *env.meta, env.opts(1, /*flush_bytes=*/50, /*delay_ms=*/0));
    replay(w);
    ASSERT_TRUE(w.start().ok());
    for (size_t i = 0; i < n; ++i) {  // one object per record
      auto one = append_all(w, {rec(1, static_cast<int64_t>(i), std::string(100, 'x'))});
      ASSERT_TRUE(one[0].ok());
      r.push_back(one[0]);
    }
    auto last = append_all(w, {rec(1, static_cast<int64_t>(n), "tail")});
    ASSERT_TRUE(last[0].ok());
    ASSERT_EQ(env.objects(), n + 1);
    ASSERT_TRUE(w.trim(*last[0]).ok());  // everything before the tail record
    EXPECT_EQ(env.objects(), 1u);
  }
  ObjectWal w2(env.store, *env.meta, env.opts(2));
  auto seen = replay(w2);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].second, fmt::format("1:{}:tail", n));
}

TEST(ObjectWal, BoundedInflightUploadsApplyBackPressure) {
  Env env;
  objstore::FaultyObjectStore slow(env.store);
  slow.set_latency(static_cast<uint32_t>(objstore::StoreOp::kPut), std::chrono::milliseconds(20));
  ObjectWalOptions o = env.opts(1, /*flush_bytes=*/128, /*delay_ms=*/1);
  o.max_inflight_uploads = 2;
  ObjectWal w(slow, *env.meta, o);
  replay(w);
  ASSERT_TRUE(w.start().ok());
  std::vector<WalRecord> recs;
  for (int i = 0; i < 20; ++i) recs.push_back(rec(1, i, std::string(100, 'z')));
  std::atomic<uint64_t> max_waiting{0};
  std::vector<std::promise<void>> done(recs.size());
  for (size_t i = 0; i < recs.size(); ++i) {
    w.append(recs[i], [&, i](Result<WalPos> r) {
      EXPECT_TRUE(r.ok());
      done[i].set_value();
    });
    max_waiting = std::max<uint64_t>(max_waiting, w.stats().waiting_appends);
  }
  for (auto& d : done) d.get_future().wait();
  EXPECT_GT(max_waiting.load(), 5u);  // held back while 2 uploads were in flight
  EXPECT_EQ(w.stats().acked_appends, 20u);
  EXPECT_EQ(env.objects(), 20u);
}

// A slow PUT holds back the acks after it (they go out in order), not the PUTs after it: with
// 2 uploads, three more objects are stored while the first PUT hangs (up to 4 objects await
// their ack), and every ack still comes in append order.
TEST(ObjectWal, SlowPutDoesNotIdleTheOtherUploads) {
  Env env;
  objstore::FaultyObjectStore store(env.store);
  std::atomic<int> puts_done{0};
  std::atomic<int> done_while_held{-1};
  std::atomic<bool> first{true};
  store.set_crash_point("put:before", [&](const std::string&, const std::string&) {
    if (!first.exchange(false)) return;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (puts_done.load() < 3 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    done_while_held = puts_done.load();
  });
  store.set_crash_point("put:after", [&](const std::string&, const std::string&) { ++puts_done; });
  ObjectWalOptions o = env.opts(1, /*flush_bytes=*/128, /*delay_ms=*/1);
  o.max_inflight_uploads = 2;
  ObjectWal w(store, *env.meta, o);
  replay(w);
  ASSERT_TRUE(w.start().ok());
  std::vector<WalRecord> recs;
  for (int i = 0; i < 8; ++i) recs.push_back(rec(1, i, std::string(100, 'q')));
  std::mutex mu;
  std::vector<WalPos> acked;
  std::vector<std::promise<void>> done(recs.size());
  for (size_t i = 0; i < recs.size(); ++i) {
    w.append(recs[i], [&, i](Result<WalPos> r) {
      EXPECT_TRUE(r.ok());
      if (r.ok()) {
        std::lock_guard lk(mu);
        acked.push_back(*r);
      }
      done[i].set_value();
    });
  }
  for (auto& d : done) d.get_future().wait();
  EXPECT_GE(done_while_held.load(), 3);
  ASSERT_EQ(acked.size(), recs.size());
  EXPECT_TRUE(std::is_sorted(acked.begin(), acked.end()));
  w.stop();
}

TEST(ObjectWal, StopFailsNothingAcknowledgedAndAppendAfterStopIsClosed) {
  Env env;
  ObjectWal w(env.store, *env.meta, env.opts(1, 1 << 20, /*delay_ms=*/10000));
  replay(w);
  ASSERT_TRUE(w.start().ok());
  std::promise<Result<WalPos>> p;
  w.append(rec(1, 0, "flushed by stop"), [&](Result<WalPos> r) { p.set_value(std::move(r)); });
  w.stop();  // flushes what is pending
  EXPECT_TRUE(p.get_future().get().ok());
  EXPECT_EQ(append_all(w, {rec(1, 1, "late")})[0].code(), Errc::kClosed);
  ObjectWal not_recovered(env.store, *env.meta, env.opts(2));
  EXPECT_EQ(not_recovered.start().code(), Errc::kInvalidArgument);
}

}  // namespace
}  // namespace shale::wal
