// objfmt against the real ObjectStore implementations (MemObjectStore, LocalObjectStore on MemFs):
// the range semantics objfmt relies on (suffix reads of small objects, absolute tail reads,
// ranges of blocks) hold for them too, not only for the test store.
#include <gtest/gtest.h>

#include <future>

#include "io/mem_fs.h"
#include "objfmt/catchup_reader.h"
#include "objfmt/compact.h"
#include "objfmt/test_util.h"
#include "objstore/local_object_store.h"
#include "objstore/mem_object_store.h"

namespace shale::objfmt {
namespace {

using testing::make_batch;

class StoreIntegration : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) {
      auto st = objstore::LocalObjectStore::open(fs_, "/objects");
      ASSERT_TRUE(st.ok()) << st.error().to_string();
      store_ = std::move(*st);
    } else {
      store_ = std::make_unique<objstore::MemObjectStore>();
    }
  }
  io::MemFs fs_;
  std::unique_ptr<objstore::ObjectStore> store_;
};

TEST_P(StoreIntegration, LayoutReadAndCompactThroughRealStore) {
  std::vector<ObjectSlice> slices;
  std::vector<Buf> batches;
  Offset next(0);
  for (int o = 0; o < 3; o++) {
    ObjectBuilder b(4096);
    ObjectSlice sl{fmt::format("s/{}", o), 0, next, next};
    // Object 0 is small (smaller than the 64 KiB tail read), the others are bigger.
    const int n = o == 0 ? 5 : 100;
    for (int i = 0; i < n; i++) {
      Buf batch = make_batch(StreamId(9), next, 1500);
      ASSERT_TRUE(b.add(StreamId(9), next, 2, next.value(), batch).ok());
      batches.push_back(batch);
      next = next + 2;
    }
    // Another stream after it, which every read and the compaction must skip.
    ASSERT_TRUE(
        b.add(StreamId(10), Offset(o), 1, 0, make_batch(StreamId(10), Offset(o), 100)).ok());
    auto built = b.finish();
    sl.end = next;
    sl.object_size = built.size;
    ASSERT_TRUE(store_->put(sl.key, built.parts).ok());
    slices.push_back(sl);
    for (uint64_t hint : {uint64_t{0}, built.size}) {
      auto layout = read_layout(*store_, sl.key, hint);
      ASSERT_TRUE(layout.ok()) << layout.error().to_string();
      EXPECT_EQ(layout->index, built.index);
    }
    EXPECT_EQ(read_layout(*store_, sl.key, built.size + 1).code(), Errc::kCorruption);
  }

  BlockCache cache(8 << 20);
  CatchUpReader reader(*store_, cache, {});
  std::promise<Result<CatchUpResult>> p;
  ASSERT_TRUE(
      reader
          .read(StreamId(9), Offset(3), 1 << 30, slices, [&](auto r) { p.set_value(std::move(r)); })
          .ok());
  auto res = p.get_future().get();
  ASSERT_TRUE(res.ok()) << res.error().to_string();
  ASSERT_EQ(res->batches.size(), batches.size() - 1);  // from the batch holding offset 3
  for (size_t i = 0; i < res->batches.size(); i++) {
    EXPECT_TRUE(res->batches[i].batch == batches[i + 1]);
  }

  std::vector<SourceObject> sources;
  for (const auto& sl : slices) sources.push_back({sl.key, *read_layout(*store_, sl.key)});
  auto merged = compact(*store_, sources, {{StreamId(9), {Offset(0), next}}});
  ASSERT_TRUE(merged.ok()) << merged.error().to_string();
  ASSERT_EQ(merged->objects.size(), 1u);
  EXPECT_EQ(merged->batches_kept, batches.size());
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreIntegration, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Local" : "Mem"; });

}  // namespace
}  // namespace shale::objfmt
