#include "meta/faulty_meta_store.h"

#include <gtest/gtest.h>

#include "meta/embedded_meta_store.h"

namespace shale::meta {
namespace {

TEST(FaultyMetaStore, FailBeforeAndAfter) {
  auto base = make_mem_meta();
  FaultyMetaStore s(*base);
  s.add_fault({.ops = static_cast<MetaOpMask>(MetaOp::kPut), .nth = 1});
  EXPECT_EQ(s.put("a", "1").code(), Errc::kUnavailable);
  EXPECT_TRUE(base->get("a")->kvs.empty());
  EXPECT_TRUE(s.put("a", "1").ok());

  s.add_fault({.ops = static_cast<MetaOpMask>(MetaOp::kTxn),
               .nth = 1,
               .action = MetaFault::Action::kFailAfter,
               .code = Errc::kTimeout});
  Txn t;
  t.success = {PutOp{"b", "2"}};
  EXPECT_EQ(s.txn(t).code(), Errc::kTimeout);
  EXPECT_EQ(base->get("b")->kvs.size(), 1u);  // it happened anyway
  EXPECT_EQ(s.injected(), 2u);
}

TEST(FaultyMetaStore, ProbabilityAndLatency) {
  auto base = make_mem_meta();
  FaultyMetaStore s(*base, 3);
  s.add_fault({.ops = static_cast<MetaOpMask>(MetaOp::kGet), .probability = 0.5});
  int fails = 0;
  for (int i = 0; i < 200; ++i) fails += s.get("x").ok() ? 0 : 1;
  EXPECT_GT(fails, 60);
  EXPECT_LT(fails, 140);
  s.clear_faults();
  s.set_latency(static_cast<MetaOpMask>(MetaOp::kPut), std::chrono::milliseconds(20));
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(s.put("k", "v").ok());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(20));
}

}  // namespace
}  // namespace shale::meta
