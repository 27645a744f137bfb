// The MetaStore conformance suite: etcd v3 semantics that every MetaStore must share, written
// against a factory so it runs unchanged on the embedded store and on etcd. Tests never assume
// an empty store: keys live under a per-test prefix and revisions are relative, so the suite
// can run against a long-lived etcd.
//
// Use: INSTANTIATE_TEST_SUITE_P(Name, MetaConformance, ::testing::Values(StoreFactory{...})).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "meta/meta_store.h"

namespace shale::etcd {

struct StoreFactory {
  std::string name;
  std::function<std::unique_ptr<meta::MetaStore>()> make;
};

class MetaConformance : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override;
  meta::MetaStore& s() { return *store_; }
  // Current store revision (read of an absent key).
  int64_t rev();
  std::vector<std::string> keys(const std::string& k, const std::string& end, int64_t limit = 0);
  std::string k(const std::string& suffix) const { return prefix_ + suffix; }

  std::unique_ptr<meta::MetaStore> store_;
  std::string prefix_;  // unique per test and run
};

std::string factory_name(const ::testing::TestParamInfo<StoreFactory>& info);

}  // namespace shale::etcd
