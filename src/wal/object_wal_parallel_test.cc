// ObjectWal in parallel commit order (PUT and index commit at once): every interleaving of the
// two halves, a takeover and a crash that matters (README.md, "Parallel PUT and index commit").
// A "takeover" is a second ObjectWal at a higher epoch recovering the same node's WAL while the
// first one's PUT is held at a crash point of the FaultyObjectStore (in flight, not landed; or
// landed, reply not yet seen).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "wal/object_wal_test_util.h"

namespace shale::wal {
namespace {

using namespace std::chrono_literals;

// Holds the PUTs whose key contains `match` at a crash point ("put:before": not landed;
// "put:after": landed, reply not seen) until open().
class PutGate {
 public:
  PutGate(objstore::FaultyObjectStore& s, const std::string& point, std::string match) {
    s.set_crash_point(point, [this, match](const std::string&, const std::string& key) {
      if (key.find(match) == std::string::npos) return;
      std::unique_lock lk(mu_);
      ++held_;
      cv_.notify_all();
      cv_.wait(lk, [&] { return open_; });
    });
  }
  ~PutGate() { open(); }
  void wait_held() {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return held_ > 0; });
  }
  void open() {
    std::lock_guard lk(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int held_ = 0;
  bool open_ = false;
};

struct Pending {
  std::promise<Result<WalPos>> p;
  std::future<Result<WalPos>> f = p.get_future();
  WalAppendCallback cb() {
    return [this](Result<WalPos> r) { p.set_value(std::move(r)); };
  }
  bool ready() { return f.wait_for(0ms) == std::future_status::ready; }
};

bool has_index(Env& env, uint64_t start) {
  auto r = env.meta->get(fmt::format("/shale/wal/{:010}/idx/{:020}", 3, start));
  return r.ok() && !r->kvs.empty();
}

void wait_index(Env& env, uint64_t start) {
  for (int i = 0; i < 5000 && !has_index(env, start); ++i) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(has_index(env, start));
}

ObjectWalOptions parallel(Env& env, int64_t epoch) {
  ObjectWalOptions o =
      env.opts(epoch, /*flush_bytes=*/1 << 20, /*delay_ms=*/0, CommitOrder::kParallel);
  o.retry_base = 1ms;
  o.retry_cap = 5ms;
  return o;
}

const std::string kFirstKey = "wal/0000000003/00000000000000000001/00000000000000000000";

// A recovered and started writer.
std::unique_ptr<ObjectWal> started(objstore::ObjectStore& s, meta::MetaStore& m,
                                   ObjectWalOptions o) {
  auto w = std::make_unique<ObjectWal>(s, m, std::move(o));
  replay(*w);
  EXPECT_TRUE(w->start().ok());
  return w;
}

// Appends r and returns once its PUT is held by the gate and its index entry (at `start`) has
// landed: the state a takeover meets when the writer dies or stalls right now.
void append_held(Env& env, ObjectWal& w, PutGate& gate, Pending& p, WalRecord r,
                 uint64_t start = 0) {
  w.append(std::move(r), p.cb());
  gate.wait_held();
  wait_index(env, start);
}

TEST(ObjectWalParallel, AckWaitsForBothThePutAndTheCommit) {
  Env env;
  objstore::FaultyObjectStore faulty(env.store);
  ObjectWal w(faulty, *env.meta, parallel(env, 1));
  ASSERT_TRUE(w.parallel_commit());
  replay(w);
  ASSERT_TRUE(w.start().ok());
  PutGate gate(faulty, "put:before", kFirstKey);
  Pending a;
  w.append(rec(1, 0, "a"), a.cb());
  gate.wait_held();
  wait_index(env, 0);  // the commit landed while the PUT is held: issued in parallel
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(a.ready());  // ... but no ack without the object
  gate.open();
  ASSERT_TRUE(a.f.get().ok());

  // The other way round: the object is stored, the commit is slow.
  Env env2;
  meta::FaultyMetaStore slow(*env2.meta);
  ObjectWal w2(env2.store, slow, parallel(env2, 1));
  replay(w2);
  ASSERT_TRUE(w2.start().ok());
  slow.set_latency(static_cast<uint32_t>(meta::MetaOp::kTxn), 100ms);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(append_all(w2, {rec(1, 0, "b")})[0].ok());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 100ms);
}

// The commit lands, the PUT fails for good (nothing stored): no ack, nothing after it is acked;
// the next recovery tombstones the key, drops the entry, and the WAL goes on at a new epoch.
TEST(ObjectWalParallel, PutFailsAfterTheCommitLanded) {
  Env env;
  objstore::FaultyObjectStore faulty(env.store);
  {
    ObjectWal w(faulty, *env.meta, parallel(env, 1));
    replay(w);
    ASSERT_TRUE(w.start().ok());
    ASSERT_TRUE(append_all(w, {rec(1, 0, "kept")})[0].ok());
    faulty.add_fault(
        {.ops = static_cast<uint32_t>(objstore::StoreOp::kPut), .nth = 1, .code = Errc::kInternal});
    auto r = append_all(w, {rec(1, 1, "lost")});
    ASSERT_FALSE(r[0].ok());
    EXPECT_EQ(r[0].error().code, Errc::kInternal);
    EXPECT_FALSE(append_all(w, {rec(1, 2, "after")})[0].ok());  // sticky
  }
  ObjectWal w2(env.store, *env.meta, parallel(env, 2));
  auto seen = replay(w2);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].second, "1:0:kept");
  EXPECT_EQ(w2.dropped_entries(), 1u);
  ASSERT_TRUE(w2.start().ok());
  ASSERT_TRUE(append_all(w2, {rec(1, 1, "new")})[0].ok());
  w2.stop();
  ObjectWal w3(env.store, *env.meta, parallel(env, 3));
  seen = replay(w3);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].second, "1:1:new");
  EXPECT_EQ(w3.dropped_entries(), 0u);
}

// The PUT lands, the commit fails for good: no ack; the object is unreferenced and swept.
TEST(ObjectWalParallel, CommitFailsAfterThePutLanded) {
  Env env;
  meta::FaultyMetaStore faulty(*env.meta);
  {
    ObjectWal w(env.store, faulty, parallel(env, 1));
    replay(w);
    ASSERT_TRUE(w.start().ok());
    ASSERT_TRUE(append_all(w, {rec(1, 0, "kept")})[0].ok());
    faulty.add_fault(
        {.ops = static_cast<uint32_t>(meta::MetaOp::kTxn), .nth = 1, .code = Errc::kInternal});
    auto r = append_all(w, {rec(1, 1, "lost")});
    ASSERT_FALSE(r[0].ok());
    EXPECT_EQ(env.objects(), 2u);  // landed, unreferenced
    EXPECT_FALSE(append_all(w, {rec(1, 2, "after")})[0].ok());
  }
  ObjectWal w2(env.store, *env.meta, parallel(env, 2));
  auto seen = replay(w2);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].second, "1:0:kept");
  EXPECT_EQ(env.objects(), 1u);
  EXPECT_EQ(w2.dropped_entries(), 0u);
}

// A stale writer's commit is fenced (definitively not landed) while its PUT is still in
// flight: once the PUT returns, the object is deleted (nothing can reference it).
TEST(ObjectWalParallel, FencedCommitDeletesItsObjectAfterThePutReturns) {
  Env env;
  objstore::FaultyObjectStore faulty(env.store);
  auto wp = started(faulty, *env.meta, parallel(env, 1));
  ObjectWal& w = *wp;
  ObjectWal newer(env.store, *env.meta, parallel(env, 2));
  replay(newer);
  PutGate gate(faulty, "put:before", kFirstKey);
  Pending a;
  w.append(rec(1, 0, "stale"), a.cb());
  gate.wait_held();
  std::this_thread::sleep_for(20ms);  // the commit is fenced meanwhile
  EXPECT_FALSE(a.ready());
  gate.open();
  auto r = a.f.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kFenced);
  w.stop();
  EXPECT_EQ(env.objects(), 0u);
  EXPECT_FALSE(has_index(env, 0));
}

// Takeover while the PUT is in flight and has not landed: the tombstone wins, the entry is
// dropped; the PUT then meets the tombstone (412) and its writer is fenced: never acked.
TEST(ObjectWalParallel, TakeoverBeforeThePutLandsDropsTheEntry) {
  Env env;
  objstore::FaultyObjectStore faulty(env.store);
  auto wp = started(faulty, *env.meta, parallel(env, 1));
  ObjectWal& w = *wp;
  PutGate gate(faulty, "put:before", kFirstKey);
  Pending a;
  append_held(env, w, gate, a, rec(1, 0, "in flight"));
  {
    ObjectWal taker(env.store, *env.meta, parallel(env, 2));
    EXPECT_TRUE(replay(taker).empty());
    EXPECT_EQ(taker.dropped_entries(), 1u);
    EXPECT_FALSE(has_index(env, 0));
    auto t = env.store.get(kFirstKey);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->data.size(), kTombstoneSize);
  }
  gate.open();
  auto r = a.f.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kFenced);
  w.stop();
  // The tombstone stays (younger than tombstone_keep); nothing is replayed later either.
  ObjectWal again(env.store, *env.meta, parallel(env, 3));
  EXPECT_TRUE(replay(again).empty());
  EXPECT_EQ(env.objects(), 1u);
  EXPECT_EQ(again.tombstones_deleted(), 0u);
}

// Takeover after the PUT landed but before its writer saw the reply: the tombstone loses, the
// object is replayed by the takeover, and the writer's ack (which follows) is consistent.
TEST(ObjectWalParallel, TakeoverAfterThePutLandedUsesTheObject) {
  Env env;
  objstore::FaultyObjectStore faulty(env.store);
  auto wp = started(faulty, *env.meta, parallel(env, 1));
  ObjectWal& w = *wp;
  PutGate gate(faulty, "put:after", kFirstKey);
  Pending a;
  append_held(env, w, gate, a, rec(1, 0, "landed"));
  {
    ObjectWal taker(env.store, *env.meta, parallel(env, 2));
    auto seen = replay(taker);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].second, "1:0:landed");
    EXPECT_EQ(taker.dropped_entries(), 0u);
  }
  gate.open();
  ASSERT_TRUE(a.f.get().ok());  // acked, and the takeover has it
  w.stop();
  ObjectWal again(env.store, *env.meta, parallel(env, 3));
  ASSERT_EQ(replay(again).size(), 1u);
}

// Two objects in flight; the first one's PUT never lands, the second one's does and both
// commits landed. Nothing at or after the hole was acked, so recovery drops both entries
// (replaying the second alone would leave a hole before it) and sweeps the second object.
TEST(ObjectWalParallel, EntriesAfterAnObjectThatNeverLandedAreDroppedToo) {
  Env env;
  env.format1 = true;  // positions from format 1 sizes
  objstore::FaultyObjectStore faulty(env.store);
  ObjectWalOptions o = parallel(env, 1);
  o.flush_bytes = 100;  // one record per object
  auto wp = started(faulty, *env.meta, o);
  ObjectWal& w = *wp;
  PutGate gate(faulty, "put:before", kFirstKey);
  Pending a, b;
  w.append(rec(1, 0, std::string(60, 'a')), a.cb());
  gate.wait_held();
  w.append(rec(1, 1, std::string(60, 'b')), b.cb());
  const uint64_t second = kObjHeaderSize + kObjRecordHeaderSize + 60;
  wait_index(env, second);
  for (int i = 0; i < 5000 && env.objects() < 1; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_FALSE(b.ready());  // acks stay in append order
  {
    ObjectWal taker(env.store, *env.meta, parallel(env, 2));
    EXPECT_TRUE(replay(taker).empty());
    EXPECT_EQ(taker.dropped_entries(), 2u);
    EXPECT_FALSE(has_index(env, 0));
    EXPECT_FALSE(has_index(env, second));
    EXPECT_EQ(env.objects(), 1u);  // only the tombstone
  }
  gate.open();
  EXPECT_FALSE(a.f.get().ok());
  EXPECT_FALSE(b.f.get().ok());
}

// The takeover's drop txn applies but its answer is lost (recover() fails after the entries are
// gone); the next takeover finds no entries, starts again at the trim point (positions below
// the dropped entries' end are reused, under its own epoch's object keys) and works.
TEST(ObjectWalParallel, DropWhoseAnswerWasLostIsHarmless) {
  Env env;
  objstore::FaultyObjectStore faulty(env.store);
  auto wp = started(faulty, *env.meta, parallel(env, 1));
  PutGate gate(faulty, "put:before", kFirstKey);
  Pending a;
  append_held(env, *wp, gate, a, rec(1, 0, "never landed"));
  meta::FaultyMetaStore fmeta(*env.meta);
  fmeta.add_fault({.ops = static_cast<uint32_t>(meta::MetaOp::kTxn),
                   .nth = 2,  // 1: the epoch claim, 2: the drop
                   .action = meta::MetaFault::Action::kFailAfter});
  {
    ObjectWal lost(env.store, fmeta, parallel(env, 2));
    Status st;
    EXPECT_TRUE(replay(lost, &st).empty());
    EXPECT_FALSE(st.ok());
    EXPECT_FALSE(has_index(env, 0));  // it applied
  }
  gate.open();
  EXPECT_FALSE(a.f.get().ok());  // the tombstone won: never acknowledged
  {
    auto w3 = started(env.store, *env.meta, parallel(env, 3));
    auto r = append_all(*w3, {rec(1, 0, "after")});
    ASSERT_TRUE(r[0].ok()) << r[0].error().to_string();
  }
  ObjectWal w4(env.store, *env.meta, parallel(env, 4));
  auto seen = replay(w4);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].second, "1:0:after");
}

// A writer dies (never to return) with its PUT never issued: the takeover drops the entry;
// a crash of the takeover after tombstoning but before dropping is finished by the next one.
TEST(ObjectWalParallel, CrashBetweenCommitAndPutThenRecoveryCrashAfterTombstone) {
  Env env;
  env.format1 = true;  // positions from format 1 sizes
  objstore::FaultyObjectStore faulty(env.store);
  auto w = std::make_unique<ObjectWal>(faulty, *env.meta, parallel(env, 1));
  replay(*w);
  ASSERT_TRUE(w->start().ok());
  ASSERT_TRUE(append_all(*w, {rec(1, 0, "kept")})[0].ok());
  const uint64_t second = kObjHeaderSize + kObjRecordHeaderSize + 4;
  const std::string key2 = w->object_key(Epoch(1), second);
  PutGate gate(faulty, "put:before", key2);
  Pending a;
  w->append(rec(1, 1, "dead"), a.cb());
  gate.wait_held();
  wait_index(env, second);
  // The first takeover places the tombstone, then "crashes" before dropping the entry.
  meta::FaultyMetaStore flaky(*env.meta);
  {
    ObjectWal taker(env.store, flaky, parallel(env, 2));
    flaky.add_fault({.ops = static_cast<uint32_t>(meta::MetaOp::kTxn), .nth = 2});  // drop txn
    Status st;
    replay(taker, &st);
    EXPECT_FALSE(st.ok());
    EXPECT_TRUE(has_index(env, second));
  }
  ObjectWal taker2(env.store, *env.meta, parallel(env, 3));
  auto seen = replay(taker2);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].second, "1:0:kept");
  EXPECT_EQ(taker2.dropped_entries(), 1u);  // found the tombstone, dropped the entry
  EXPECT_FALSE(has_index(env, second));
  gate.open();  // the dead writer's PUT finally arrives: it meets the tombstone
  EXPECT_EQ(a.f.get().error().code, Errc::kFenced);
}

// Tombstones are deleted by the sweep once older than tombstone_keep. A PUT that returns later
// than put_ack_deadline is acknowledged only if the epoch is still ours: here the tombstone
// was already deleted, the late PUT lands on a free key, and the writer must not ack.
TEST(ObjectWalParallel, LatePutAfterTheTombstoneWasDeletedIsNotAcked) {
  Env env;
  objstore::FaultyObjectStore faulty(env.store);
  std::atomic<int64_t> now_ms{1'000'000};
  ObjectWalOptions o = parallel(env, 1);
  o.put_ack_deadline = 10ms;
  o.tombstone_keep = 100ms;
  o.wall_ms = [&] { return now_ms.load(); };
  auto wp = started(faulty, *env.meta, o);
  ObjectWal& w = *wp;
  PutGate gate(faulty, "put:before", kFirstKey);
  Pending a;
  append_held(env, w, gate, a, rec(1, 0, "late"));
  auto taker_opts = [&](int64_t epoch) {
    ObjectWalOptions t = o;
    t.epoch = Epoch(epoch);
    return t;
  };
  {
    ObjectWal taker(env.store, *env.meta, taker_opts(2));
    EXPECT_TRUE(replay(taker).empty());
    EXPECT_EQ(taker.dropped_entries(), 1u);
  }
  {
    now_ms += 50;  // younger than tombstone_keep: kept
    ObjectWal t(env.store, *env.meta, taker_opts(3));
    replay(t);
    EXPECT_EQ(t.tombstones_deleted(), 0u);
    now_ms += 100;  // older: deleted
    ObjectWal t2(env.store, *env.meta, taker_opts(4));
    replay(t2);
    EXPECT_EQ(t2.tombstones_deleted(), 1u);
    EXPECT_EQ(env.objects(), 0u);
  }
  std::this_thread::sleep_for(20ms);  // past put_ack_deadline
  gate.open();
  auto r = a.f.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kFenced);
  w.stop();
}

// Without that read a late PUT is still acked when nobody else has claimed the WAL.
TEST(ObjectWalParallel, LatePutIsAckedWhileTheEpochIsOurs) {
  Env env;
  objstore::FaultyObjectStore faulty(env.store);
  ObjectWalOptions o = parallel(env, 1);
  o.put_ack_deadline = 5ms;
  auto wp = started(faulty, *env.meta, o);
  ObjectWal& w = *wp;
  faulty.set_latency(static_cast<uint32_t>(objstore::StoreOp::kPut), 20ms);
  ASSERT_TRUE(append_all(w, {rec(1, 0, "slow")})[0].ok());
}

TEST(ObjectWalParallel, OrderResolvesFromTheOptionAndTheStore) {
  Env env;
  EXPECT_TRUE(ObjectWal(env.store, *env.meta, env.opts(1)).parallel_commit());  // auto
  EXPECT_FALSE(ObjectWal(env.store, *env.meta, env.opts(1, 1 << 20, 5, CommitOrder::kSequential))
                   .parallel_commit());
}

}  // namespace
}  // namespace shale::wal
