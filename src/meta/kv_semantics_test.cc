// etcd v3 semantics of EmbeddedMetaStore, run both in memory and persistent on a MemFs.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "io/mem_fs.h"
#include "meta/embedded_meta_store.h"

namespace shale::meta {
namespace {

class KvSemantics : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) {
      store_ = open_embedded_meta(fs_, "/meta", clock_).value();
    } else {
      store_ = make_mem_meta(clock_);
    }
  }
  MetaStore& s() { return *store_; }
  std::vector<std::string> keys(const std::string& k, const std::string& end, int64_t limit = 0) {
    std::vector<std::string> out;
    auto r = s().get(k, end, limit);
    EXPECT_TRUE(r.ok());
    if (r.ok()) {
      for (const auto& kv : r->kvs) out.push_back(kv.key);
    }
    return out;
  }
  ManualClock clock_;
  io::MemFs fs_;
  std::unique_ptr<EmbeddedMetaStore> store_;
};

INSTANTIATE_TEST_SUITE_P(MemAndPersistent, KvSemantics, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "persistent" : "mem"; });

TEST_P(KvSemantics, RevisionsAreGlobalAndVersionsPerKey) {
  EXPECT_EQ(s().get("a")->revision, Revision(1));  // etcd: an empty store is at revision 1
  EXPECT_EQ(*s().put("a", "1"), Revision(2));
  EXPECT_EQ(*s().put("b", "1"), Revision(3));
  EXPECT_EQ(*s().put("a", "2"), Revision(4));
  auto r = s().get("a");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->kvs.size(), 1u);
  const KeyValue& kv = r->kvs[0];
  EXPECT_EQ(kv.value, "2");
  EXPECT_EQ(kv.create_revision, Revision(2));
  EXPECT_EQ(kv.mod_revision, Revision(4));
  EXPECT_EQ(kv.version, 2);
  EXPECT_EQ(r->revision, Revision(4));
  EXPECT_TRUE(s().get("missing")->kvs.empty());
}

TEST_P(KvSemantics, VersionResetsAfterDelete) {
  ASSERT_TRUE(s().put("k", "1").ok());
  ASSERT_TRUE(s().put("k", "2").ok());
  EXPECT_EQ(*s().del("k"), 1);
  EXPECT_EQ(store_->revision(), Revision(4));
  EXPECT_TRUE(s().get("k")->kvs.empty());
  EXPECT_EQ(*s().put("k", "3"), Revision(5));
  auto kv = s().get("k")->kvs.at(0);
  EXPECT_EQ(kv.version, 1);
  EXPECT_EQ(kv.create_revision, Revision(5));
  // Deleting nothing does not advance the revision.
  EXPECT_EQ(*s().del("nope"), 0);
  EXPECT_EQ(store_->revision(), Revision(5));
}

TEST_P(KvSemantics, Ranges) {
  for (const std::string& k :
       std::vector<std::string>{"a", "a/1", "a/2", "a0", "b", std::string("\xff\x01", 2)}) {
    ASSERT_TRUE(s().put(k, "v").ok());
  }
  EXPECT_EQ(keys("a/", prefix_end("a/")), (std::vector<std::string>{"a/1", "a/2"}));
  EXPECT_EQ(keys("a0", std::string(1, '\0')),
            (std::vector<std::string>{"a0", "b", std::string("\xff\x01", 2)}));
  EXPECT_EQ(keys("a", "b"), (std::vector<std::string>{"a", "a/1", "a/2", "a0"}));
  EXPECT_EQ(keys("", std::string(1, '\0')).size(), 6u);
  auto lim = s().get("a", "b", 2);
  ASSERT_TRUE(lim.ok());
  EXPECT_EQ(lim->kvs.size(), 2u);
  EXPECT_TRUE(lim->more);
  EXPECT_FALSE(s().get("a", "b", 4)->more);
  EXPECT_EQ(s().get("").code(), Errc::kInvalidArgument);
}

TEST(PrefixEnd, MatchesEtcd) {
  EXPECT_EQ(prefix_end("a/"), "a0");
  EXPECT_EQ(prefix_end("abc"), "abd");
  EXPECT_EQ(prefix_end(std::string("a\xff", 2)), "b");
  EXPECT_EQ(prefix_end(std::string("\xff\xff", 2)), std::string(1, '\0'));
  EXPECT_EQ(prefix_end(""), std::string(1, '\0'));
}

TEST_P(KvSemantics, DeleteRangeIsOneRevision) {
  for (std::string k : {"p/1", "p/2", "p/3", "q"}) ASSERT_TRUE(s().put(k, "v").ok());
  const Revision before = store_->revision();
  EXPECT_EQ(*s().del("p/", prefix_end("p/")), 3);
  EXPECT_EQ(store_->revision(), Revision(before.value() + 1));
  EXPECT_EQ(keys("", std::string(1, '\0')), (std::vector<std::string>{"q"}));
}

TEST_P(KvSemantics, FailedTxnRunsFailureOps) {
  Txn create;
  create.compares = {Compare::absent("leader")};
  create.success = {PutOp{"leader", "n1"}};
  create.failure = {GetOp{"leader"}};
  auto r1 = s().txn(create);
  ASSERT_TRUE(r1.ok());
  EXPECT_TRUE(r1->succeeded);
  EXPECT_EQ(r1->revision, Revision(2));
  ASSERT_EQ(r1->responses.size(), 1u);
  EXPECT_TRUE(r1->responses[0].empty());

  create.success = {PutOp{"leader", "n2"}};
  auto r2 = s().txn(create);
  ASSERT_TRUE(r2.ok());
  EXPECT_FALSE(r2->succeeded);
  EXPECT_EQ(r2->revision, Revision(2));  // read-only outcome: no new revision
  ASSERT_EQ(r2->responses.size(), 1u);
  ASSERT_EQ(r2->responses[0].size(), 1u);
  EXPECT_EQ(r2->responses[0][0].value, "n1");
  EXPECT_EQ(s().get("leader")->kvs.at(0).value, "n1");
}

TEST_P(KvSemantics, CompareTargets) {
  ASSERT_TRUE(s().put("k", "b").ok());  // rev 2
  ASSERT_TRUE(s().put("k", "c").ok());  // rev 3, version 2
  auto holds = [&](Compare c) {
    Txn t;
    t.compares = {std::move(c)};
    return s().txn(t).value().succeeded;
  };
  using T = Compare::Target;
  using O = Compare::Op;
  EXPECT_TRUE(holds({"k", T::kVersion, O::kEqual, 2, {}}));
  EXPECT_TRUE(holds({"k", T::kVersion, O::kGreater, 1, {}}));
  EXPECT_FALSE(holds({"k", T::kVersion, O::kLess, 2, {}}));
  EXPECT_TRUE(holds({"k", T::kCreateRevision, O::kEqual, 2, {}}));
  EXPECT_TRUE(holds(Compare::mod_rev("k", Revision(3))));
  EXPECT_FALSE(holds(Compare::mod_rev("k", Revision(2))));
  EXPECT_TRUE(holds({"k", T::kModRevision, O::kNotEqual, 2, {}}));
  EXPECT_TRUE(holds(Compare::value_eq("k", "c")));
  EXPECT_TRUE(holds({"k", T::kValue, O::kGreater, 0, "b"}));
  EXPECT_TRUE(holds({"k", T::kValue, O::kLess, 0, "d"}));
  EXPECT_TRUE(holds(Compare::absent("other")));
  EXPECT_TRUE(holds({"other", T::kModRevision, O::kEqual, 0, {}}));
  EXPECT_FALSE(holds(Compare::value_eq("other", "")));  // value compare on a missing key fails
  EXPECT_FALSE(holds(Compare::absent("k")));
}

TEST_P(KvSemantics, TxnOpsShareOneRevisionAndSeeEarlierOps) {
  Txn t;
  t.success = {PutOp{"x", "1"}, PutOp{"y", "2"}, GetOp{"x"}, DeleteOp{"y"},
               GetOp{"", std::string(1, '\0')}};
  auto r = s().txn(t);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->revision, Revision(2));
  ASSERT_EQ(r->responses.size(), 5u);
  ASSERT_EQ(r->responses[2].size(), 1u);
  EXPECT_EQ(r->responses[2][0].mod_revision, Revision(2));
  ASSERT_EQ(r->responses[4].size(), 1u);
  EXPECT_EQ(r->responses[4][0].key, "x");
  EXPECT_EQ(s().get("x")->kvs.at(0).mod_revision, Revision(2));
  EXPECT_TRUE(s().get("y")->kvs.empty());
}

TEST_P(KvSemantics, TxnIsAllOrNothing) {
  Txn t;
  t.success = {PutOp{"a", "1"}, PutOp{"b", "2", LeaseId(999)}};
  EXPECT_EQ(s().txn(t).code(), Errc::kNotFound);  // unknown lease
  EXPECT_TRUE(s().get("a")->kvs.empty());
  EXPECT_EQ(store_->revision(), Revision(1));
  EXPECT_EQ(s().put("c", "1", LeaseId(12345)).code(), Errc::kNotFound);
  EXPECT_EQ(s().put("", "1").code(), Errc::kInvalidArgument);
}

TEST_P(KvSemantics, ConcurrentCompareAndSetCounterIsExact) {
  ASSERT_TRUE(s().put("ctr", "0").ok());
  constexpr int kThreads = 4, kIncrements = 25;
  std::atomic<int> conflicts{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i) {
    ts.emplace_back([&] {
      for (int n = 0; n < kIncrements;) {
        auto cur = s().get("ctr").value().kvs.at(0);
        Txn t;
        t.compares = {Compare::mod_rev("ctr", cur.mod_revision)};
        t.success = {PutOp{"ctr", std::to_string(std::stoi(cur.value) + 1)}};
        if (s().txn(t).value().succeeded) {
          ++n;
        } else {
          ++conflicts;
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  auto kv = s().get("ctr")->kvs.at(0);
  EXPECT_EQ(kv.value, std::to_string(kThreads * kIncrements));
  EXPECT_EQ(kv.version, kThreads * kIncrements + 1);
}

}  // namespace
}  // namespace shale::meta
