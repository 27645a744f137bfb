// MemFs crash semantics: exactly what survives a simulated power loss.
#include "io/mem_fs.h"

#include <gtest/gtest.h>

#include "io/file_util.h"
#include "io/test_util.h"

namespace shale::io {
namespace {

class MemFsCrash : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs_.mkdirs("/d").ok());
    ASSERT_TRUE(fs_.sync_dir("/").ok());
  }
  // Creates /d/<name> with content, syncs the file and the directory.
  void durable_file(const std::string& name, const std::string& content) {
    ASSERT_TRUE(write_string(fs_, "/d/" + name, content, /*sync=*/true).ok());
    ASSERT_TRUE(fs_.sync_dir("/d").ok());
  }
  MemFs fs_;
};

TEST_F(MemFsCrash, UnsyncedWriteLost) {
  durable_file("f", "base");
  auto f = fs_.open("/d/f", OpenMode::kReadWrite).value();
  ASSERT_TRUE(f->pwrite(4, "-more", 5).ok());
  ASSERT_TRUE(f->pwrite(0, "BA", 2).ok());
  EXPECT_EQ(*read_string(fs_, "/d/f"), "BAse-more");
  fs_.crash();
  EXPECT_EQ(*read_string(fs_, "/d/f"), "base");
}

TEST_F(MemFsCrash, SyncedWriteKept) {
  durable_file("f", "base");
  auto f = fs_.open("/d/f", OpenMode::kReadWrite).value();
  ASSERT_TRUE(f->pwrite(4, "-more", 5).ok());
  ASSERT_TRUE(f->sync().ok());
  ASSERT_TRUE(f->pwrite(9, "-lost", 5).ok());
  fs_.crash();
  EXPECT_EQ(*read_string(fs_, "/d/f"), "base-more");
}

TEST_F(MemFsCrash, CreatedButDirNotSyncedFileLost) {
  ASSERT_TRUE(write_string(fs_, "/d/new", "data", /*sync=*/true).ok());
  EXPECT_TRUE(*fs_.exists("/d/new"));
  fs_.crash();
  EXPECT_FALSE(*fs_.exists("/d/new"));
  // The same file with the directory synced survives.
  ASSERT_TRUE(write_string(fs_, "/d/new", "data", /*sync=*/true).ok());
  ASSERT_TRUE(fs_.sync_dir("/d").ok());
  fs_.crash();
  EXPECT_EQ(*read_string(fs_, "/d/new"), "data");
}

TEST_F(MemFsCrash, DirSyncedButFileNotSyncedIsEmpty) {
  ASSERT_TRUE(write_string(fs_, "/d/new", "data").ok());
  ASSERT_TRUE(fs_.sync_dir("/d").ok());
  fs_.crash();
  EXPECT_EQ(*read_string(fs_, "/d/new"), "");
}

TEST_F(MemFsCrash, RenameNotDurableUntilSyncDir) {
  durable_file("old", "v1");
  ASSERT_TRUE(write_string(fs_, "/d/tmp", "v2", /*sync=*/true).ok());
  ASSERT_TRUE(fs_.rename("/d/tmp", "/d/old").ok());
  EXPECT_EQ(*read_string(fs_, "/d/old"), "v2");
  fs_.crash();
  EXPECT_EQ(*read_string(fs_, "/d/old"), "v1");  // the rename was lost
  EXPECT_FALSE(*fs_.exists("/d/tmp"));           // and tmp's creation too

  ASSERT_TRUE(write_string(fs_, "/d/tmp", "v2", /*sync=*/true).ok());
  ASSERT_TRUE(fs_.rename("/d/tmp", "/d/old").ok());
  ASSERT_TRUE(fs_.sync_dir("/d").ok());
  fs_.crash();
  EXPECT_EQ(*read_string(fs_, "/d/old"), "v2");
  EXPECT_FALSE(*fs_.exists("/d/tmp"));
}

TEST_F(MemFsCrash, RemoveNotDurableUntilSyncDir) {
  durable_file("f", "keep");
  ASSERT_TRUE(fs_.remove("/d/f").ok());
  fs_.crash();
  EXPECT_EQ(*read_string(fs_, "/d/f"), "keep");
  ASSERT_TRUE(fs_.remove("/d/f").ok());
  ASSERT_TRUE(fs_.sync_dir("/d").ok());
  fs_.crash();
  EXPECT_FALSE(*fs_.exists("/d/f"));
}

TEST_F(MemFsCrash, DirectoryNeedsParentSync) {
  ASSERT_TRUE(fs_.mkdirs("/d/sub").ok());
  ASSERT_TRUE(write_string(fs_, "/d/sub/f", "x", true).ok());
  ASSERT_TRUE(fs_.sync_dir("/d/sub").ok());
  fs_.crash();  // /d/sub itself was never made durable in /d
  EXPECT_FALSE(*fs_.exists("/d/sub"));
  EXPECT_FALSE(*fs_.exists("/d/sub/f"));

  ASSERT_TRUE(fs_.mkdirs("/d/sub").ok());
  ASSERT_TRUE(write_string(fs_, "/d/sub/f", "x", true).ok());
  ASSERT_TRUE(fs_.sync_dir("/d/sub").ok());
  ASSERT_TRUE(fs_.sync_dir("/d").ok());
  fs_.crash();
  EXPECT_EQ(*read_string(fs_, "/d/sub/f"), "x");
}

TEST_F(MemFsCrash, MkdirsDurableSyncsEveryAncestor) {
  ASSERT_TRUE(fs_.mkdirs("/x/y/z").ok());
  ASSERT_TRUE(fs_.sync_dir("/x/y/z").ok());
  ASSERT_TRUE(fs_.sync_dir("/x/y").ok());
  fs_.crash();  // "/" never learned about /x
  EXPECT_FALSE(*fs_.exists("/x"));
  ASSERT_TRUE(mkdirs_durable(fs_, "/x/y/z").ok());
  ASSERT_TRUE(write_string(fs_, "/x/y/z/f", "deep", true).ok());
  ASSERT_TRUE(fs_.sync_dir("/x/y/z").ok());
  fs_.crash();
  EXPECT_EQ(*read_string(fs_, "/x/y/z/f"), "deep");
}

TEST_F(MemFsCrash, HandlesInvalidatedByCrash) {
  durable_file("f", "abc");
  auto f = fs_.open("/d/f", OpenMode::kReadWrite).value();
  fs_.crash();
  EXPECT_EQ(f->pwrite(0, "z", 1).code(), Errc::kIoError);
  EXPECT_EQ(f->sync().code(), Errc::kIoError);
  char b;
  EXPECT_EQ(f->pread(0, &b, 1).code(), Errc::kIoError);
  EXPECT_EQ(*read_string(fs_, "/d/f"), "abc");  // a new handle works
}

TEST_F(MemFsCrash, TornTailKeepsPrefixOfUnsyncedAppend) {
  fs_.set_crash_torn_tail(true);
  const std::string base = "0123456789";
  std::string tail;
  for (int i = 0; i < 1000; ++i) tail += static_cast<char>('a' + i % 26);
  std::set<size_t> lengths;
  for (int round = 0; round < 20; ++round) {
    durable_file("f", base);
    auto f = fs_.open("/d/f", OpenMode::kReadWrite).value();
    ASSERT_TRUE(f->pwrite(base.size(), tail.data(), tail.size()).ok());
    fs_.crash();
    std::string got = *read_string(fs_, "/d/f");
    ASSERT_GE(got.size(), base.size());
    ASSERT_LE(got.size(), base.size() + tail.size());
    EXPECT_EQ(got.substr(0, base.size()), base);
    EXPECT_EQ(got.substr(base.size()), tail.substr(0, got.size() - base.size()));
    lengths.insert(got.size());
  }
  EXPECT_GT(lengths.size(), 5u);  // the cut point really varies
}

TEST_F(MemFsCrash, TornSectorsKeepOldOrNewPerSector) {
  fs_.set_crash_mode(MemFs::CrashMode::kTornSectors);
  constexpr size_t kS = MemFs::kSectorSize;
  std::set<std::string> patterns;
  std::set<size_t> sizes;
  for (int round = 0; round < 60; ++round) {
    durable_file("f", std::string(4 * kS, 'a'));
    auto f = fs_.open("/d/f", OpenMode::kReadWrite).value();
    const std::string b(4 * kS, 'b'), c(2 * kS, 'c');
    ASSERT_TRUE(f->pwrite(0, b.data(), b.size()).ok());
    ASSERT_TRUE(f->pwrite(b.size(), c.data(), c.size()).ok());
    fs_.crash();
    const std::string got = *read_string(fs_, "/d/f");
    ASSERT_TRUE(got.size() == 4 * kS || got.size() == 5 * kS || got.size() == 6 * kS) << got.size();
    sizes.insert(got.size());
    std::string pattern;
    for (size_t off = 0; off < got.size(); off += kS) {
      const std::string sector = got.substr(off, kS);
      const char first = sector[0];
      ASSERT_EQ(sector, std::string(kS, first)) << "sector at " << off << " is mixed";
      if (off < 4 * kS) {
        ASSERT_TRUE(first == 'a' || first == 'b');
      } else {
        ASSERT_TRUE(first == 'c' || first == '\0');
      }
      pattern += first == '\0' ? '0' : first;
    }
    patterns.insert(pattern);
  }
  EXPECT_EQ(sizes.size(), 3u);
  EXPECT_GT(patterns.size(), 10u);
}

TEST_F(MemFsCrash, TornSectorsNeverTouchSyncedData) {
  fs_.set_crash_mode(MemFs::CrashMode::kTornSectors);
  for (int round = 0; round < 20; ++round) {
    durable_file("f", std::string(3000, 'a'));
    auto f = fs_.open("/d/f", OpenMode::kReadWrite).value();
    ASSERT_TRUE(f->pwrite(3000, "tail", 4).ok());
    ASSERT_TRUE(f->sync().ok());
    fs_.crash();
    EXPECT_EQ(*read_string(fs_, "/d/f"), std::string(3000, 'a') + "tail");
  }
}

TEST_F(MemFsCrash, NoTornTailByDefault) {
  durable_file("f", "base");
  auto f = fs_.open("/d/f", OpenMode::kReadWrite).value();
  ASSERT_TRUE(f->pwrite(4, "tail", 4).ok());
  fs_.crash();
  EXPECT_EQ(*read_string(fs_, "/d/f"), "base");
}

TEST_F(MemFsCrash, Counters) {
  uint64_t s0 = fs_.sync_count(), d0 = fs_.sync_dir_count();
  durable_file("f", "x");
  EXPECT_EQ(fs_.sync_count(), s0 + 1);
  EXPECT_EQ(fs_.sync_dir_count(), d0 + 1);
}

}  // namespace
}  // namespace shale::io
