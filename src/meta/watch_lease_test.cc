// Leases (expiry on a ManualClock) and watches (ordering, resume, compaction, cancel).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "meta/embedded_meta_store.h"
#include "meta/test_util.h"

namespace shale::meta {
namespace {

using std::chrono::seconds;

const std::string kAll(1, '\0');

TEST(Leases, ExpiryDeletesKeysAndEmitsDeleteEvents) {
  ManualClock clock;
  auto s = make_mem_meta(clock);
  WatchCollector w;
  ASSERT_TRUE(s->watch("", kAll, Revision(0), w.callback()).ok());
  LeaseId lease = s->grant_lease(seconds(10)).value();
  ASSERT_TRUE(s->put("owner/1", "n1", lease).ok());
  ASSERT_TRUE(s->put("owner/2", "n1", lease).ok());
  ASSERT_TRUE(s->put("plain", "x").ok());
  EXPECT_EQ(s->get("owner/1")->kvs.at(0).lease, lease);

  clock.advance(seconds(9));
  s->expire_leases_now();
  EXPECT_EQ(s->get("owner/", prefix_end("owner/"))->kvs.size(), 2u);
  ASSERT_TRUE(s->keep_alive(lease).ok());  // deadline is now t=19s
  clock.advance(seconds(9));               // t=18s
  s->expire_leases_now();
  EXPECT_EQ(s->get("owner/", prefix_end("owner/"))->kvs.size(), 2u);
  const Revision before = s->revision();
  clock.advance(seconds(2));  // t=20s
  s->expire_leases_now();
  EXPECT_TRUE(s->get("owner/", prefix_end("owner/"))->kvs.empty());
  EXPECT_EQ(s->get("plain")->kvs.size(), 1u);
  EXPECT_EQ(s->revision(), Revision(before.value() + 1));  // one revision for the expiry
  EXPECT_EQ(s->keep_alive(lease).code(), Errc::kNotFound);
  EXPECT_EQ(s->put("again", "x", lease).code(), Errc::kNotFound);

  auto ev = w.wait_events(5);
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(ev[3].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(ev[3].kv.key, "owner/1");
  EXPECT_EQ(ev[4].kv.key, "owner/2");
  EXPECT_EQ(ev[4].kv.mod_revision, Revision(before.value() + 1));
}

TEST(Leases, BackgroundThreadExpiresOnItsOwn) {
  ManualClock clock;
  auto s = make_mem_meta(clock, {.lease_check_interval = std::chrono::milliseconds(5)});
  LeaseId lease = s->grant_lease(seconds(1)).value();
  ASSERT_TRUE(s->put("k", "v", lease).ok());
  clock.advance(seconds(2));
  for (int i = 0; i < 400 && !s->get("k")->kvs.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(s->get("k")->kvs.empty());
}

TEST(Leases, RevokeAndReattach) {
  ManualClock clock;
  auto s = make_mem_meta(clock);
  LeaseId a = s->grant_lease(seconds(5)).value();
  LeaseId b = s->grant_lease(seconds(5)).value();
  EXPECT_NE(a, b);
  ASSERT_TRUE(s->put("k", "v", a).ok());
  ASSERT_TRUE(s->put("k", "v2", b).ok());  // moves the key to lease b
  ASSERT_TRUE(s->revoke_lease(a).ok());
  EXPECT_EQ(s->get("k")->kvs.size(), 1u);
  const Revision r = s->revision();
  ASSERT_TRUE(s->revoke_lease(b).ok());
  EXPECT_TRUE(s->get("k")->kvs.empty());
  EXPECT_EQ(s->revision(), Revision(r.value() + 1));
  EXPECT_EQ(s->revoke_lease(b).code(), Errc::kNotFound);
  EXPECT_EQ(s->grant_lease(seconds(0)).code(), Errc::kInvalidArgument);
}

TEST(Watches, DeliversInRevisionOrderWithinRange) {
  auto s = make_mem_meta();
  WatchCollector w;
  ASSERT_TRUE(s->watch("a/", prefix_end("a/"), Revision(0), w.callback()).ok());
  ASSERT_TRUE(s->put("a/1", "x").ok());
  ASSERT_TRUE(s->put("b/1", "x").ok());  // outside the range
  ASSERT_TRUE(s->put("a/2", "y").ok());
  ASSERT_TRUE(s->del("a/1").ok());
  auto ev = w.wait_events(3);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].type, WatchEvent::Type::kPut);
  EXPECT_EQ(ev[0].kv.key, "a/1");
  EXPECT_EQ(ev[0].kv.mod_revision, Revision(2));
  EXPECT_EQ(ev[1].kv.key, "a/2");
  EXPECT_EQ(ev[1].kv.value, "y");
  EXPECT_EQ(ev[1].kv.mod_revision, Revision(4));
  EXPECT_EQ(ev[2].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(ev[2].kv.mod_revision, Revision(5));
}

TEST(Watches, ResumeFromPastRevisionThenLive) {
  auto s = make_mem_meta();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(s->put("k", std::to_string(i)).ok());  // revs 2..11
  WatchCollector w;
  ASSERT_TRUE(s->watch("k", "", Revision(8), w.callback()).ok());
  ASSERT_TRUE(s->put("k", "live").ok());  // rev 12
  auto ev = w.wait_events(5);
  ASSERT_EQ(ev.size(), 5u);
  for (size_t i = 0; i < ev.size(); ++i) EXPECT_EQ(ev[i].kv.mod_revision, Revision(8 + i));
  EXPECT_EQ(ev[4].kv.value, "live");
}

TEST(Watches, CompactedWhenHistoryIsGone) {
  auto s = make_mem_meta(SystemClock::instance(), {.watch_history_events = 10});
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(s->put("k", std::to_string(i)).ok());  // revs 2..31
  EXPECT_EQ(s->compacted_revision(), Revision(21));
  WatchCollector old_w;
  ASSERT_TRUE(s->watch("k", "", Revision(5), old_w.callback()).ok());
  ASSERT_TRUE(old_w.wait_compacted());
  EXPECT_EQ(old_w.compact_revision(), Revision(22));
  EXPECT_TRUE(old_w.events().empty());

  WatchCollector ok_w;
  ASSERT_TRUE(s->watch("k", "", Revision(22), ok_w.callback()).ok());
  EXPECT_EQ(ok_w.wait_events(10).size(), 10u);
}

TEST(Watches, CancelStopsDeliveryAndCallbacksMayCallTheStore) {
  auto s = make_mem_meta();
  std::atomic<int> calls{0};
  std::atomic<int> seen_value_len{-1};
  WatchId id = s->watch("k", "", Revision(0), [&](const WatchUpdate&) {
                  seen_value_len = static_cast<int>(s->get("k")->kvs.at(0).value.size());
                  ++calls;
                }).value();
  ASSERT_TRUE(s->put("k", "abc").ok());
  for (int i = 0; i < 500 && calls.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(seen_value_len.load(), 3);
  s->cancel_watch(id);
  ASSERT_TRUE(s->put("k", "more").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(calls.load(), 1);
}

TEST(Watches, CancelFromInsideCallback) {
  auto s = make_mem_meta();
  std::atomic<int> calls{0};
  std::atomic<WatchId> id{0};
  id = s->watch("k", "", Revision(0), [&](const WatchUpdate&) {
          ++calls;
          s->cancel_watch(id.load());
        }).value();
  ASSERT_TRUE(s->put("k", "1").ok());
  for (int i = 0; i < 500 && calls.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(s->put("k", "2").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(calls.load(), 1);
}

TEST(Watches, ManyWritersEveryEventOnceInOrder) {
  auto s = make_mem_meta();
  WatchCollector w;
  ASSERT_TRUE(s->watch("", kAll, Revision(0), w.callback()).ok());
  constexpr int kThreads = 4, kPuts = 200;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPuts; ++i) ASSERT_TRUE(s->put(fmt::format("t{}/{}", t, i), "v").ok());
    });
  }
  for (auto& t : ts) t.join();
  auto ev = w.wait_events(kThreads * kPuts);
  ASSERT_EQ(ev.size(), static_cast<size_t>(kThreads * kPuts));
  for (size_t i = 0; i < ev.size(); ++i) {
    ASSERT_EQ(ev[i].kv.mod_revision, Revision(static_cast<int64_t>(i) + 2));
  }
}

}  // namespace
}  // namespace shale::meta
