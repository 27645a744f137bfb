// MetaStore conformance: the semantics of src/meta/kv_semantics_test.cc and
// watch_lease_test.cc, restated per-prefix and with relative revisions (see the header).
#include "etcd/conformance_suite.h"

#include <unistd.h>

#include <atomic>
#include <thread>

#include "etcd/lease_keeper.h"
#include "meta/test_util.h"
#include "meta/txn_rules.h"

namespace shale::etcd {

using meta::Compare;
using meta::DeleteOp;
using meta::GetOp;
using meta::prefix_end;
using meta::PutOp;
using meta::Txn;
using meta::WatchEvent;
using std::chrono::milliseconds;
using std::chrono::seconds;

void MetaConformance::SetUp() {
  store_ = GetParam().make();
  ASSERT_NE(store_, nullptr);
  static std::atomic<int> seq{0};
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  prefix_ =
      fmt::format("conf/{}/{}/{}/{}/", ::getpid(),
                  std::chrono::steady_clock::now().time_since_epoch().count(), seq++, info->name());
}

int64_t MetaConformance::rev() {
  auto r = s().get(k("__rev_probe__"));
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? r->revision.value() : -1;
}

std::vector<std::string> MetaConformance::keys(const std::string& key, const std::string& end,
                                               int64_t limit) {
  std::vector<std::string> out;
  auto r = s().get(key, end, limit);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  if (r.ok()) {
    for (const auto& kv : r->kvs) out.push_back(kv.key.substr(prefix_.size()));
  }
  return out;
}

std::string factory_name(const ::testing::TestParamInfo<StoreFactory>& info) {
  return info.param.name;
}

namespace {

template <typename Pred>
bool eventually(Pred p, milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (p()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return p();
}

}  // namespace

TEST_P(MetaConformance, RevisionsAreGlobalAndVersionsPerKey) {
  const int64_t r0 = rev();
  EXPECT_EQ(*s().put(k("a"), "1"), Revision(r0 + 1));
  EXPECT_EQ(*s().put(k("b"), "1"), Revision(r0 + 2));
  EXPECT_EQ(*s().put(k("a"), "2"), Revision(r0 + 3));
  auto r = s().get(k("a"));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->kvs.size(), 1u);
  const meta::KeyValue& kv = r->kvs[0];
  EXPECT_EQ(kv.key, k("a"));
  EXPECT_EQ(kv.value, "2");
  EXPECT_EQ(kv.create_revision, Revision(r0 + 1));
  EXPECT_EQ(kv.mod_revision, Revision(r0 + 3));
  EXPECT_EQ(kv.version, 2);
  EXPECT_EQ(kv.lease, LeaseId(0));
  EXPECT_EQ(r->revision, Revision(r0 + 3));
  EXPECT_TRUE(s().get(k("missing"))->kvs.empty());
}

TEST_P(MetaConformance, BinaryKeysAndValues) {
  const std::string key = k(std::string("b\0\xff\x80\n\"", 6));
  const std::string value("\0\x01\xfe{\"x\"}\n", 9);
  ASSERT_TRUE(s().put(key, value).ok());
  auto r = s().get(key);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->kvs.size(), 1u);
  EXPECT_EQ(r->kvs[0].key, key);
  EXPECT_EQ(r->kvs[0].value, value);
  ASSERT_TRUE(s().put(k("empty"), "").ok());
  EXPECT_EQ(s().get(k("empty"))->kvs.at(0).value, "");
}

TEST_P(MetaConformance, VersionResetsAfterDelete) {
  ASSERT_TRUE(s().put(k("k"), "1").ok());
  ASSERT_TRUE(s().put(k("k"), "2").ok());
  const int64_t r0 = rev();
  EXPECT_EQ(*s().del(k("k")), 1);
  EXPECT_EQ(rev(), r0 + 1);
  EXPECT_TRUE(s().get(k("k"))->kvs.empty());
  EXPECT_EQ(*s().put(k("k"), "3"), Revision(r0 + 2));
  auto kv = s().get(k("k"))->kvs.at(0);
  EXPECT_EQ(kv.version, 1);
  EXPECT_EQ(kv.create_revision, Revision(r0 + 2));
  // Deleting nothing does not advance the revision.
  EXPECT_EQ(*s().del(k("nope")), 0);
  EXPECT_EQ(rev(), r0 + 2);
}

TEST_P(MetaConformance, Ranges) {
  for (const std::string& x :
       std::vector<std::string>{"a", "a/1", "a/2", "a0", "b", std::string("\xff\x01", 2)}) {
    ASSERT_TRUE(s().put(k(x), "v").ok());
  }
  EXPECT_EQ(keys(k("a/"), prefix_end(k("a/"))), (std::vector<std::string>{"a/1", "a/2"}));
  EXPECT_EQ(keys(k("a"), k("b")), (std::vector<std::string>{"a", "a/1", "a/2", "a0"}));
  EXPECT_EQ(keys(k(""), prefix_end(k(""))).size(), 6u);
  // "\0" = every key >= key (other tests' keys may follow ours: bound with a limit).
  EXPECT_EQ(keys(k("a0"), std::string(1, '\0'), 3),
            (std::vector<std::string>{"a0", "b", std::string("\xff\x01", 2)}));
  auto all = s().get("", std::string(1, '\0'), 1);  // the whole key space, from ""
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  EXPECT_EQ(all->kvs.size(), 1u);
  EXPECT_TRUE(all->more);
  auto lim = s().get(k("a"), k("b"), 2);
  ASSERT_TRUE(lim.ok());
  EXPECT_EQ(lim->kvs.size(), 2u);
  EXPECT_TRUE(lim->more);
  EXPECT_FALSE(s().get(k("a"), k("b"), 4)->more);
  EXPECT_EQ(s().get("").code(), Errc::kInvalidArgument);
}

TEST_P(MetaConformance, DeleteRangeIsOneRevision) {
  for (std::string x : {"p/1", "p/2", "p/3", "q"}) ASSERT_TRUE(s().put(k(x), "v").ok());
  const int64_t before = rev();
  EXPECT_EQ(*s().del(k("p/"), prefix_end(k("p/"))), 3);
  EXPECT_EQ(rev(), before + 1);
  EXPECT_EQ(keys(k(""), prefix_end(k(""))), (std::vector<std::string>{"q"}));
}

TEST_P(MetaConformance, FailedTxnRunsFailureOps) {
  const int64_t r0 = rev();
  Txn create;
  create.compares = {Compare::absent(k("leader"))};
  create.success = {PutOp{k("leader"), "n1"}};
  create.failure = {GetOp{k("leader")}};
  auto r1 = s().txn(create);
  ASSERT_TRUE(r1.ok()) << r1.status().to_string();
  EXPECT_TRUE(r1->succeeded);
  EXPECT_EQ(r1->revision, Revision(r0 + 1));
  ASSERT_EQ(r1->responses.size(), 1u);
  EXPECT_TRUE(r1->responses[0].empty());

  create.success = {PutOp{k("leader"), "n2"}};
  auto r2 = s().txn(create);
  ASSERT_TRUE(r2.ok());
  EXPECT_FALSE(r2->succeeded);
  EXPECT_EQ(r2->revision, Revision(r0 + 1));  // read-only outcome: no new revision
  ASSERT_EQ(r2->responses.size(), 1u);
  ASSERT_EQ(r2->responses[0].size(), 1u);
  EXPECT_EQ(r2->responses[0][0].value, "n1");
  EXPECT_EQ(s().get(k("leader"))->kvs.at(0).value, "n1");
}

TEST_P(MetaConformance, CompareTargets) {
  const int64_t r0 = rev();
  ASSERT_TRUE(s().put(k("k"), "b").ok());  // r0+1
  ASSERT_TRUE(s().put(k("k"), "c").ok());  // r0+2, version 2
  auto holds = [&](Compare c) {
    Txn t;
    t.compares = {std::move(c)};
    auto r = s().txn(t);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() && r->succeeded;
  };
  using T = Compare::Target;
  using O = Compare::Op;
  const std::string key = k("k");
  EXPECT_TRUE(holds({key, T::kVersion, O::kEqual, 2, {}}));
  EXPECT_TRUE(holds({key, T::kVersion, O::kGreater, 1, {}}));
  EXPECT_FALSE(holds({key, T::kVersion, O::kLess, 2, {}}));
  EXPECT_TRUE(holds({key, T::kVersion, O::kNotEqual, 3, {}}));
  EXPECT_TRUE(holds({key, T::kCreateRevision, O::kEqual, r0 + 1, {}}));
  EXPECT_TRUE(holds({key, T::kCreateRevision, O::kLess, r0 + 2, {}}));
  EXPECT_TRUE(holds(Compare::mod_rev(key, Revision(r0 + 2))));
  EXPECT_FALSE(holds(Compare::mod_rev(key, Revision(r0 + 1))));
  EXPECT_TRUE(holds({key, T::kModRevision, O::kNotEqual, r0 + 1, {}}));
  EXPECT_TRUE(holds({key, T::kModRevision, O::kGreater, r0 + 1, {}}));
  EXPECT_TRUE(holds(Compare::value_eq(key, "c")));
  EXPECT_FALSE(holds(Compare::value_eq(key, "b")));
  EXPECT_TRUE(holds({key, T::kValue, O::kNotEqual, 0, "b"}));
  EXPECT_TRUE(holds({key, T::kValue, O::kGreater, 0, "b"}));
  EXPECT_TRUE(holds({key, T::kValue, O::kLess, 0, "d"}));
  EXPECT_TRUE(holds(Compare::absent(k("other"))));
  EXPECT_TRUE(holds({k("other"), T::kModRevision, O::kEqual, 0, {}}));
  EXPECT_FALSE(holds(Compare::value_eq(k("other"), "")));  // value compare on a missing key fails
  EXPECT_FALSE(holds(Compare::absent(key)));
  // Several compares: all must hold.
  Txn both;
  both.compares = {Compare::value_eq(key, "c"), Compare::absent(k("other"))};
  EXPECT_TRUE(s().txn(both)->succeeded);
  both.compares.push_back(Compare::absent(key));
  EXPECT_FALSE(s().txn(both)->succeeded);
}

TEST_P(MetaConformance, TxnOpsShareOneRevisionAndSeeEarlierOps) {
  ASSERT_TRUE(s().put(k("y"), "old").ok());
  const int64_t r0 = rev();
  // Each key is written at most once per txn: etcd rejects a txn that writes a key twice
  // (see EtcdTxn.DuplicateKeyWriteIsRejected); the embedded store would accept it.
  Txn t;
  t.success = {PutOp{k("x"), "1"}, PutOp{k("z"), "2"}, GetOp{k("x")}, DeleteOp{k("y")},
               GetOp{k(""), prefix_end(k(""))}};
  auto r = s().txn(t);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->succeeded);
  EXPECT_EQ(r->revision, Revision(r0 + 1));
  ASSERT_EQ(r->responses.size(), 5u);
  EXPECT_TRUE(r->responses[0].empty());
  ASSERT_EQ(r->responses[2].size(), 1u);
  EXPECT_EQ(r->responses[2][0].mod_revision, Revision(r0 + 1));
  ASSERT_EQ(r->responses[4].size(), 2u);  // sees the puts and the delete before it
  EXPECT_EQ(r->responses[4][0].key, k("x"));
  EXPECT_EQ(r->responses[4][1].key, k("z"));
  EXPECT_EQ(s().get(k("x"))->kvs.at(0).mod_revision, Revision(r0 + 1));
  EXPECT_TRUE(s().get(k("y"))->kvs.empty());
  // A txn deleting a prefix and reading "every key from \0" in one go.
  Txn t2;
  t2.success = {DeleteOp{k(""), prefix_end(k(""))}, GetOp{"", std::string(1, '\0')}};
  auto r2 = s().txn(t2);
  ASSERT_TRUE(r2.ok()) << r2.status().to_string();
  EXPECT_EQ(r2->revision, Revision(r0 + 2));
  for (const auto& kv : r2->responses.at(1)) EXPECT_NE(kv.key.rfind(k(""), 0), 0u) << kv.key;
}

TEST_P(MetaConformance, TxnIsAllOrNothing) {
  const int64_t r0 = rev();
  Txn t;
  t.success = {PutOp{k("a"), "1"}, PutOp{k("b"), "2", LeaseId(999)}};
  EXPECT_EQ(s().txn(t).code(), Errc::kNotFound);  // unknown lease
  EXPECT_TRUE(s().get(k("a"))->kvs.empty());
  EXPECT_EQ(rev(), r0);
  EXPECT_EQ(s().put(k("c"), "1", LeaseId(12345)).code(), Errc::kNotFound);
  EXPECT_EQ(s().put("", "1").code(), Errc::kInvalidArgument);
}

// etcd's --max-txn-ops (128) counts each branch on its own; over it, nothing applies and the
// error is the same on both backends (the embedded store enforces it so unit tests catch it).
TEST_P(MetaConformance, TxnOverTheOpLimitIsRefusedWhole) {
  const int64_t r0 = rev();
  auto puts = [&](size_t n) {
    std::vector<meta::Op> ops;
    for (size_t i = 0; i < n; ++i) ops.push_back(PutOp{k(fmt::format("op/{:03}", i)), "v"});
    return ops;
  };
  for (int branch = 0; branch < 3; ++branch) {
    Txn t;
    if (branch == 0) t.success = puts(meta::kMaxTxnOps + 1);
    if (branch == 1) t.failure = puts(meta::kMaxTxnOps + 1);
    for (size_t i = 0; branch == 2 && i <= meta::kMaxTxnOps; ++i) {
      t.compares.push_back(Compare::absent(k(fmt::format("c/{:03}", i))));
    }
    auto r = s().txn(t);
    EXPECT_EQ(r.code(), Errc::kInvalidArgument) << branch;
    EXPECT_NE(r.status().to_string().find(meta::kTooManyTxnOpsMessage), std::string::npos)
        << r.status().to_string();
  }
  EXPECT_EQ(rev(), r0);
  Txn full;
  full.success = puts(meta::kMaxTxnOps);
  full.failure = puts(meta::kMaxTxnOps);
  for (size_t i = 0; i < meta::kMaxTxnOps; ++i) {
    full.compares.push_back(Compare::absent(k(fmt::format("c/{:03}", i))));
  }
  auto r = s().txn(full);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->succeeded);
  EXPECT_EQ(keys(k("op/"), prefix_end(k("op/"))).size(), meta::kMaxTxnOps);
}

TEST_P(MetaConformance, ConcurrentCompareAndSetCounterIsExact) {
  const std::string ctr = k("ctr");
  ASSERT_TRUE(s().put(ctr, "0").ok());
  constexpr int kThreads = 4, kIncrements = 25;
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i) {
    ts.emplace_back([&] {
      for (int n = 0; n < kIncrements;) {
        auto cur = s().get(ctr).value().kvs.at(0);
        Txn t;
        t.compares = {Compare::mod_rev(ctr, cur.mod_revision)};
        t.success = {PutOp{ctr, std::to_string(std::stoi(cur.value) + 1)}};
        if (s().txn(t).value().succeeded) ++n;
      }
    });
  }
  for (auto& t : ts) t.join();
  auto kv = s().get(ctr)->kvs.at(0);
  EXPECT_EQ(kv.value, std::to_string(kThreads * kIncrements));
  EXPECT_EQ(kv.version, kThreads * kIncrements + 1);
}

TEST_P(MetaConformance, LeaseRevokeAndReattach) {
  LeaseId a = s().grant_lease(seconds(30)).value();
  LeaseId b = s().grant_lease(seconds(30)).value();
  EXPECT_NE(a, b);
  ASSERT_TRUE(s().put(k("k"), "v", a).ok());
  EXPECT_EQ(s().get(k("k"))->kvs.at(0).lease, a);
  ASSERT_TRUE(s().put(k("k"), "v2", b).ok());  // moves the key to lease b
  ASSERT_TRUE(s().put(k("k2"), "v", b).ok());
  ASSERT_TRUE(s().keep_alive(b).ok());
  ASSERT_TRUE(s().revoke_lease(a).ok());
  EXPECT_EQ(s().get(k("k"))->kvs.size(), 1u);
  const int64_t r = rev();
  ASSERT_TRUE(s().revoke_lease(b).ok());
  EXPECT_TRUE(s().get(k("k"))->kvs.empty());
  EXPECT_TRUE(s().get(k("k2"))->kvs.empty());
  EXPECT_EQ(rev(), r + 1);  // one revision for all of the lease's keys
  EXPECT_EQ(s().revoke_lease(b).code(), Errc::kNotFound);
  EXPECT_EQ(s().keep_alive(b).code(), Errc::kNotFound);
  EXPECT_EQ(s().put(k("again"), "x", b).code(), Errc::kNotFound);
  EXPECT_EQ(s().grant_lease(seconds(0)).code(), Errc::kInvalidArgument);
}

TEST_P(MetaConformance, LeaseExpiryDeletesKeysAndEmitsDeleteEvents) {
  meta::WatchCollector w;
  ASSERT_TRUE(s().watch(k(""), prefix_end(k("")), Revision(0), w.callback()).ok());
  LeaseId lease = s().grant_lease(seconds(1)).value();
  ASSERT_TRUE(s().put(k("owner/1"), "n1", lease).ok());
  ASSERT_TRUE(s().put(k("plain"), "x").ok());
  // etcd raises TTLs below its minimum (1.5 x election timeout) and expires a little late.
  EXPECT_TRUE(eventually([&] { return s().get(k("owner/1"))->kvs.empty(); }, seconds(8)));
  EXPECT_EQ(s().get(k("plain"))->kvs.size(), 1u);
  EXPECT_EQ(s().keep_alive(lease).code(), Errc::kNotFound);
  auto ev = w.wait_events(3);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[2].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(ev[2].kv.key, k("owner/1"));
}

TEST_P(MetaConformance, LeaseKeeperKeepsAliveAndReportsLoss) {
  std::atomic<int> lost{0};
  Status why;
  std::mutex mu;
  auto keeper = LeaseKeeper::start(s(), seconds(1), [&](const Status& st) {
    std::lock_guard<std::mutex> l(mu);
    why = st;
    ++lost;
  });
  ASSERT_TRUE(keeper.ok());
  ASSERT_TRUE(s().put(k("reg"), "me", (*keeper)->lease()).ok());
  std::this_thread::sleep_for(milliseconds(2500));  // well past the TTL
  EXPECT_EQ(s().get(k("reg"))->kvs.size(), 1u);
  EXPECT_GE((*keeper)->keep_alives(), 4);
  EXPECT_EQ(lost.load(), 0);
  // Someone else revokes the lease: the keeper notices within a keep-alive period.
  ASSERT_TRUE(s().revoke_lease((*keeper)->lease()).ok());
  EXPECT_TRUE(eventually([&] { return lost.load() == 1; }, seconds(3)));
  EXPECT_TRUE((*keeper)->lost());
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(why.code(), Errc::kNotFound);
}

TEST_P(MetaConformance, LeaseKeeperRevokeDeletesKeys) {
  auto keeper = LeaseKeeper::start(s(), seconds(5), nullptr);
  ASSERT_TRUE(keeper.ok());
  ASSERT_TRUE(s().put(k("reg"), "me", (*keeper)->lease()).ok());
  ASSERT_TRUE((*keeper)->revoke().ok());
  EXPECT_TRUE(s().get(k("reg"))->kvs.empty());
  EXPECT_FALSE((*keeper)->lost());
}

TEST_P(MetaConformance, WatchDeliversInRevisionOrderWithinRange) {
  meta::WatchCollector w;
  ASSERT_TRUE(s().watch(k("a/"), prefix_end(k("a/")), Revision(0), w.callback()).ok());
  const int64_t r0 = rev();
  ASSERT_TRUE(s().put(k("a/1"), "x").ok());
  ASSERT_TRUE(s().put(k("b/1"), "x").ok());  // outside the range
  ASSERT_TRUE(s().put(k("a/2"), "y").ok());
  ASSERT_TRUE(s().del(k("a/1")).ok());
  auto ev = w.wait_events(3);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].type, WatchEvent::Type::kPut);
  EXPECT_EQ(ev[0].kv.key, k("a/1"));
  EXPECT_EQ(ev[0].kv.mod_revision, Revision(r0 + 1));
  EXPECT_EQ(ev[0].kv.version, 1);
  EXPECT_EQ(ev[1].kv.key, k("a/2"));
  EXPECT_EQ(ev[1].kv.value, "y");
  EXPECT_EQ(ev[1].kv.mod_revision, Revision(r0 + 3));
  EXPECT_EQ(ev[2].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(ev[2].kv.key, k("a/1"));
  EXPECT_EQ(ev[2].kv.mod_revision, Revision(r0 + 4));
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(w.events().size(), 3u);
}

TEST_P(MetaConformance, WatchResumesFromPastRevisionThenLive) {
  const int64_t r0 = rev();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(s().put(k("k"), std::to_string(i)).ok());
  meta::WatchCollector w;
  ASSERT_TRUE(s().watch(k("k"), "", Revision(r0 + 7), w.callback()).ok());
  ASSERT_TRUE(s().put(k("k"), "live").ok());  // r0+11
  auto ev = w.wait_events(5);
  ASSERT_EQ(ev.size(), 5u);
  for (size_t i = 0; i < ev.size(); ++i) {
    EXPECT_EQ(ev[i].kv.mod_revision, Revision(r0 + 7 + static_cast<int64_t>(i)));
  }
  EXPECT_EQ(ev[4].kv.value, "live");
}

TEST_P(MetaConformance, WatchTxnEventsShareARevision) {
  meta::WatchCollector w;
  ASSERT_TRUE(s().watch(k(""), prefix_end(k("")), Revision(0), w.callback()).ok());
  Txn t;
  t.success = {PutOp{k("1"), "a"}, PutOp{k("2"), "b"}};
  auto r = s().txn(t);
  ASSERT_TRUE(r.ok());
  auto ev = w.wait_events(2);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kv.mod_revision, r->revision);
  EXPECT_EQ(ev[1].kv.mod_revision, r->revision);
  EXPECT_EQ(ev[0].kv.key, k("1"));
  EXPECT_EQ(ev[1].kv.key, k("2"));
}

TEST_P(MetaConformance, WatchCancelStopsDeliveryAndCallbacksMayCallTheStore) {
  std::atomic<int> calls{0};
  std::atomic<int> seen_value_len{-1};
  const std::string key = k("k");
  meta::WatchId id = s().watch(key, "", Revision(0),
                               [&](const meta::WatchUpdate&) {
                                 seen_value_len =
                                     static_cast<int>(s().get(key)->kvs.at(0).value.size());
                                 ++calls;
                               })
                         .value();
  ASSERT_TRUE(s().put(key, "abc").ok());
  EXPECT_TRUE(eventually([&] { return calls.load() > 0; }, seconds(5)));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(seen_value_len.load(), 3);
  s().cancel_watch(id);
  ASSERT_TRUE(s().put(key, "more").ok());
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(calls.load(), 1);
  s().cancel_watch(id);  // twice: harmless
}

TEST_P(MetaConformance, WatchCancelFromInsideCallback) {
  std::atomic<int> calls{0};
  std::atomic<meta::WatchId> id{0};
  id = s().watch(k("k"), "", Revision(0),
                 [&](const meta::WatchUpdate&) {
                   ++calls;
                   s().cancel_watch(id.load());
                 })
           .value();
  ASSERT_TRUE(s().put(k("k"), "1").ok());
  EXPECT_TRUE(eventually([&] { return calls.load() > 0; }, seconds(5)));
  ASSERT_TRUE(s().put(k("k"), "2").ok());
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(calls.load(), 1);
}

TEST_P(MetaConformance, WatchManyWritersEveryEventOnceInOrder) {
  meta::WatchCollector w;
  ASSERT_TRUE(s().watch(k(""), prefix_end(k("")), Revision(0), w.callback()).ok());
  constexpr int kThreads = 4, kPuts = 100;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPuts; ++i)
        ASSERT_TRUE(s().put(k(fmt::format("t{}/{}", t, i)), "v").ok());
    });
  }
  for (auto& t : ts) t.join();
  auto ev = w.wait_events(kThreads * kPuts, seconds(10));
  ASSERT_EQ(ev.size(), static_cast<size_t>(kThreads * kPuts));
  for (size_t i = 1; i < ev.size(); ++i) {
    ASSERT_EQ(ev[i].kv.mod_revision.value(),
              ev[0].kv.mod_revision.value() + static_cast<int64_t>(i));
  }
}

}  // namespace shale::etcd
