// Conformance tests every Filesystem implementation must pass (PosixFs on a temp dir, MemFs).
#include "io/fs.h"

#include <gtest/gtest.h>

#include "io/file_util.h"
#include "io/mem_fs.h"
#include "io/path.h"
#include "io/test_util.h"

namespace shale::io {
namespace {

struct PosixEnv {
  TempDir tmp;
  std::unique_ptr<Filesystem> fs = make_posix_fs();
  std::string root() const { return tmp.path(); }
};
struct MemEnv {
  std::unique_ptr<Filesystem> fs = std::make_unique<MemFs>();
  MemEnv() { (void)fs->mkdirs("/data"); }
  std::string root() const { return "/data"; }
};

template <typename Env>
class FsConformance : public ::testing::Test {
 protected:
  Env env_;
  Filesystem& fs() { return *env_.fs; }
  std::string p(const std::string& name) { return join_path(env_.root(), name); }
};

using Envs = ::testing::Types<PosixEnv, MemEnv>;
TYPED_TEST_SUITE(FsConformance, Envs);

TYPED_TEST(FsConformance, WriteReadRoundTrip) {
  auto& fs = this->fs();
  auto f = fs.open(this->p("a"), OpenMode::kCreate);
  ASSERT_TRUE(f.ok()) << f.error().to_string();
  ASSERT_TRUE((*f)->pwrite(0, "hello", 5).ok());
  ASSERT_TRUE((*f)->pwrite(5, " world", 6).ok());
  ASSERT_TRUE((*f)->sync().ok());
  EXPECT_EQ(*(*f)->size(), 11u);
  char buf[32];
  auto n = (*f)->pread(6, buf, sizeof(buf));  // short read at end of file
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "world");
  EXPECT_EQ(*(*f)->pread(100, buf, 4), 0u);
  // Sparse write leaves a zero-filled hole.
  ASSERT_TRUE((*f)->pwrite(20, "x", 1).ok());
  EXPECT_EQ(*read_string(fs, this->p("a")),
            std::string("hello world") + std::string(9, '\0') + "x");
}

TYPED_TEST(FsConformance, OpenModes) {
  auto& fs = this->fs();
  EXPECT_EQ(fs.open(this->p("missing"), OpenMode::kRead).code(), Errc::kNotFound);
  EXPECT_EQ(fs.open(this->p("missing"), OpenMode::kReadWrite).code(), Errc::kNotFound);
  EXPECT_EQ(fs.open(this->p("nodir/x"), OpenMode::kCreate).code(), Errc::kNotFound);
  ASSERT_TRUE(fs.open(this->p("x"), OpenMode::kCreateExclusive).ok());
  EXPECT_EQ(fs.open(this->p("x"), OpenMode::kCreateExclusive).code(), Errc::kAlreadyExists);
  EXPECT_TRUE(fs.open(this->p("x"), OpenMode::kCreate).ok());
  auto r = fs.open(this->p("x"), OpenMode::kRead);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE((*r)->pwrite(0, "a", 1).ok());
}

TYPED_TEST(FsConformance, AllocateAndTruncate) {
  auto& fs = this->fs();
  auto f = fs.open(this->p("t"), OpenMode::kCreate).value();
  ASSERT_TRUE(f->pwrite(0, "abc", 3).ok());
  ASSERT_TRUE(f->allocate(4096).ok());
  EXPECT_EQ(*f->size(), 4096u);
  char b[3];
  ASSERT_EQ(*f->pread(0, b, 3), 3u);
  EXPECT_EQ(std::string(b, 3), "abc");
  ASSERT_TRUE(f->allocate(10).ok());  // never shrinks
  EXPECT_EQ(*f->size(), 4096u);
  ASSERT_TRUE(f->truncate(2).ok());
  EXPECT_EQ(*f->size(), 2u);
}

TYPED_TEST(FsConformance, PwritevManyPiecesAndWriteZeros) {
  auto& fs = this->fs();
  auto f = fs.open(this->p("v"), OpenMode::kCreate).value();
  // More pieces than one pwritev call takes (IOV_MAX is 1024), of varying sizes.
  std::string want;
  std::vector<std::string> parts;
  for (int i = 0; i < 3000; ++i)
    parts.push_back(std::string(1 + i % 7, static_cast<char>('a' + i % 26)));
  std::vector<File::Piece> pieces;
  for (const auto& s : parts) {
    pieces.push_back({s.data(), s.size()});
    want += s;
  }
  ASSERT_TRUE(f->pwritev(100, pieces.data(), pieces.size()).ok());
  std::string got(want.size(), '?');
  ASSERT_EQ(*f->pread(100, got.data(), got.size()), want.size());
  EXPECT_EQ(got, want);
  // write_zeros over written data (PosixFs: O_DIRECT) reads back as zeros; data beyond stays.
  ASSERT_TRUE(f->allocate(3 * 4096).ok());
  ASSERT_TRUE(f->pwrite(2 * 4096, "tail", 4).ok());
  ASSERT_TRUE(f->write_zeros(0, 2 * 4096).ok());
  ASSERT_TRUE(f->sync().ok());
  std::string z(2 * 4096 + 4, '?');
  ASSERT_EQ(*f->pread(0, z.data(), z.size()), z.size());
  EXPECT_EQ(z, std::string(2 * 4096, '\0') + "tail");
}

TYPED_TEST(FsConformance, RenameRemoveExists) {
  auto& fs = this->fs();
  ASSERT_TRUE(write_string(fs, this->p("a"), "A").ok());
  ASSERT_TRUE(write_string(fs, this->p("b"), "B").ok());
  EXPECT_EQ(fs.rename_noreplace(this->p("a"), this->p("b")).code(), Errc::kAlreadyExists);
  EXPECT_EQ(*read_string(fs, this->p("a")), "A");
  ASSERT_TRUE(fs.rename(this->p("a"), this->p("b")).ok());  // replaces
  EXPECT_FALSE(*fs.exists(this->p("a")));
  EXPECT_EQ(*read_string(fs, this->p("b")), "A");
  ASSERT_TRUE(fs.rename_noreplace(this->p("b"), this->p("c")).ok());
  EXPECT_EQ(*read_string(fs, this->p("c")), "A");
  EXPECT_EQ(fs.rename(this->p("nope"), this->p("d")).code(), Errc::kNotFound);
  ASSERT_TRUE(fs.remove(this->p("c")).ok());
  EXPECT_FALSE(*fs.exists(this->p("c")));
  EXPECT_EQ(fs.remove(this->p("c")).code(), Errc::kNotFound);
}

TYPED_TEST(FsConformance, MkdirsListSorted) {
  auto& fs = this->fs();
  ASSERT_TRUE(fs.mkdirs(this->p("d/e/f")).ok());
  ASSERT_TRUE(fs.mkdirs(this->p("d/e/f")).ok());  // idempotent
  EXPECT_TRUE(*fs.exists(this->p("d/e")));
  for (std::string n : {"zeta", "alpha", "m-1", "m.2"}) {
    ASSERT_TRUE(write_string(fs, this->p("d/" + n), n).ok());
  }
  auto names = fs.list(this->p("d"));
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"alpha", "e", "m-1", "m.2", "zeta"}));
  EXPECT_EQ(fs.list(this->p("nope")).code(), Errc::kNotFound);
  EXPECT_FALSE(fs.remove(this->p("d/e")).ok());  // not empty
  ASSERT_TRUE(fs.remove(this->p("d/e/f")).ok());
  ASSERT_TRUE(fs.remove(this->p("d/e")).ok());
  EXPECT_TRUE(fs.sync_dir(this->p("d")).ok());
  EXPECT_EQ(fs.sync_dir(this->p("nope")).code(), Errc::kNotFound);
  EXPECT_EQ(fs.mkdirs(this->p("d/alpha/x")).ok(), false);  // a file is in the way
}

TYPED_TEST(FsConformance, WriteFileAtomicReplaces) {
  auto& fs = this->fs();
  ASSERT_TRUE(write_file_atomic(fs, this->p("cfg"), Buf::copy("one")).ok());
  ASSERT_TRUE(write_file_atomic(fs, this->p("cfg"), Buf::copy("two!")).ok());
  auto b = read_file(fs, this->p("cfg"));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->view(), "two!");
  EXPECT_FALSE(*fs.exists(this->p("cfg.tmp")));
}

TEST(Path, Helpers) {
  EXPECT_EQ(parent_dir("a/b/c"), "a/b");
  EXPECT_EQ(parent_dir("/a"), "/");
  EXPECT_EQ(parent_dir("/a/b/"), "/a");
  EXPECT_EQ(parent_dir("a"), "");
  EXPECT_EQ(base_name("a/b/c"), "c");
  EXPECT_EQ(base_name("/a/b/"), "b");
  EXPECT_EQ(join_path("/x", "y"), "/x/y");
  EXPECT_EQ(join_path("/x/", "y"), "/x/y");
}

}  // namespace
}  // namespace shale::io
