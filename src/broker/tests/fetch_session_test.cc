#include "broker/fetch_session.h"

#include <gtest/gtest.h>

namespace shale::broker {
namespace {

using Clock = std::chrono::steady_clock;

FetchPartitionRequest req(std::string topic, int32_t p, int64_t off) {
  FetchPartitionRequest r;
  r.key.topic = std::move(topic);
  r.key.partition = p;
  r.fetch_offset = off;
  r.max_bytes = 1 << 20;
  return r;
}

TEST(FetchSession, FullThenIncremental) {
  FetchSessionCache c;
  auto now = Clock::now();
  auto ctx =
      c.begin(0, kInitialEpoch, false, {req("a", 0, 0), req("a", 1, 0), req("b", 0, 5)}, {}, now);
  ASSERT_TRUE(ctx.error.ok());
  ASSERT_NE(ctx.session_id, 0);
  EXPECT_FALSE(ctx.incremental);
  auto inc = c.finish(ctx, {{0, 10, 0, 100}, {0, 0, 0, 0}, {0, 7, 0, 0}});
  EXPECT_EQ(inc, (std::vector<bool>{true, true, true}));  // full: everything

  // Epoch 1, nothing changed in the request: the session supplies all three partitions.
  auto i1 = c.begin(ctx.session_id, 1, false, {}, {}, now);
  ASSERT_TRUE(i1.error.ok());
  EXPECT_TRUE(i1.incremental);
  ASSERT_EQ(i1.partitions.size(), 3u);
  // a-0 returned data last time, so it moved to the back.
  EXPECT_EQ(i1.partitions[2].key.topic, "a");
  EXPECT_EQ(i1.partitions[2].key.partition, 0);
  // Only a partition whose high watermark changed (a-1: 0 → 3) is included.
  std::vector<FetchPartitionSummary> s(3);
  for (size_t i = 0; i < 3; ++i) {
    const auto& k = i1.partitions[i].key;
    s[i] = {0, k.topic == "b" ? 7 : (k.partition == 1 ? 3 : 10), 0, 0};
  }
  auto incl = c.finish(i1, s);
  int n = 0;
  for (size_t i = 0; i < 3; ++i) {
    if (incl[i]) {
      ++n;
      EXPECT_EQ(i1.partitions[i].key.partition, 1);
    }
  }
  EXPECT_EQ(n, 1);

  // Epoch 2 updates a fetch offset and forgets b-0.
  auto i2 = c.begin(ctx.session_id, 2, false, {req("a", 1, 3)}, {FetchKey{{}, "b", 0}}, now);
  ASSERT_TRUE(i2.error.ok());
  ASSERT_EQ(i2.partitions.size(), 2u);
  for (const auto& p : i2.partitions) {
    EXPECT_EQ(p.key.topic, "a");
    if (p.key.partition == 1) {
      EXPECT_EQ(p.fetch_offset, 3);
    }
  }
  // Errors are always included.
  auto incl2 = c.finish(i2, {{kerr::kOffsetOutOfRange, -1, 0, 0}, {0, 10, 0, 0}});
  EXPECT_TRUE(incl2[0]);
}

TEST(FetchSession, EpochAndIdErrors) {
  FetchSessionCache c;
  auto now = Clock::now();
  auto ctx = c.begin(0, kInitialEpoch, false, {req("a", 0, 0)}, {}, now);
  (void)c.finish(ctx, {{}});
  EXPECT_EQ(c.begin(ctx.session_id, 5, false, {}, {}, now).error.code,
            kerr::kInvalidFetchSessionEpoch);
  EXPECT_EQ(c.begin(ctx.session_id + 1, 1, false, {}, {}, now).error.code,
            kerr::kFetchSessionIdNotFound);
  EXPECT_EQ(c.begin(0, 1, false, {}, {}, now).error.code, kerr::kFetchSessionIdNotFound);
  EXPECT_EQ(c.begin(ctx.session_id, 1, true, {}, {}, now).error.code,
            kerr::kFetchSessionTopicIdError);
  // The failed attempts did not consume the epoch.
  EXPECT_TRUE(c.begin(ctx.session_id, 1, false, {}, {}, now).error.ok());
  // FINAL closes the session and is answered sessionless.
  auto fin = c.begin(ctx.session_id, kFinalEpoch, false, {req("a", 0, 0)}, {}, now);
  EXPECT_TRUE(fin.error.ok());
  EXPECT_EQ(fin.session_id, 0);
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(c.begin(ctx.session_id, 2, false, {}, {}, now).error.code,
            kerr::kFetchSessionIdNotFound);
}

TEST(FetchSession, BoundedWithIdleEviction) {
  FetchSessionCache c({.max_sessions = 2, .eviction_ms = std::chrono::milliseconds(1000)});
  auto t0 = Clock::now();
  auto s1 = c.begin(0, 0, false, {req("a", 0, 0)}, {}, t0);
  auto s2 = c.begin(0, 0, false, {req("a", 0, 0)}, {}, t0);
  EXPECT_NE(s1.session_id, 0);
  EXPECT_NE(s2.session_id, 0);
  // Full, nobody idle long enough: no session, still a valid full fetch.
  auto s3 = c.begin(0, 0, false, {req("a", 0, 0)}, {}, t0 + std::chrono::milliseconds(10));
  EXPECT_TRUE(s3.error.ok());
  EXPECT_EQ(s3.session_id, 0);
  EXPECT_EQ(s3.partitions.size(), 1u);
  // s2 is used; later s1 is the idle one and gets evicted.
  EXPECT_TRUE(
      c.begin(s2.session_id, 1, false, {}, {}, t0 + std::chrono::milliseconds(900)).error.ok());
  auto s4 = c.begin(0, 0, false, {req("a", 0, 0)}, {}, t0 + std::chrono::milliseconds(1500));
  EXPECT_NE(s4.session_id, 0);
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.begin(s1.session_id, 1, false, {}, {}, t0).error.code, kerr::kFetchSessionIdNotFound);
}

TEST(FetchSession, EpochAdvancesByOne) {
  FetchSessionCache c;
  auto now = Clock::now();
  auto ctx = c.begin(0, 0, false, {req("a", 0, 0)}, {}, now);
  int32_t e = 1;
  for (int i = 0; i < 3; ++i, ++e)
    ASSERT_TRUE(c.begin(ctx.session_id, e, false, {}, {}, now).error.ok());
  EXPECT_EQ(c.begin(ctx.session_id, e + 1, false, {}, {}, now).error.code,
            kerr::kInvalidFetchSessionEpoch);
}

}  // namespace
}  // namespace shale::broker
