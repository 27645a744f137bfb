#include "objstore/faulty_object_store.h"

#include <gtest/gtest.h>

#include "objstore/mem_object_store.h"

namespace shale::objstore {
namespace {

TEST(FaultyObjectStore, FailBeforeDoesNothing) {
  MemObjectStore mem;
  FaultyObjectStore s(mem);
  s.add_fault({.ops = static_cast<StoreOpMask>(StoreOp::kPut), .nth = 2});
  EXPECT_TRUE(s.put("a", Buf::copy("1")).ok());
  EXPECT_EQ(s.put("b", Buf::copy("2")).code(), Errc::kIoError);
  EXPECT_TRUE(s.put("c", Buf::copy("3")).ok());
  EXPECT_EQ(mem.get("b").code(), Errc::kNotFound);
  EXPECT_EQ(s.injected(), 1u);
}

TEST(FaultyObjectStore, FailAfterWritesButReportsError) {
  MemObjectStore mem;
  FaultyObjectStore s(mem);
  s.add_fault({.ops = StoreOp::kPut | StoreOp::kCompleteMultipart,
               .nth = 1,
               .and_after = true,
               .action = StoreFault::Action::kFailAfter,
               .code = Errc::kTimeout});
  EXPECT_EQ(s.put("a", Buf::copy("1")).code(), Errc::kTimeout);
  EXPECT_EQ(mem.get("a")->data.view(), "1");
  auto id = s.begin_multipart("m").value();
  ASSERT_TRUE(s.upload_part("m", id, 1, Buf::copy("x")).ok());
  EXPECT_EQ(s.complete_multipart("m", id, 1).code(), Errc::kTimeout);
  EXPECT_EQ(mem.get("m")->data.view(), "x");
}

TEST(FaultyObjectStore, TornUploadLeavesNoVisibleObject) {
  MemObjectStore mem;
  FaultyObjectStore s(mem, 9);
  s.add_fault({.ops = static_cast<StoreOpMask>(StoreOp::kPut),
               .probability = 1.0,
               .action = StoreFault::Action::kTornUpload});
  EXPECT_FALSE(s.put("obj", Buf::copy(std::string(1000, 'q'))).ok());
  EXPECT_EQ(mem.get("obj").code(), Errc::kNotFound);
  EXPECT_EQ(mem.object_count(), 0u);
  EXPECT_EQ(mem.pending_uploads(), 1u);
}

TEST(FaultyObjectStore, KeyFilterAndProbability) {
  MemObjectStore mem;
  FaultyObjectStore s(mem, 5);
  s.add_fault({.ops = kAllStoreOps, .key_contains = "bad/", .probability = 1.0});
  EXPECT_TRUE(s.put("good/1", Buf::copy("x")).ok());
  EXPECT_FALSE(s.put("bad/1", Buf::copy("x")).ok());
  EXPECT_FALSE(s.get("bad/1").ok());
  EXPECT_TRUE(s.get("good/1").ok());
}

TEST(FaultyObjectStore, CrashPointsAbandonOperation) {
  MemObjectStore mem;
  FaultyObjectStore s(mem);
  std::vector<std::string> seen;
  s.set_crash_point("put:after", [&](const std::string& point, const std::string& key) {
    seen.push_back(point + " " + key);
    throw CrashSignal{point, key};
  });
  bool crashed = false;
  try {
    (void)s.put("k", Buf::copy("v"));
  } catch (const CrashSignal& c) {
    crashed = true;
    EXPECT_EQ(c.point, "put:after");
  }
  EXPECT_TRUE(crashed);
  EXPECT_EQ(seen, (std::vector<std::string>{"put:after k"}));
  EXPECT_EQ(mem.get("k")->data.view(), "v");  // durable, though the caller never heard OK

  s.set_crash_point("put:after", nullptr);
  s.set_crash_point("put:before", [](const std::string& p, const std::string& k) {
    throw CrashSignal{p, k};
  });
  EXPECT_THROW((void)s.put("k2", Buf::copy("v")), CrashSignal);
  EXPECT_EQ(mem.get("k2").code(), Errc::kNotFound);
}

TEST(FaultyObjectStore, Latency) {
  MemObjectStore mem;
  FaultyObjectStore s(mem);
  s.set_latency(static_cast<StoreOpMask>(StoreOp::kGet), std::chrono::milliseconds(20));
  ASSERT_TRUE(s.put("k", Buf::copy("v")).ok());
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(s.get("k").ok());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(20));
}

}  // namespace
}  // namespace shale::objstore
