// The conformance suite (conformance.h) on LocalObjectStore over PosixFs (temp dir) and over
// MemFs, and on MemObjectStore; plus open_object_store() and key escaping.
#include <gtest/gtest.h>

#include "base/crc32c.h"
#include "io/mem_fs.h"
#include "io/test_util.h"
#include "objstore/conformance.h"
#include "objstore/local_object_store.h"
#include "objstore/mem_object_store.h"
#include "objstore/store_util.h"

namespace shale::objstore {
namespace {

struct LocalPosixEnv {
  io::TempDir tmp;
  std::unique_ptr<io::Filesystem> fs = io::make_posix_fs();
  std::unique_ptr<ObjectStore> store =
      open_object_store("file://" + tmp.path() + "/s", *fs).value();
};
struct LocalMemEnv {
  io::MemFs fs;
  std::unique_ptr<ObjectStore> store = open_object_store("file:///data/s", fs).value();
};
struct MemEnv {
  io::MemFs unused;
  std::unique_ptr<ObjectStore> store = open_object_store("mem://", unused).value();
};

// LocalObjectStore's head() is a stat: it reports no etag.
template <typename Env>
ConformanceTarget target(std::string name, bool crc_etags) {
  return ConformanceTarget{
      .name = std::move(name),
      .make = []() -> Result<std::shared_ptr<ObjectStore>> {
        auto env = std::make_shared<Env>();
        return std::shared_ptr<ObjectStore>(env, env->store.get());
      },
      .etag_of =
          [crc_etags](std::string_view d) {
            return crc_etags ? crc_etag(crc32c(d.data(), d.size())) : std::string();
          },
  };
}

INSTANTIATE_TEST_SUITE_P(Stores, ObjectStoreConformance,
                         ::testing::Values(target<LocalPosixEnv>("LocalPosix", false),
                                           target<LocalMemEnv>("LocalMem", false),
                                           target<MemEnv>("Mem", true)),
                         conformance_target_name);

TEST(OpenObjectStore, Uris) {
  io::MemFs fs;
  EXPECT_TRUE(open_object_store("mem://", fs).ok());
  EXPECT_TRUE(open_object_store("file:///x/y", fs).ok());
  EXPECT_TRUE(*fs.exists("/x/y/objects"));
  EXPECT_EQ(open_object_store("file://relative", fs).code(), Errc::kInvalidArgument);
  EXPECT_EQ(open_object_store("s3://bucket", fs).code(), Errc::kInvalidArgument);
}

TEST(StoreUtil, EscapeRoundTrip) {
  for (std::string k : {"a/b", "%", "..", ".", "a..b", "x y\n\xff", "plain-name_1.obj"}) {
    std::string e = escape_key(k);
    EXPECT_EQ(e.find('/'), std::string::npos);
    EXPECT_NE(e, ".");
    EXPECT_NE(e, "..");
    EXPECT_EQ(unescape_key(e), k);
  }
  EXPECT_EQ(escape_key("a/b"), "a%2Fb");
  EXPECT_FALSE(unescape_key("a%2").has_value());
  EXPECT_FALSE(unescape_key("a%2f").has_value());  // not canonical
  EXPECT_FALSE(unescape_key("a b").has_value());
  EXPECT_FALSE(unescape_key("").has_value());
}

}  // namespace
}  // namespace shale::objstore
