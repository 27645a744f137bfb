// The ObjectStore conformance suite: one value-parameterised GoogleTest suite that every
// ObjectStore implementation must pass. A test binary instantiates it with a factory per backend:
//
//   INSTANTIATE_TEST_SUITE_P(Local, ObjectStoreConformance,
//                            ::testing::Values(ConformanceTarget{.name = "LocalPosix", ...}),
//                            conformance_target_name);
//
// The suite's cases live in conformance.cc, compiled into each binary that links the CMake
// target shale::objstore_conformance (an INTERFACE library, so the test registrations are never
// dropped by the linker). For tests only.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "objstore/object_store.h"

namespace shale::objstore {

struct ConformanceTarget {
  std::string name;  // test-name suffix: [A-Za-z0-9_] only
  // A fresh, empty store for one test case (called from SetUp; keep what it needs alive through
  // the shared_ptr's deleter or aliasing). An error fails the test.
  std::function<Result<std::shared_ptr<ObjectStore>>()> make;
  // The etag head() must report for an object put in one piece with these bytes; empty result
  // = the backend reports no etag from head().
  std::function<std::string(std::string_view data)> etag_of;
  // The least size of a multipart part that is not the last one (S3: 5 MiB).
  size_t min_part_size = 0;
};

class ObjectStoreConformance : public ::testing::TestWithParam<ConformanceTarget> {
 protected:
  void SetUp() override;
  ObjectStore& s() { return *store_; }
  std::string get_all(const std::string& key);
  std::vector<std::string> keys(const std::string& prefix);

  std::shared_ptr<ObjectStore> store_;
};

// Name generator for INSTANTIATE_TEST_SUITE_P.
std::string conformance_target_name(const ::testing::TestParamInfo<ConformanceTarget>& info);

}  // namespace shale::objstore
