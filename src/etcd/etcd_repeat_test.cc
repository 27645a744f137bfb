// Lost answers (label etcd, the single etcd that etcd_test.cc starts): every call fails over
// after attempt_timeout, a self-fencing txn is repeated on the next endpoint and reports the
// truth (meta_store.h, "Ambiguous outcomes"), and other writes report kUnavailable early.
// The "lost answer" is a TcpProxy in front of etcd that forwards requests and drops replies:
// the txn lands, the client never hears it; the second endpoint is etcd itself.
#include <gtest/gtest.h>
#include <unistd.h>

#include "etcd/etcd_meta_store.h"
#include "etcd/tcp_proxy.h"

namespace shale::etcd {
namespace {

using std::chrono::milliseconds;
using Clk = std::chrono::steady_clock;

constexpr int kPort = 2379 + 7000;  // etcd_test.cc's etcd
constexpr milliseconds kAttempt{300};

std::string direct() {
  return fmt::format("127.0.0.1:{}", kPort);
}

std::unique_ptr<EtcdMetaStore> store_via(const std::string& first) {
  EtcdOptions o;
  o.attempt_timeout = kAttempt;  // the call has its default 5 s
  auto s =
      open_etcd_store(fmt::format("etcd://{},{}", first, direct()), SystemClock::instance(), o);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return std::move(s).value();
}

std::string unique_key(const char* name) {
  return fmt::format("t/repeat/{}/{}/{}", name, ::getpid(), Clk::now().time_since_epoch().count());
}

struct Timed {
  Result<meta::TxnResult> r;
  milliseconds took;
};
Timed timed_txn(meta::MetaStore& s, const meta::Txn& t) {
  const auto t0 = Clk::now();
  auto r = s.txn(t);
  return {std::move(r), std::chrono::duration_cast<milliseconds>(Clk::now() - t0)};
}

meta::Txn create(const std::string& key, const std::string& value) {
  meta::Txn t;
  t.compares.push_back(meta::Compare::absent(key));
  t.success.push_back(meta::PutOp{key, value});
  t.repeat_if_lost = true;
  return t;
}

TEST(EtcdRepeat, SelfFencingTxnWhoseAnswerWasLostReportsThatItApplied) {
  TcpProxy proxy(kPort);
  proxy.set_dropping_replies(true);
  auto s = store_via(fmt::format("127.0.0.1:{}", proxy.port()));
  const std::string key = unique_key("lost");
  auto [r, took] = timed_txn(*s, create(key, "mine"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->succeeded);  // the first attempt applied; the repeat's compare failed
  EXPECT_LT(took, milliseconds(1500)) << "one attempt_timeout (300 ms), not the 5 s call";
  EXPECT_GE(took, kAttempt - milliseconds(20));  // curl may fire a ms early; took is truncated
  auto now = s->get(key);
  ASSERT_TRUE(now.ok() && now->kvs.size() == 1);
  EXPECT_EQ(now->kvs[0].version, 1);  // applied once
  EXPECT_EQ(r->revision, now->kvs[0].mod_revision);
  ASSERT_EQ(r->responses.size(), 1u);

  // The same for a mod-revision CAS (the form of assignment and stream-record updates).
  proxy.set_dropping_replies(true);
  auto s2 = store_via(fmt::format("127.0.0.1:{}", proxy.port()));
  meta::Txn cas;
  cas.compares.push_back(meta::Compare::mod_rev(key, now->kvs[0].mod_revision));
  cas.success.push_back(meta::PutOp{key, "mine-2"});
  cas.repeat_if_lost = true;
  auto [r2, took2] = timed_txn(*s2, cas);
  ASSERT_TRUE(r2.ok()) << r2.status().to_string();
  EXPECT_TRUE(r2->succeeded);
  EXPECT_LT(took2, milliseconds(1500));
  EXPECT_EQ(s2->get(key)->kvs[0].version, 2);
}

TEST(EtcdRepeat, LostAnswerOfATxnThatFailedItsCompareStaysAFailure) {
  TcpProxy proxy(kPort);
  auto s = store_via(fmt::format("127.0.0.1:{}", proxy.port()));
  const std::string key = unique_key("theirs");
  ASSERT_TRUE(s->put(key, "theirs").ok());
  proxy.set_dropping_replies(true);
  auto [r, took] = timed_txn(*s, create(key, "mine"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_FALSE(r->succeeded);  // someone else's value is not our earlier attempt
  EXPECT_TRUE(r->responses.empty()) << "the read-back is not the caller's";
  EXPECT_LT(took, milliseconds(1500));
  EXPECT_EQ(s->get(key)->kvs[0].value, "theirs");
}

TEST(EtcdRepeat, SelfFencingTxnSentIntoABlackHoleIsAppliedOnceElsewhere) {
  BlackHole hole;  // the attempt is sent, never answered
  auto s = store_via(fmt::format("127.0.0.1:{}", hole.port()));
  const std::string key = unique_key("hole");
  auto [r, took] = timed_txn(*s, create(key, "mine"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->succeeded);
  EXPECT_LT(took, milliseconds(1500));
  EXPECT_EQ(s->get(key)->kvs.at(0).version, 1);
}

TEST(EtcdRepeat, OtherWritesReportTheLostAnswerAfterOneAttemptNotTheWholeCall) {
  TcpProxy proxy(kPort);
  proxy.set_dropping_replies(true);
  auto s = store_via(fmt::format("127.0.0.1:{}", proxy.port()));
  const std::string epoch = unique_key("epoch"), entry = epoch + "/entry";
  ASSERT_TRUE(s->put(epoch, "7").ok());  // a read/put fails over: it is already on etcd itself
  // The object WAL's index commit: a compare on one key, a put on another. Not self-fencing:
  // a repeat could apply twice, so the client hands the ambiguity to the caller.
  proxy.set_dropping_replies(true);
  auto s2 = store_via(fmt::format("127.0.0.1:{}", proxy.port()));
  meta::Txn t;
  t.compares.push_back(meta::Compare::value_eq(epoch, "7"));
  t.success.push_back(meta::PutOp{entry, "x"});
  auto [r, took] = timed_txn(*s2, t);
  EXPECT_EQ(r.code(), Errc::kUnavailable);
  EXPECT_LT(took, milliseconds(1500));
  EXPECT_GE(took, kAttempt - milliseconds(20));  // curl may fire a ms early; took is truncated
  // It landed; the caller's repeat goes to the next endpoint and answers at once.
  auto again = s2->txn(t);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_TRUE(again->succeeded);
  EXPECT_EQ(s2->get(entry)->kvs.at(0).version, 2);

  // A counter's CAS is self-fencing but does not opt in: its value does not identify the
  // writer (a competitor's identical "next value" would be taken for ours).
  auto s3 = store_via(fmt::format("127.0.0.1:{}", proxy.port()));
  meta::Txn ctr = create(epoch + "/ctr", "1");
  ctr.repeat_if_lost = false;
  auto [r3, took3] = timed_txn(*s3, ctr);
  EXPECT_EQ(r3.code(), Errc::kUnavailable);
  EXPECT_LT(took3, milliseconds(1500));
}

}  // namespace
}  // namespace shale::etcd
