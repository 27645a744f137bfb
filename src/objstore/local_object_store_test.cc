// LocalObjectStore durability: what a crash or a failing disk leaves visible.
#include "objstore/local_object_store.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "io/faulty_fs.h"
#include "io/mem_fs.h"
#include "objstore/store_util.h"

namespace shale::objstore {
namespace {

std::vector<std::string> list_keys(ObjectStore& s) {
  std::vector<std::string> out;
  auto page = s.list("");
  if (!page.ok()) return {"<list failed>"};
  for (const auto& o : page->objects) out.push_back(o.key);
  return out;
}

TEST(LocalObjectStoreCrash, OkPutSurvivesCrash) {
  io::MemFs fs;
  auto s = LocalObjectStore::open(fs, "/root/store").value();
  ASSERT_TRUE(s->put("k/1", Buf::copy("durable")).ok());
  auto id = s->begin_multipart("k/2").value();
  ASSERT_TRUE(s->upload_part("k/2", id, 1, Buf::copy("multi")).ok());
  ASSERT_TRUE(s->complete_multipart("k/2", id, 1).ok());
  fs.crash();
  s = LocalObjectStore::open(fs, "/root/store").value();
  EXPECT_EQ(s->get("k/1")->data.view(), "durable");
  EXPECT_EQ(s->get("k/2")->data.view(), "multi");
  ASSERT_TRUE(s->remove({"k/1"}).ok());
  fs.crash();
  s = LocalObjectStore::open(fs, "/root/store").value();
  EXPECT_EQ(s->get("k/1").code(), Errc::kNotFound);  // the OK'd remove is durable too
}

TEST(LocalObjectStoreCrash, FailedWriteNeverLeavesPartialObject) {
  io::MemFs mem;
  io::FaultyFs fs(mem, 3);
  auto s = LocalObjectStore::open(fs, "/store").value();
  ASSERT_TRUE(s->put("old", Buf::copy("v1")).ok());
  const std::string big(10000, 'z');  // (compared by size only)
  for (io::FsOp op : {io::FsOp::kPwrite, io::FsOp::kSync, io::FsOp::kRename, io::FsOp::kOpen}) {
    int id = fs.add_fault(
        {.ops = static_cast<io::FsOpMask>(op), .nth = 1, .and_after = true, .short_write = true});
    EXPECT_FALSE(s->put("new", Buf::copy(big)).ok());
    EXPECT_FALSE(s->put("old", Buf::copy(big)).ok());
    fs.remove_fault(id);
    EXPECT_EQ(s->get("new").code(), Errc::kNotFound);
    EXPECT_EQ(s->get("old")->data.view(), "v1");
    EXPECT_EQ(list_keys(*s), (std::vector<std::string>{"old"}));
  }
  // A failed sync_dir after the rename: the object is visible but the put reports failure
  // (the caller must treat the outcome as unknown and may retry).
  fs.add_fault({.ops = static_cast<io::FsOpMask>(io::FsOp::kSyncDir), .nth = 1});
  EXPECT_FALSE(s->put("new", Buf::copy(big)).ok());
  fs.clear_faults();
  EXPECT_EQ(s->get("new")->data.size(), big.size());
}

TEST(LocalObjectStoreCrash, CrashMidPutLeavesOldOrNothing) {
  io::MemFs fs;
  fs.set_crash_torn_tail(true);
  auto s = LocalObjectStore::open(fs, "/store").value();
  ASSERT_TRUE(s->put("k", Buf::copy("old")).ok());
  // Write a temp file as put() would, without publishing it, then crash.
  {
    auto f = fs.open("/store/tmp/x.tmp", io::OpenMode::kCreate).value();
    ASSERT_TRUE(f->pwrite(0, "partial", 7).ok());
  }
  fs.crash();
  s = LocalObjectStore::open(fs, "/store").value();
  EXPECT_EQ(s->get("k")->data.view(), "old");
  EXPECT_EQ(list_keys(*s), (std::vector<std::string>{"k"}));
  EXPECT_TRUE(s->remove_orphaned_temp_files().ok());
  EXPECT_TRUE(fs.list("/store/tmp")->empty());
}

TEST(LocalObjectStore, KeyTooLongForFileName) {
  io::MemFs fs;
  auto s = LocalObjectStore::open(fs, "/store").value();
  EXPECT_EQ(s->put(std::string(300, 'a'), Buf::copy("x")).code(), Errc::kInvalidArgument);
  EXPECT_EQ(s->put("x/" + std::string(100, '%'), Buf::copy("x")).code(), Errc::kInvalidArgument);
  EXPECT_EQ(s->put(std::string(253, 'd') + "/x", Buf::copy("x")).code(), Errc::kInvalidArgument);
  EXPECT_TRUE(s->put(std::string(255, 'a'), Buf::copy("x")).ok());
  // The limit is per component (one file name), not per key.
  const std::string deep = std::string(200, 'a') + "/" + std::string(200, 'b') + "/c";
  EXPECT_TRUE(s->put(deep, Buf::copy("deep")).ok());
  EXPECT_EQ(s->get(deep)->data.view(), "deep");
  // Keys that are only slashes or end in one are objects too.
  for (std::string k : {"/", "//", "d/", "/d"}) {
    ASSERT_TRUE(s->put(k, Buf::copy(k)).ok()) << k;
    EXPECT_EQ(s->get(k)->data.view(), k);
  }
  EXPECT_EQ(list_keys(*s),
            (std::vector<std::string>{"/", "//", "/d", deep, std::string(255, 'a'), "d/"}));
}

// head() is a stat and list(prefix) reads only the directories below the prefix, however many
// objects live elsewhere.
TEST(LocalObjectStore, HeadIsAStatAndListVisitsOnlyThePrefix) {
  io::MemFs mem;
  io::FaultyFs fs(mem);
  auto s = LocalObjectStore::open(fs, "/store").value();
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(s->put(fmt::format("streams/{}/{:04}.obj", i % 30, i), Buf::copy("x")).ok());
  }
  ASSERT_TRUE(s->put("other/7/big.obj", Buf::copy(std::string(100000, 'b'))).ok());
  const uint64_t preads = fs.op_count(io::FsOp::kPread);
  auto h = s->head("other/7/big.obj");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->size, 100000u);
  EXPECT_EQ(fs.op_count(io::FsOp::kPread), preads);  // no byte of the object read
  EXPECT_EQ(s->head("other/7/none").code(), Errc::kNotFound);
  EXPECT_EQ(s->head("nowhere/none").code(), Errc::kNotFound);

  const uint64_t lists = fs.op_count(io::FsOp::kList), opens = fs.op_count(io::FsOp::kOpen);
  auto page = s->list("streams/7/");
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->objects.size(), 10u);
  EXPECT_EQ(page->objects.front().key, "streams/7/0007.obj");
  EXPECT_EQ(fs.op_count(io::FsOp::kList) - lists, 1u);   // one directory read
  EXPECT_EQ(fs.op_count(io::FsOp::kOpen) - opens, 10u);  // one stat per listed object
  // A partial last component: streams/1, streams/10..19 (not streams/2...).
  page = s->list("streams/1", "", 15);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->objects.size(), 15u);
  EXPECT_EQ(page->objects.front().key, "streams/1/0001.obj");
  EXPECT_EQ(page->objects.back().key, "streams/10/0130.obj");
  // The next page resumes after the token and skips the directories before it unread.
  const uint64_t lists2 = fs.op_count(io::FsOp::kList);
  auto next = s->list("streams/1", page->next_token, 1000);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->objects.size(), 11u * 10 - 15);
  EXPECT_EQ(next->objects.front().key, "streams/10/0160.obj");
  EXPECT_TRUE(next->next_token.empty());
  EXPECT_EQ(fs.op_count(io::FsOp::kList) - lists2, 1u + 10);  // streams/, 10/ .. 19/
  EXPECT_TRUE(s->list("streams/99/")->objects.empty());
}

// A root written with the old flat layout (objects/<escaped key>) is moved into the tree on open.
TEST(LocalObjectStore, OpenMovesFlatLayoutIntoTree) {
  io::MemFs fs;
  { auto s = LocalObjectStore::open(fs, "/store").value(); }
  for (std::string k : {"a/b/c.obj", "a/d", "top"}) {
    auto f = fs.open("/store/objects/" + escape_key(k), io::OpenMode::kCreate).value();
    ASSERT_TRUE(f->pwrite(0, k.data(), k.size()).ok());
    ASSERT_TRUE(f->sync().ok());
  }
  ASSERT_TRUE(fs.sync_dir("/store/objects").ok());
  auto s = LocalObjectStore::open(fs, "/store").value();
  EXPECT_EQ(list_keys(*s), (std::vector<std::string>{"a/b/c.obj", "a/d", "top"}));
  EXPECT_EQ(s->get("a/b/c.obj")->data.view(), "a/b/c.obj");
  EXPECT_FALSE(*fs.exists("/store/objects/a%2Fb%2Fc.obj"));
  fs.crash();  // the move was durable
  s = LocalObjectStore::open(fs, "/store").value();
  EXPECT_EQ(s->get("a/d")->data.view(), "a/d");
  EXPECT_EQ(list_keys(*s), (std::vector<std::string>{"a/b/c.obj", "a/d", "top"}));
}

TEST(LocalObjectStore, CompleteRemovesStagingFiles) {
  io::MemFs fs;
  auto s = LocalObjectStore::open(fs, "/store").value();
  auto id = s->begin_multipart("k").value();
  ASSERT_TRUE(s->upload_part("k", id, 1, Buf::copy("a")).ok());
  ASSERT_TRUE(s->upload_part("k", id, 2, Buf::copy("b")).ok());
  ASSERT_TRUE(s->complete_multipart("k", id, 2).ok());
  EXPECT_TRUE(fs.list("/store/multipart")->empty());
  EXPECT_TRUE(fs.list("/store/tmp")->empty());
  EXPECT_EQ(s->get("k")->data.view(), "ab");
}

}  // namespace
}  // namespace shale::objstore

namespace shale::objstore {
namespace {

// Random puts/removes against a disk that fails randomly (short writes, failed syncs, renames)
// and crashes with torn tails. After every crash: every acknowledged object reads back exactly;
// an object whose put failed is either absent, its previous version, or the complete new one.
class LocalStoreRandomCrash : public ::testing::TestWithParam<uint32_t> {};

TEST_P(LocalStoreRandomCrash, NeverExposesPartialObjects) {
  const uint32_t seed = GetParam();
  io::MemFs mem(seed);
  mem.set_crash_mode(seed % 2 ? io::MemFs::CrashMode::kTornTail
                              : io::MemFs::CrashMode::kTornSectors);
  io::FaultyFs fs(mem, seed + 1);
  std::mt19937 rng(seed + 2);
  std::map<std::string, std::string> acked;               // key -> content (absent = removed)
  std::map<std::string, std::set<std::string>> possible;  // in-doubt key -> allowed contents
  for (int round = 0; round < 30; ++round) {
    auto s = LocalObjectStore::open(mem, "/store").value();
    auto faulty = LocalObjectStore::open(fs, "/store").value();
    fs.add_fault({.ops = io::kFsWriteOps, .probability = 0.05, .short_write = true});
    for (int i = 0; i < 20; ++i) {
      const std::string key = fmt::format("k{}", rng() % 8);
      if (rng() % 4 == 0) {
        Status st = faulty->remove({key});
        if (st.ok()) {
          acked.erase(key);
          possible.erase(key);
        } else {
          possible[key].insert("");  // may or may not be gone
          if (acked.count(key)) possible[key].insert(acked[key]);
          acked.erase(key);
        }
        continue;
      }
      const std::string content(1 + rng() % 5000, static_cast<char>('a' + round % 26));
      const std::string tagged = fmt::format("{}:{}", round * 100 + i, content);
      Status st = faulty->put(key, Buf::copy(tagged));
      if (st.ok()) {
        acked[key] = tagged;
        possible.erase(key);
      } else {
        auto& p = possible[key];
        p.insert(tagged);
        if (acked.count(key)) p.insert(acked[key]);
        if (!acked.count(key)) p.insert("");
        acked.erase(key);
      }
    }
    fs.clear_faults();
    faulty.reset();
    s.reset();
    mem.crash();
    s = LocalObjectStore::open(mem, "/store").value();
    for (const auto& [key, content] : acked) {
      auto g = s->get(key);
      ASSERT_TRUE(g.ok()) << "round " << round << " lost acked " << key;
      ASSERT_EQ(g->data.view(), content) << key;
    }
    for (auto& [key, options] : possible) {
      auto g = s->get(key);
      std::string got = g.ok() ? std::string(g->data.view()) : std::string();
      ASSERT_TRUE(options.count(got))
          << "round " << round << " " << key << " has " << got.size() << " unexpected bytes";
      // Resolve the doubt with what is there now.
      if (g.ok()) acked[key] = got;
    }
    possible.clear();
    auto page = s->list("");
    ASSERT_TRUE(page.ok());
    for (const auto& o : page->objects) {
      ASSERT_TRUE(acked.count(o.key)) << "unexpected object " << o.key;
    }
  }
  EXPECT_GT(fs.injected(), 20u);  // the faults really fired
}

INSTANTIATE_TEST_SUITE_P(Seeds, LocalStoreRandomCrash, ::testing::Range(1u, 11u));

}  // namespace
}  // namespace shale::objstore
