// Format 2 object WAL objects (object_wal.h): each object is a stream-set object in the objfmt
// format, so the stream store can adopt it; these tests check the layout, the positions, the
// replay, the one-epoch-per-stream rule, and that kept (adopted) objects survive trim and sweep.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "objfmt/object.h"
#include "wal/object_wal_test_util.h"

namespace shale::wal {
namespace {

WalRecord rec2(uint64_t stream, int64_t epoch, int64_t base, int32_t count, std::string payload,
               int64_t max_ts) {
  WalRecord r{StreamId(stream), Epoch(epoch), Offset(base), count, Buf::copy(payload)};
  r.max_ts = max_ts;
  return r;
}

std::string describe(const WalRecord& r) {
  return fmt::format("{}:{}:{}:{}:{}:{}", r.stream.value(), r.epoch.value(), r.base.value(),
                     r.count, r.max_ts, r.payload.view());
}

TEST(ObjectWalFormat2, ObjectsAreStreamSetObjectsAndReplayAtTheAckedPositions) {
  Env env;
  std::vector<WalRecord> recs;
  std::map<uint64_t, int64_t> next;
  for (int i = 0; i < 60; ++i) {
    const uint64_t stream = 1 + (i * 5) % 3;
    recs.push_back(rec2(stream, 10 + static_cast<int64_t>(stream), next[stream], 2,
                        std::string(50 + i, 'a' + i % 26), 1000 + i));
    next[stream] += 2;
  }
  std::map<int64_t, std::string> acked;  // position -> record
  {
    ObjectWal w(env.store, *env.meta, env.opts(1, /*flush_bytes=*/2048, /*delay_ms=*/50));
    EXPECT_TRUE(replay(w).empty());
    ASSERT_TRUE(w.start().ok());
    auto res = append_all(w, recs);
    std::set<std::string> keys;
    for (size_t i = 0; i < recs.size(); ++i) {
      ASSERT_TRUE(res[i].ok());
      acked[res[i]->value()] = describe(recs[i]);
      auto obj = w.object_at(*res[i]);
      ASSERT_TRUE(obj) << "no adoptable object at " << res[i]->value();
      EXPECT_LE(obj->start, *res[i]);
      EXPECT_LT(*res[i], obj->end);
      keys.insert(obj->key);
    }
    EXPECT_EQ(acked.size(), recs.size()) << "two records at one position";
    EXPECT_GT(keys.size(), 1u);
    // Each object is an objfmt object: its per-stream ranges hold exactly the batches appended.
    std::map<uint64_t, std::vector<int64_t>> bases;
    uint32_t records = 0;
    for (const auto& key : keys) {
      auto obj = w.object_at(WalPos(std::stoll(key.substr(key.rfind('/') + 1)) + 1));
      ASSERT_TRUE(obj);
      records += obj->records;
      auto layout = objfmt::read_layout(env.store, key, obj->size);
      ASSERT_TRUE(layout.ok()) << layout.status().to_string();
      ASSERT_EQ(layout->index.front().stream.value(), 0u);  // the WAL header block
      for (const auto& rg : obj->ranges) EXPECT_GT(rg.stream.value(), 0u);
      for (size_t b = 1; b < layout->index.size(); ++b) {
        const auto& e = layout->index[b];
        auto got = env.store.get(key, objstore::ByteRange::at(e.position, e.size));
        ASSERT_TRUE(got.ok());
        auto batches = objfmt::decode_block(got->data, e);
        ASSERT_TRUE(batches.ok()) << batches.status().to_string();
        for (const auto& d : *batches) bases[e.stream.value()].push_back(d.base.value());
      }
    }
    EXPECT_EQ(records, recs.size());
    for (auto& [stream, bs] : bases) {
      EXPECT_EQ(bs.size(), 20u) << stream;
      EXPECT_TRUE(std::is_sorted(bs.begin(), bs.end())) << stream;
    }
  }
  ObjectWal w2(env.store, *env.meta, env.opts(2));
  std::map<int64_t, std::string> replayed;
  ASSERT_TRUE(
      w2.recover([&](WalPos p, const WalRecord& r) { replayed[p.value()] = describe(r); }).ok());
  EXPECT_EQ(replayed, acked);
  EXPECT_TRUE(w2.object_at(WalPos(acked.begin()->first)));  // replayed objects are adoptable
}

TEST(ObjectWalFormat2, AStreamAtANewEpochStartsANewObject) {
  Env env;
  ObjectWal w(env.store, *env.meta, env.opts(1, 1 << 20, /*delay_ms=*/50));
  replay(w);
  ASSERT_TRUE(w.start().ok());
  auto res = append_all(w, {rec2(1, 1, 0, 1, "old owner", -1), rec2(2, 1, 0, 1, "other", -1),
                            rec2(1, 2, 0, 1, "new owner", -1)});
  for (auto& r : res) ASSERT_TRUE(r.ok());
  EXPECT_EQ(w.object_at(*res[0])->key, w.object_at(*res[1])->key);
  EXPECT_NE(w.object_at(*res[0])->key, w.object_at(*res[2])->key);
  EXPECT_EQ(env.objects(), 2u);
}

TEST(ObjectWalFormat2, KeptObjectsSurviveTrimAndTheRestartSweep) {
  Env env;
  std::string kept, dropped;
  WalPos end{0};
  {
    ObjectWal w(env.store, *env.meta, env.opts(1, 1 << 20, /*delay_ms=*/0));
    replay(w);
    ASSERT_TRUE(w.start().ok());
    auto a = append_all(w, {rec2(1, 1, 0, 1, "adopted", -1)});
    auto b = append_all(w, {rec2(1, 1, 1, 1, "not adopted", -1)});
    ASSERT_TRUE(a[0].ok() && b[0].ok());
    kept = w.object_at(*a[0])->key;
    dropped = w.object_at(*b[0])->key;
    EXPECT_EQ(w.keep_key_for(kept), w.object_at(*a[0])->keep_key);
    EXPECT_EQ(w.keep_key_for("elsewhere/x"), "");
    EXPECT_TRUE(*w.still_indexed(kept));
    ASSERT_TRUE(env.meta->put(w.keep_key_for(kept), kept).ok());  // what an adopter commits
    end = w.end();
    ASSERT_TRUE(w.trim(end).ok());
    EXPECT_FALSE(*w.still_indexed(kept));
    EXPECT_TRUE(env.store.get(kept).ok()) << "trim deleted an adopted object";
    EXPECT_FALSE(env.store.get(dropped).ok());
  }
  // An orphan (an upload whose commit never happened) next to the kept object: the sweep
  // deletes the orphan only.
  const std::string orphan = "wal/0000000003/00000000000000000001/00000000000000999999";
  ASSERT_TRUE(env.store.put(orphan, Buf::copy(std::string(100, 'o'))).ok());
  ObjectWal w2(env.store, *env.meta, env.opts(2));
  EXPECT_TRUE(replay(w2).empty());
  EXPECT_TRUE(env.store.get(kept).ok()) << "the sweep deleted an adopted object";
  EXPECT_FALSE(env.store.get(orphan).ok());
}

}  // namespace
}  // namespace shale::wal
