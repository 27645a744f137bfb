// txn_rules: which txns are self-fencing (safe to repeat after a lost answer), and how a
// read-back tells "an earlier attempt applied" from "someone else wrote".
#include "meta/txn_rules.h"

#include <gtest/gtest.h>

namespace shale::meta {
namespace {

Txn txn(std::vector<Compare> cmp, std::vector<Op> ok) {
  Txn t;
  t.compares = std::move(cmp);
  t.success = std::move(ok);
  return t;
}

TEST(TxnRules, SelfFencingNeedsACompareThatItsOwnPutFalsifies) {
  // Shale's forms: create-if-absent, mod-revision CAS, value CAS to a new value.
  EXPECT_EQ(fencing_puts(txn({Compare::absent("k")}, {PutOp{"k", "v"}})).size(), 1u);
  EXPECT_EQ(fencing_puts(txn({Compare::mod_rev("k", Revision(5))}, {PutOp{"k", "v"}})).size(), 1u);
  EXPECT_EQ(fencing_puts(txn({Compare::value_eq("k", "1")}, {PutOp{"k", "2"}})).size(), 1u);
  // Not fencing: the compare is on another key (the object WAL's index commit), the value put
  // equals the compared one, an inequality, or a create revision that a put keeps.
  EXPECT_TRUE(fencing_puts(txn({Compare::value_eq("e", "1")}, {PutOp{"i", "x"}})).empty());
  EXPECT_TRUE(fencing_puts(txn({Compare::value_eq("k", "1")}, {PutOp{"k", "1"}})).empty());
  EXPECT_TRUE(
      fencing_puts(txn({Compare{"k", Compare::Target::kModRevision, Compare::Op::kLess, 9, {}}},
                       {PutOp{"k", "v"}}))
          .empty());
  EXPECT_TRUE(
      fencing_puts(txn({Compare{"k", Compare::Target::kCreateRevision, Compare::Op::kEqual, 3, {}}},
                       {PutOp{"k", "v"}}))
          .empty());
  EXPECT_TRUE(fencing_puts(txn({}, {PutOp{"k", "v"}})).empty());
  EXPECT_TRUE(fencing_puts(txn({Compare::absent("k")}, {DeleteOp{"k", {}}})).empty());
  // A read in the success branch: a repeat that finds it applied could not answer it.
  EXPECT_TRUE(fencing_puts(txn({Compare::absent("k")}, {PutOp{"k", "v"}, GetOp{"o", {}}})).empty());
  // Only the fenced puts are read back.
  auto two = txn({Compare::absent("a")}, {PutOp{"a", "1"}, PutOp{"b", "2"}});
  ASSERT_EQ(fencing_puts(two).size(), 1u);
  EXPECT_EQ(fencing_puts(two)[0]->key, "a");
}

KeyValue kv(std::string key, std::string value, int64_t mod, int64_t version, int64_t lease = 0) {
  return KeyValue{std::move(key), std::move(value), Revision(1),
                  Revision(mod),  version,          LeaseId(lease)};
}

TEST(TxnRules, LandedOnlyWhenTheReadBackIsTheTxnsOwnWrite) {
  auto t = txn({Compare::mod_rev("a", Revision(5)), Compare::absent("b")},
               {PutOp{"a", "1"}, PutOp{"b", "2", LeaseId(7)}});
  auto f = fencing_puts(t);
  ASSERT_EQ(f.size(), 2u);
  Revision at{0};
  EXPECT_TRUE(landed(t, f, {kv("b", "2", 9, 1, 7), kv("a", "1", 9, 3)}, &at));
  EXPECT_EQ(at, Revision(9));
  EXPECT_FALSE(landed(t, f, {kv("a", "1", 9, 3)}, &at)) << "b missing";
  EXPECT_FALSE(landed(t, f, {kv("a", "1", 9, 3), kv("b", "2", 9, 1, 8)}, &at)) << "other lease";
  EXPECT_FALSE(landed(t, f, {kv("a", "1", 9, 3), kv("b", "x", 9, 1, 7)}, &at)) << "other value";
  EXPECT_FALSE(landed(t, f, {kv("a", "1", 9, 3), kv("b", "2", 10, 1, 7)}, &at))
      << "two revisions: two writes";
  // The value put already stood there and nothing moved it: the compare still holds, so the
  // repeat failed on another compare and nothing of ours applied.
  auto same = txn({Compare::mod_rev("a", Revision(5)), Compare::absent("z")}, {PutOp{"a", "1"}});
  EXPECT_FALSE(landed(same, fencing_puts(same), {kv("a", "1", 5, 2)}, &at));
}

TEST(TxnRules, SizeLimitCountsEachBranchOnItsOwn) {
  Txn t;
  for (size_t i = 0; i < kMaxTxnOps; ++i) {
    t.compares.push_back(Compare::absent("c"));
    t.success.push_back(PutOp{"k", "v"});
    t.failure.push_back(PutOp{"k", "v"});
  }
  EXPECT_TRUE(check_txn_size(t).ok());
  t.failure.push_back(PutOp{"k", "v"});
  EXPECT_EQ(check_txn_size(t).code(), Errc::kInvalidArgument);
}

}  // namespace
}  // namespace shale::meta
