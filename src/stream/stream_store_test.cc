// Unit tests of the stream store: append/read, log cache, uploads and cold reads, trim,
// retention, remove, epoch fencing, back-pressure, compaction and recovery.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "objstore/faulty_object_store.h"
#include "stream/stream_test_util.h"

namespace shale::stream::testing {
namespace {

// Holds the first call of a crash point of `store` (say "get:before") until release(); later
// calls pass. Clears the crash point when destroyed.
class HoldFirstCall {
 public:
  HoldFirstCall(objstore::FaultyObjectStore& store, std::string point)
      : store_(store), point_(std::move(point)), released_(release_.get_future().share()) {
    store_.set_crash_point(point_, [this](const std::string&, const std::string&) {
      if (held_.exchange(true)) return;
      entered_.set_value();
      released_.wait();
    });
  }
  ~HoldFirstCall() { store_.set_crash_point(point_, {}); }
  void wait_entered() { entered_.get_future().wait(); }
  void release() { release_.set_value(); }

 private:
  objstore::FaultyObjectStore& store_;
  const std::string point_;
  std::promise<void> entered_, release_;
  std::shared_future<void> released_;
  std::atomic<bool> held_{false};
};

class StreamStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { boot(small_options()); }
  void boot(StoreOptions o) {
    node_ = std::make_unique<Node>(w_.fs, o);
    ASSERT_OK(node_->boot(*w_.objects, *w_.meta, w_.clock));
  }
  StreamStoreImpl& s() { return node_->store(); }
  StreamId open_new(Epoch e = Epoch(1)) {
    auto id = s().create();
    EXPECT_TRUE(id.ok());
    EXPECT_TRUE(s().open(*id, e).ok());
    return *id;
  }
  // Appends n batches; returns them by base offset.
  std::map<int64_t, Buf> append_n(StreamId id, int n, size_t size = 500, Epoch e = Epoch(1),
                                  int32_t count = 2) {
    std::map<int64_t, Buf> out;
    for (int i = 0; i < n; ++i) {
      Buf b = make_batch(rng_, size, w_.clock.wall_ms());
      // No uploader thread here: upload before back-pressure would block a synchronous append.
      if (s().stats().unuploaded_bytes + b.size() > (48u << 10)) {
        EXPECT_TRUE(s().upload_once().ok());
      }
      auto r = s().append_sync(id, e, b, count);
      EXPECT_TRUE(r.ok()) << r.status().to_string();
      if (!r.ok()) break;
      EXPECT_EQ(base_of(b), r->base);
      out[r->base.value()] = b;
    }
    return out;
  }
  // Reads everything from `from` and checks it against `want` byte for byte.
  void expect_all(StreamId id, Offset from, const std::map<int64_t, Buf>& want,
                  StreamStoreImpl* on = nullptr) {
    StreamStoreImpl& st = on ? *on : s();
    Offset at = from;
    auto end = st.info(id)->end;
    while (at < end) {
      auto r = st.read_sync(id, at, 4096);
      ASSERT_TRUE(r.ok()) << r.status().to_string() << " at " << at.value();
      ASSERT_FALSE(r->batches.empty());
      for (const Buf& b : r->batches) {
        auto it = want.find(base_of(b).value());
        ASSERT_NE(it, want.end()) << "unexpected batch at " << base_of(b).value();
        ASSERT_TRUE(it->second == b) << "bytes differ at " << base_of(b).value();
        at = base_of(b) + 2;
      }
    }
    EXPECT_EQ(at, end);
  }

  World w_;
  std::unique_ptr<Node> node_;
  std::mt19937_64 rng_{1};
};

TEST_F(StreamStoreTest, AppendAssignsContiguousOffsetsAndReadsFromCacheWithoutCopy) {
  StreamId id = open_new();
  auto data = append_n(id, 5);
  ASSERT_EQ(data.size(), 5u);
  EXPECT_EQ(data.begin()->first, 0);
  EXPECT_EQ(s().info(id)->end, Offset(10));
  auto r = s().try_read_cached(id, Offset(3), 1 << 20);
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(r->ok());
  ASSERT_EQ((*r)->batches.size(), 4u);  // the batch holding offset 3 starts at 2
  EXPECT_EQ(base_of((*r)->batches[0]), Offset(2));
  EXPECT_EQ((*r)->batches[0].data(), data[2].data());  // zero copy: same storage
  // At the end: empty; beyond it: out of range.
  auto at_end = s().try_read_cached(id, Offset(10), 100);
  ASSERT_TRUE(at_end && at_end->ok());
  EXPECT_TRUE((*at_end)->batches.empty());
  auto beyond = s().try_read_cached(id, Offset(11), 100);
  ASSERT_TRUE(beyond.has_value());
  EXPECT_EQ(beyond->code(), Errc::kOutOfRange);
  // max_bytes limits the result but always returns one batch.
  auto one = s().read_sync(id, Offset(0), 1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->batches.size(), 1u);
}

// A topic's partitions: one id allocation and one txn per 128 streams (etcd's txn limit), so a
// 300-partition topic costs 4 metadata writes, not 600.
TEST_F(StreamStoreTest, CreateManyBatchesTheMetadataWrites) {
  const Revision before = w_.meta->get("/")->revision;
  auto ids = s().create_many(300, RetentionPolicy{});
  ASSERT_TRUE(ids.ok()) << ids.status().to_string();
  EXPECT_EQ(w_.meta->get("/")->revision.value() - before.value(), 4);
  ASSERT_EQ(ids->size(), 300u);
  std::set<StreamId> distinct(ids->begin(), ids->end());
  EXPECT_EQ(distinct.size(), 300u);
  for (StreamId id : {ids->front(), (*ids)[128], ids->back()}) {
    auto info = s().open(id, Epoch(1));
    ASSERT_TRUE(info.ok()) << info.status().to_string();
    EXPECT_EQ(info->end, Offset(0));
  }
  // Another node sees every one.
  Node other(w_.fs, small_options(), NodeId(2), "/wal2");
  ASSERT_OK(other.boot(*w_.objects, *w_.meta, w_.clock));
  EXPECT_TRUE(other.store().open((*ids)[200], Epoch(1)).ok());
}

TEST_F(StreamStoreTest, AppendRejectsUnknownStreamWrongEpochAndBadInput) {
  StreamId id = open_new(Epoch(3));
  EXPECT_EQ(s().append_sync(StreamId(999), Epoch(3), make_batch(rng_, 10), 1).code(),
            Errc::kNotFound);
  EXPECT_EQ(s().append_sync(id, Epoch(2), make_batch(rng_, 10), 1).code(), Errc::kFenced);
  EXPECT_EQ(s().append_sync(id, Epoch(3), Buf::zeros(4), 1).code(), Errc::kInvalidArgument);
  EXPECT_EQ(s().append_sync(id, Epoch(3), make_batch(rng_, 10), 0).code(), Errc::kInvalidArgument);
  EXPECT_TRUE(s().append_sync(id, Epoch(3), make_batch(rng_, 10), 1).ok());
}

TEST_F(StreamStoreTest, UploadCommitsIndexAndColdReadsServeEvictedData) {
  StreamId id = open_new();
  auto data = append_n(id, 300, 1000);  // ~300 KiB through a 64 KiB cache
  ASSERT_EQ(data.size(), 300u);
  ASSERT_OK(s().flush_uploads());
  EXPECT_GE(s().stats().uploads, 1u);
  EXPECT_EQ(s().stats().unuploaded_bytes, 0u);
  EXPECT_LE(s().stats().cache_bytes, 64u << 10);
  EXPECT_FALSE(s().try_read_cached(id, Offset(0), 100).has_value());  // evicted: cold
  expect_all(id, Offset(0), data);
  EXPECT_GT(s().stats().cold_reads, 0u);
  // The object index is in the metadata store, one record per object.
  auto objs =
      w_.meta->get(std::string(kObjectsPrefix), meta::prefix_end(std::string(kObjectsPrefix)));
  ASSERT_TRUE(objs.ok());
  EXPECT_EQ(objs->kvs.size(), s().stats().objects);
  auto rec = w_.meta->get(stream_key(id));
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(decode_stream(rec->kvs[0].value)->committed_end, Offset(600));
}

TEST_F(StreamStoreTest, UploadTrimsTheWal) {
  StreamId id = open_new();
  append_n(id, 20);
  EXPECT_GT(node_->wal().stats().used_bytes, 0u);
  ASSERT_OK(s().flush_uploads());
  EXPECT_EQ(node_->wal().stats().used_bytes, 0u);
}

TEST_F(StreamStoreTest, RecoveryReplaysUnuploadedAppendsAfterPowerLoss) {
  StreamId id = open_new();
  auto data = append_n(id, 10);
  ASSERT_OK(s().flush_uploads());
  auto more = append_n(id, 10);  // only in the WAL
  data.insert(more.begin(), more.end());
  node_->kill();
  w_.power_loss();
  boot(small_options());
  EXPECT_EQ(s().info(id)->end, Offset(40));
  expect_all(id, Offset(0), data);
  // The stream is reopened at a higher epoch and continues at 40.
  ASSERT_TRUE(s().open(id, Epoch(2)).ok());
  auto r = s().append_sync(id, Epoch(2), make_batch(rng_, 10), 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->base, Offset(40));
}

TEST_F(StreamStoreTest, StopWithoutUploadLeavesDataInTheWalForTheNextStart) {
  auto objects = [&] {
    auto page = w_.objects->list("", {}, 1000);
    EXPECT_TRUE(page.ok());
    return page.ok() ? page->objects.size() : size_t{0};
  };
  StoreOptions o = small_options();
  o.upload_on_stop = false;
  boot(o);
  StreamId id = open_new();
  auto data = append_n(id, 10);
  ASSERT_OK(s().flush_uploads());
  const size_t uploaded = objects();
  ASSERT_GT(uploaded, 0u);
  auto more = append_n(id, 10);  // only in the WAL
  data.insert(more.begin(), more.end());
  node_->shutdown();  // a clean stop, without the final upload
  EXPECT_EQ(objects(), uploaded);
  boot(small_options());  // the next start replays the WAL
  EXPECT_GT(node_->wal().stats().used_bytes, 0u);
  EXPECT_EQ(s().info(id)->end, Offset(40));
  expect_all(id, Offset(0), data);
  // With the default (upload_on_stop = true) the stop uploads it.
  node_->shutdown();
  EXPECT_GT(objects(), uploaded);
}

TEST_F(StreamStoreTest, OpenRequiresAHigherEpochAndFencesTheOldOwner) {
  StreamId id = open_new(Epoch(5));
  EXPECT_EQ(s().open(id, Epoch(5)).code(), Errc::kFenced);
  EXPECT_EQ(s().open(id, Epoch(4)).code(), Errc::kFenced);
  append_n(id, 3, 100, Epoch(5));
  // A second node takes the stream at epoch 6 while node 1 still has un-uploaded data.
  auto data = append_n(id, 2, 100, Epoch(5));
  Node other(w_.fs, small_options(), NodeId(2), "/wal2");
  ASSERT_OK(other.boot(*w_.objects, *w_.meta, w_.clock));
  auto info = other.store().open(id, Epoch(6));
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  // Node 1's upload commit is fenced; its appends fail from then on.
  EXPECT_FALSE(s().flush_uploads().ok());
  EXPECT_EQ(s().append_sync(id, Epoch(5), make_batch(rng_, 10), 1).code(), Errc::kFenced);
  // The new owner continues from what was committed (nothing), not from node 1's WAL.
  auto r = other.store().append_sync(id, Epoch(6), make_batch(rng_, 10), 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->base, info->end);
}

TEST_F(StreamStoreTest, CloseUploadsAndAnotherNodeReadsEverything) {
  StreamId id = open_new();
  auto data = append_n(id, 50, 700);
  ASSERT_OK(s().close(id));
  EXPECT_EQ(s().append_sync(id, Epoch(1), make_batch(rng_, 10), 1).code(), Errc::kNotFound);
  Node other(w_.fs, small_options(), NodeId(2), "/wal2");
  ASSERT_OK(other.boot(*w_.objects, *w_.meta, w_.clock));
  auto info = other.store().open(id, Epoch(2));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->end, Offset(100));
  for (auto& [base, b] : data) {
    auto r = other.store().read_sync(id, Offset(base), 1);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_TRUE(r->batches.at(0) == b);
  }
}

// A new owner's open() reads only what changed in the object index since its last read (new
// object records and pending deletes), not every record: node 2 learns node 1's later uploads,
// forgets the objects node 1's compaction replaced, learns a stream created after its start, and
// reads every byte. When its index is older than delete_grace_ms / 2 it reads everything again.
TEST_F(StreamStoreTest, OpenOnANewOwnerReadsOnlyWhatChangedInTheIndex) {
  StreamId a = open_new();
  StreamId b = open_new();
  std::map<int64_t, Buf> da, db, dc;
  auto round = [&](StreamId x, std::map<int64_t, Buf>& into, Epoch e = Epoch(1)) {
    auto d = append_n(x, 2, 300, e);
    into.insert(d.begin(), d.end());
  };
  for (int i = 0; i < 3; ++i) {
    round(a, da);
    round(b, db);
    ASSERT_OK(s().flush_uploads());
  }
  Node other(w_.fs, small_options(), NodeId(2), "/wal2");
  ASSERT_OK(other.boot(*w_.objects, *w_.meta, w_.clock));  // reads the whole index once
  // After node 2's start: more uploads, a stream it has never heard of (sharing objects with a
  // and b), a compaction that replaces every small object, and a trim.
  StreamId c = open_new();
  for (int i = 0; i < 3; ++i) {
    round(a, da);
    round(b, db);
    round(c, dc);
    ASSERT_OK(s().flush_uploads());
  }
  ASSERT_OK(s().compact_once());
  ASSERT_EQ(s().stats().compactions, 1u);
  ASSERT_OK(s().trim(a, Offset(4)));
  for (auto it = da.begin(); it != da.end();) it = it->first < 4 ? da.erase(it) : std::next(it);
  for (StreamId x : {a, b, c}) ASSERT_OK(s().close(x));

  for (StreamId x : {a, b, c}) ASSERT_OK(other.store().open(x, Epoch(2)));
  EXPECT_EQ(other.store().stats().index_full_reads, 0u);
  EXPECT_EQ(other.store().stats().index_incremental_reads, 3u);
  EXPECT_EQ(other.store().stats().objects, s().stats().objects);  // the replaced ones forgotten
  EXPECT_EQ(other.store().info(a)->start, Offset(4));
  expect_all(a, Offset(4), da, &other.store());
  expect_all(b, Offset(0), db, &other.store());
  expect_all(c, Offset(0), dc, &other.store());

  // Stale (older than delete_grace_ms / 2): the next open reads the whole index.
  ASSERT_OK(other.store().close(b));
  w_.clock.advance(std::chrono::milliseconds(600));
  ASSERT_OK(s().open(b, Epoch(3)));
  round(b, db, Epoch(3));
  ASSERT_OK(s().close(b));
  ASSERT_OK(other.store().open(b, Epoch(4)));
  EXPECT_EQ(other.store().stats().index_full_reads, 1u);
  expect_all(b, Offset(0), db, &other.store());
}

// A stream with one small batch in each of many objects (WAL objects indexed in place look like
// this) is read in large steps: one cold read spans every object it can (it used to stop at 16,
// so a producer-state scan over thousands of such objects took ~30 s).
TEST_F(StreamStoreTest, AColdReadSpansManySmallObjects) {
  StreamId a = open_new();
  std::map<int64_t, Buf> all;
  for (int i = 0; i < 40; ++i) {
    auto d = append_n(a, 1, 200);
    all.insert(d.begin(), d.end());
    ASSERT_OK(s().flush_uploads());
  }
  ASSERT_OK(s().close(a));
  Node other(w_.fs, small_options(), NodeId(2), "/wal2");
  ASSERT_OK(other.boot(*w_.objects, *w_.meta, w_.clock));
  ASSERT_OK(other.store().open(a, Epoch(2)));
  auto r = other.store().read_sync(a, Offset(0), 1 << 20);
  ASSERT_OK(r.status());
  EXPECT_EQ(r->batches.size(), 40u);
  expect_all(a, Offset(0), all, &other.store());
}

// A compaction's output id is allocated before its PUT, so other commits can land with higher
// ids before it does. Another node's incremental index read then finds the compaction's deletes
// (its inputs' pending-delete records) but not its output, whose id is below where the last read
// stopped: the stream it holds had a hole there until the next whole read (seen with every WAL
// object adopted: a coordinator replaying a gained partition got "no object holds offset" for
// 30 s). The incremental read now re-reads the whole index when a delete leaves such a hole.
TEST_F(StreamStoreTest, AnotherNodesIndexFindsALateCompactionsOutput) {
  objstore::FaultyObjectStore faulty(*w_.objects);
  node_ = std::make_unique<Node>(w_.fs, small_options());
  ASSERT_OK(node_->boot(faulty, *w_.meta, w_.clock));
  StreamId a = open_new();
  std::map<int64_t, Buf> da;
  for (int i = 0; i < 3; ++i) {  // three small objects: the compaction's inputs
    auto d = append_n(a, 4);
    da.insert(d.begin(), d.end());
    ASSERT_OK(s().flush_uploads());
  }
  ASSERT_OK(s().close(a));
  Node other(w_.fs, small_options(), NodeId(2), "/wal2");
  ASSERT_OK(other.boot(*w_.objects, *w_.meta, w_.clock));
  ASSERT_OK(other.store().open(a, Epoch(2)));  // node 1 still compacts the objects it wrote

  // Hold node 1's compaction in its output's PUT: the output id is allocated by then.
  auto hold = std::make_unique<HoldFirstCall>(faulty, "put:before");
  auto compaction = std::async(std::launch::async, [&] { return s().compact_once(); });
  hold->wait_entered();
  // Meanwhile two more streams are uploaded (higher object ids, committed first); node 2 reads
  // the first one's objects incrementally, past the compaction's output id.
  std::map<StreamId, std::map<int64_t, Buf>> more;
  for (int k = 0; k < 2; ++k) {
    StreamId x = open_new();
    more[x] = append_n(x, 4);
    ASSERT_OK(s().flush_uploads());
    ASSERT_OK(s().close(x));
  }
  ASSERT_OK(other.store().open(more.begin()->first, Epoch(2)));
  hold->release();
  ASSERT_OK(compaction.get());
  hold.reset();
  ASSERT_EQ(s().stats().compactions, 1u);

  // Node 2's next incremental read sees the inputs deleted; stream `a` must stay readable.
  const auto full_reads = other.store().stats().index_full_reads;
  ASSERT_OK(other.store().open(std::next(more.begin())->first, Epoch(2)));
  EXPECT_EQ(other.store().stats().index_full_reads, full_reads + 1);
  expect_all(a, Offset(0), da, &other.store());
  for (const auto& [x, d] : more) expect_all(x, Offset(0), d, &other.store());
  node_.reset();  // before `faulty`, which it borrows
}

// An upload never waits for a compaction: with the compaction held in its first GET, an upload
// round completes; then the compaction completes and every byte reads back. (Uploads used to
// wait for whole compactions, and appends behind the log cache's back-pressure with them.)
TEST_F(StreamStoreTest, UploadRunsBesideACompaction) {
  objstore::FaultyObjectStore faulty(*w_.objects);
  node_ = std::make_unique<Node>(w_.fs, small_options());
  ASSERT_OK(node_->boot(faulty, *w_.meta, w_.clock));
  StreamId id = open_new();
  std::map<int64_t, Buf> all;
  for (int i = 0; i < 3; ++i) {  // three small stream-set objects: a compaction's inputs
    auto d = append_n(id, 4);
    all.insert(d.begin(), d.end());
    ASSERT_OK(s().flush_uploads());
  }
  auto hold = std::make_unique<HoldFirstCall>(faulty, "get:before");
  auto compaction = std::async(std::launch::async, [&] { return s().compact_once(); });
  hold->wait_entered();
  auto more = append_n(id, 4);
  all.insert(more.begin(), more.end());
  auto upload = std::async(std::launch::async, [&] { return s().flush_uploads(); });
  const bool upload_done = upload.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  hold->release();
  EXPECT_TRUE(upload_done) << "the upload waited for the compaction";
  ASSERT_OK(upload.get());
  ASSERT_OK(compaction.get());
  hold.reset();
  EXPECT_EQ(s().stats().compactions, 1u);
  EXPECT_EQ(s().stats().unuploaded_bytes, 0u);
  expect_all(id, Offset(0), all);
  node_.reset();  // before `faulty`, which it borrows
}

TEST_F(StreamStoreTest, TrimMovesStartAndDeletesDeadObjectsAfterGrace) {
  StreamId id = open_new();
  append_n(id, 10);
  ASSERT_OK(s().flush_uploads());
  auto keep = append_n(id, 10);
  ASSERT_OK(s().flush_uploads());
  auto list = [&] { return w_.objects->list("shale/")->objects.size(); };
  EXPECT_EQ(list(), 2u);
  ASSERT_OK(s().trim(id, Offset(20)));
  EXPECT_EQ(s().info(id)->start, Offset(20));
  EXPECT_EQ(s().read_sync(id, Offset(19), 100).code(), Errc::kOutOfRange);
  ASSERT_OK(s().trim(id, Offset(5)));  // never moves back
  EXPECT_EQ(s().info(id)->start, Offset(20));
  EXPECT_EQ(s().trim(id, Offset(41)).code(), Errc::kOutOfRange);
  ASSERT_OK(s().gc_once());
  EXPECT_EQ(list(), 2u);  // grace period: readers may still hold the object
  w_.clock.advance(std::chrono::milliseconds(1001));
  ASSERT_OK(s().gc_once());
  EXPECT_EQ(list(), 1u);
  expect_all(id, Offset(20), keep);
}

// Only the owner moves a stream's start. A node that released the stream (a __consumer_offsets
// snapshot's trim completing after the partition moved) must not trim it under the new owner:
// that owner's reads from its log start would then fail (the objects below the new start are
// collected), and its group coordinator could not replay the partition.
TEST_F(StreamStoreTest, TrimByANodeThatReleasedTheStreamIsFenced) {
  StreamId id = open_new();
  append_n(id, 10);
  ASSERT_OK(s().close(id));
  EXPECT_EQ(s().trim(id, Offset(4)).code(), Errc::kFenced);  // released: not the owner
  Node other(w_.fs, small_options(), NodeId(2), "/wal2");
  ASSERT_OK(other.boot(*w_.objects, *w_.meta, w_.clock));
  auto info = other.store().open(id, Epoch(2));
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_EQ(s().trim(id, Offset(6)).code(), Errc::kFenced);  // deposed
  EXPECT_EQ(other.store().info(id)->start, Offset(0));
  auto r = other.store().read_sync(id, Offset(0), 100);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_OK(other.store().trim(id, Offset(6)));  // the owner may
  EXPECT_EQ(other.store().info(id)->start, Offset(6));
}

TEST_F(StreamStoreTest, SizeAndTimeRetention) {
  StreamId id = open_new();
  ASSERT_OK(s().set_retention(id, RetentionPolicy{-1, 3000}));
  for (int i = 0; i < 5; ++i) {
    append_n(id, 2, 1000);  // ~2 KiB per upload
    ASSERT_OK(s().flush_uploads());
  }
  ASSERT_OK(s().retention_once());
  auto info = s().info(id);
  EXPECT_EQ(info->start, Offset(12));  // keeps at least 3000 bytes: the last two uploads
  ASSERT_OK(s().set_retention(id, RetentionPolicy{60'000, -1}));
  w_.clock.advance(std::chrono::minutes(2));
  append_n(id, 2, 100);
  ASSERT_OK(s().flush_uploads());
  ASSERT_OK(s().retention_once());
  EXPECT_EQ(s().info(id)->start, Offset(20));  // everything older than a minute is gone
  EXPECT_EQ(s().info(id)->end, Offset(24));
}

// StreamInfo::size_bytes: un-uploaded bytes exactly, uploaded object ranges (block framing
// included), and it shrinks with trim and retention.
TEST_F(StreamStoreTest, SizeBytesFollowsAppendsUploadsTrimAndRetention) {
  StreamId id = open_new();
  EXPECT_EQ(s().info(id)->size_bytes, 0u);
  auto sum = [](const std::map<int64_t, Buf>& m) {
    uint64_t n = 0;
    for (const auto& [o, b] : m) n += b.size();
    return n;
  };
  auto first = append_n(id, 10, 500);  // offsets 0..19, not uploaded
  EXPECT_EQ(s().info(id)->size_bytes, sum(first));
  ASSERT_OK(s().flush_uploads());
  const uint64_t uploaded = s().info(id)->size_bytes;
  EXPECT_GE(uploaded, sum(first));
  EXPECT_LE(uploaded, sum(first) + sum(first) / 10);  // block framing only
  auto second = append_n(id, 10, 300);                // offsets 20..39, in the WAL only
  EXPECT_EQ(s().info(id)->size_bytes, uploaded + sum(second));
  ASSERT_OK(s().trim(id, Offset(10)));  // inside the uploaded range: it still counts
  EXPECT_EQ(s().info(id)->size_bytes, uploaded + sum(second));
  ASSERT_OK(s().trim(id, Offset(20)));  // the whole first object is dead
  EXPECT_EQ(s().info(id)->size_bytes, sum(second));
  ASSERT_OK(s().trim(id, Offset(30)));  // un-uploaded entries below the start are dead too
  uint64_t live = 0;
  for (const auto& [o, b] : second) live += o >= 30 ? b.size() : 0;
  EXPECT_EQ(s().info(id)->size_bytes, live);
  ASSERT_OK(s().flush_uploads());
  const uint64_t before_retention = s().info(id)->size_bytes;
  EXPECT_GT(before_retention, 0u);
  ASSERT_OK(s().set_retention(id, RetentionPolicy{-1, 1}));
  append_n(id, 1, 100);
  ASSERT_OK(s().flush_uploads());
  ASSERT_OK(s().retention_once());
  EXPECT_EQ(s().info(id)->start, Offset(40));  // only the newest object is kept
  EXPECT_LT(s().info(id)->size_bytes, before_retention);
  EXPECT_GT(s().info(id)->size_bytes, 100u);
}

TEST_F(StreamStoreTest, RemoveDeletesStreamAndItsObjects) {
  StreamId id = open_new();
  StreamId other = open_new();
  append_n(id, 5);
  auto keep = append_n(other, 5);
  ASSERT_OK(s().flush_uploads());  // one stream-set object holds both
  ASSERT_OK(s().remove(id));
  EXPECT_EQ(s().info(id).code(), Errc::kNotFound);
  EXPECT_EQ(s().append_sync(id, Epoch(1), make_batch(rng_, 10), 1).code(), Errc::kNotFound);
  w_.clock.advance(std::chrono::seconds(2));
  ASSERT_OK(s().gc_once());
  EXPECT_EQ(w_.objects->list("shale/")->objects.size(), 1u);  // still holds `other`
  ASSERT_OK(s().remove(other));
  w_.clock.advance(std::chrono::seconds(2));
  ASSERT_OK(s().gc_once());
  EXPECT_EQ(w_.objects->list("shale/")->objects.size(), 0u);
}

TEST_F(StreamStoreTest, BackPressureQueuesAppendsUntilAnUploadFreesTheCache) {
  StreamId id = open_new();
  std::atomic<int> done{0};
  std::vector<Buf> sent;
  for (int i = 0; i < 100; ++i) {  // 100 x ~1 KiB into a 64 KiB cache, no uploader thread
    Buf b = make_batch(rng_, 1000);
    sent.push_back(b);
    s().append(id, Epoch(1), b, 1, [&](Result<AppendResult> r) {
      EXPECT_TRUE(r.ok()) << r.status().to_string();
      done++;
    });
  }
  for (int i = 0; i < 200 && done.load() < 60; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_LT(done.load(), 100);
  EXPECT_GT(s().stats().waiting_appends, 0u);
  for (int i = 0; i < 100 && done.load() < 100; ++i) {
    ASSERT_OK(s().upload_once());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(done.load(), 100);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(base_of(sent[i]), Offset(i));  // order kept
}

TEST_F(StreamStoreTest, CompactionMergesSmallObjectsAndKeepsData) {
  StreamId a = open_new();
  StreamId b = open_new();
  std::map<int64_t, Buf> da, db;
  for (int i = 0; i < 5; ++i) {
    auto x = append_n(a, 3, 300);
    auto y = append_n(b, 3, 300);
    da.insert(x.begin(), x.end());
    db.insert(y.begin(), y.end());
    ASSERT_OK(s().flush_uploads());
  }
  ASSERT_OK(s().trim(a, Offset(6)));
  EXPECT_EQ(s().stats().objects, 5u);
  ASSERT_OK(s().compact_once());
  EXPECT_EQ(s().stats().compactions, 1u);
  EXPECT_EQ(s().stats().objects, 1u);
  for (auto it = da.begin(); it != da.end();) it = it->first < 6 ? da.erase(it) : std::next(it);
  expect_all(a, Offset(6), da);
  expect_all(b, Offset(0), db);
  w_.clock.advance(std::chrono::seconds(2));
  ASSERT_OK(s().gc_once());
  EXPECT_EQ(w_.objects->list("shale/")->objects.size(), 1u);
  // The index survives a restart.
  node_->shutdown();
  boot(small_options());
  expect_all(b, Offset(0), db);
}

// Cold reads and compaction each pay into their own bandwidth budget; appends, uploads and tail
// reads pay into neither. A cold read under a small budget takes at least bytes / rate.
TEST_F(StreamStoreTest, ColdReadsAndCompactionPayIntoTheirBandwidthBudgets) {
  node_->shutdown();
  StoreOptions o = small_options();
  o.cold_read_bytes_per_sec = 2 << 20;  // 2 MiB/s
  o.compaction_bytes_per_sec = 1 << 30;
  o.io_budget_burst_bytes = 32 << 10;
  boot(o);
  StreamId id = open_new();
  std::map<int64_t, Buf> data;
  for (int i = 0; i < 6; ++i) {  // six small stream-set objects of ~20 KB
    auto x = append_n(id, 20, 1000);
    data.insert(x.begin(), x.end());
    ASSERT_OK(s().flush_uploads());
  }
  EXPECT_EQ(s().stats().cold_read_budget_bytes, 0u);  // appends and uploads are not charged
  EXPECT_EQ(s().stats().compaction_budget_bytes, 0u);
  const auto t0 = std::chrono::steady_clock::now();
  expect_all(id, Offset(0), data);  // ~120 KB, half evicted from the 64 KiB cache
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const uint64_t cold = s().stats().cold_read_budget_bytes;
  EXPECT_GT(cold, 48u << 10);
  EXPECT_GE(took, 0.95 * static_cast<double>(cold - (32 << 10)) / (2 << 20)) << cold << " bytes";
  EXPECT_EQ(s().stats().compaction_budget_bytes, 0u);

  const uint64_t objects = s().stats().objects;
  ASSERT_GE(objects, 3u);
  ASSERT_OK(s().compact_once());
  ASSERT_EQ(s().stats().compactions, 1u);
  // Compaction read every live byte of its inputs and wrote the merged object.
  const uint64_t charged = s().stats().compaction_budget_bytes;
  EXPECT_GT(charged, 2 * 120u * 1000);
  expect_all(id, Offset(0), data);
}

TEST_F(StreamStoreTest, OffsetForTimestamp) {
  StreamId id = open_new();
  for (int i = 0; i < 4; ++i) {
    Buf bt = make_batch(rng_, 50, 1000 * (i + 1));
    ASSERT_TRUE(s().append_sync(id, Epoch(1), bt, 2).ok());
    if (i == 1) ASSERT_OK(s().flush_uploads());
  }
  auto q = [&](int64_t ts) {
    std::promise<Result<Offset>> p;
    s().offset_for_timestamp(id, ts, [&](Result<Offset> r) { p.set_value(r); });
    return p.get_future().get();
  };
  EXPECT_EQ(*q(0), Offset(0));
  EXPECT_EQ(*q(1500), Offset(2));   // in an object
  EXPECT_EQ(*q(2500), Offset(4));   // in the cache
  EXPECT_EQ(*q(99999), Offset(8));  // none: the end
}

TEST_F(StreamStoreTest, BackgroundUploaderRunsOnSizeAndAge) {
  node_->shutdown();
  StoreOptions o = small_options();
  o.background = true;
  o.upload_interval_ms = 100;
  boot(o);
  StreamId id = open_new();
  append_n(id, 3, 100);
  w_.clock.advance(std::chrono::milliseconds(200));
  for (int i = 0; i < 200 && s().stats().uploads == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_GE(s().stats().uploads, 1u);
  auto data = append_n(id, 100, 1000);  // crosses the size threshold many times
  for (int i = 0; i < 200 && s().stats().unuploaded_bytes > 16u << 10; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_LE(s().stats().unuploaded_bytes, 64u << 10);
}

TEST_F(StreamStoreTest, ConcurrentAppendersWithBackgroundUploadsAndCompaction) {
  node_->shutdown();
  StoreOptions o = small_options();
  o.background = true;
  o.upload_interval_ms = 20;
  o.maintenance_interval_ms = 10;
  boot(o);
  constexpr int kStreams = 6, kAppends = 300;
  std::vector<StreamId> ids;
  for (int i = 0; i < kStreams; ++i) ids.push_back(open_new());
  std::vector<std::map<int64_t, Buf>> sent(kStreams);
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);
      for (int i = 0; i < kAppends; ++i) {
        for (int k = t * 2; k < t * 2 + 2; ++k) {
          Buf b = make_batch(rng, 100 + rng() % 2000);
          auto r = s().append_sync(ids[k], Epoch(1), b, 2);
          ASSERT_TRUE(r.ok()) << r.status().to_string();
          sent[k][r->base.value()] = b;
          if (i % 50 == 0) {
            auto rd = s().read_sync(ids[k], Offset(0), 4096);  // concurrent cold/tail reads
            ASSERT_TRUE(rd.ok()) << rd.status().to_string();
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int k = 0; k < kStreams; ++k) expect_all(ids[k], Offset(0), sent[k]);
  EXPECT_GT(s().stats().uploads, 1u);
  node_->shutdown();
  boot(small_options());
  for (int k = 0; k < kStreams; ++k) expect_all(ids[k], Offset(0), sent[k]);
}

}  // namespace
}  // namespace shale::stream::testing
