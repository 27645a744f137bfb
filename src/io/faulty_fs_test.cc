#include "io/faulty_fs.h"

#include <gtest/gtest.h>

#include "io/mem_fs.h"
#include "io/test_util.h"

namespace shale::io {
namespace {

class FaultyFsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(mem_.mkdirs("/d").ok()); }
  MemFs mem_;
  FaultyFs fs_{mem_, 7};
};

TEST_F(FaultyFsTest, PassThroughWithoutRules) {
  ASSERT_TRUE(write_string(fs_, "/d/f", "hello", true).ok());
  EXPECT_EQ(*read_string(fs_, "/d/f"), "hello");
  EXPECT_EQ(fs_.injected(), 0u);
  EXPECT_EQ(fs_.op_count(FsOp::kSync), 1u);
}

TEST_F(FaultyFsTest, NthSyncFails) {
  fs_.add_fault({.ops = static_cast<FsOpMask>(FsOp::kSync), .nth = 2});
  auto f = fs_.open("/d/f", OpenMode::kCreate).value();
  EXPECT_TRUE(f->sync().ok());
  Status s = f->sync();
  EXPECT_EQ(s.code(), Errc::kIoError);
  EXPECT_NE(s.message().find("injected"), std::string::npos);
  EXPECT_TRUE(f->sync().ok());  // only the 2nd
  EXPECT_EQ(fs_.injected(), 1u);
}

TEST_F(FaultyFsTest, NthAndAfter) {
  fs_.add_fault({.ops = FsOp::kPwrite | FsOp::kSyncDir,
                 .nth = 2,
                 .and_after = true,
                 .code = Errc::kResourceExhausted});
  auto f = fs_.open("/d/f", OpenMode::kCreate).value();
  EXPECT_TRUE(f->pwrite(0, "a", 1).ok());
  EXPECT_EQ(f->pwrite(1, "b", 1).code(), Errc::kResourceExhausted);
  EXPECT_EQ(fs_.sync_dir("/d").code(), Errc::kResourceExhausted);
  fs_.clear_faults();
  EXPECT_TRUE(f->pwrite(1, "b", 1).ok());
}

TEST_F(FaultyFsTest, ShortWriteLeavesStrictPrefix) {
  fs_.add_fault({.ops = static_cast<FsOpMask>(FsOp::kPwrite), .nth = 1, .short_write = true});
  auto f = fs_.open("/d/f", OpenMode::kCreate).value();
  const std::string data(100, 'x');
  EXPECT_FALSE(f->pwrite(0, data.data(), data.size()).ok());
  uint64_t n = *f->size();
  EXPECT_LT(n, data.size());
}

TEST_F(FaultyFsTest, ProbabilityIsSeededAndRoughlyRight) {
  auto run = [](uint64_t seed) {
    MemFs mem;
    (void)mem.mkdirs("/d");
    FaultyFs fs(mem, seed);
    fs.add_fault({.ops = static_cast<FsOpMask>(FsOp::kExists), .probability = 0.3});
    std::string pattern;
    for (int i = 0; i < 1000; ++i) pattern += fs.exists("/d").ok() ? '.' : 'X';
    return pattern;
  };
  std::string a = run(11), b = run(11), c = run(12);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  auto fails = std::count(a.begin(), a.end(), 'X');
  EXPECT_GT(fails, 200);
  EXPECT_LT(fails, 400);
}

TEST_F(FaultyFsTest, PathFilter) {
  fs_.add_fault({.ops = kAllFsOps, .path_contains = "journal", .nth = 1, .and_after = true});
  EXPECT_TRUE(write_string(fs_, "/d/snapshot", "s").ok());
  EXPECT_FALSE(fs_.open("/d/journal-1", OpenMode::kCreate).ok());
}

TEST_F(FaultyFsTest, RemoveFault) {
  int id = fs_.add_fault({.ops = static_cast<FsOpMask>(FsOp::kMkdirs), .probability = 1.0});
  EXPECT_FALSE(fs_.mkdirs("/d/x").ok());
  fs_.remove_fault(id);
  EXPECT_TRUE(fs_.mkdirs("/d/x").ok());
}

}  // namespace
}  // namespace shale::io
