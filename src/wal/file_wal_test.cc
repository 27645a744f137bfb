// FileWal on MemFs/FaultyFs: round trips, group commit, back-pressure, trim persistence, I/O
// errors, and recovery from every kind of corrupt input.
#include "wal/file_wal.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "base/crc32c.h"
#include "io/faulty_fs.h"
#include "io/mem_fs.h"
#include "wal/wal_test_util.h"

namespace shale::wal {
namespace {

using namespace shale::wal::testing;  // NOLINT
using format::kSegmentHeaderSize;

constexpr uint64_t kCap = (16 << 10) - kSegmentHeaderSize;  // data bytes per small segment

class FileWalTest : public ::testing::Test {
 protected:
  std::unique_ptr<FileWal> open(FileWalOptions o, Recovered* rec, io::Filesystem* fs = nullptr) {
    auto w = std::make_unique<FileWal>(fs ? *fs : fs_, std::move(o));
    Recovered tmp;
    Status st = recover_into(*w, rec ? rec : &tmp);
    EXPECT_TRUE(st.ok()) << st.to_string();
    EXPECT_TRUE(w->start().ok());
    return w;
  }
  Status recover_status(FileWalOptions o, Recovered* rec = nullptr) {
    FileWal w(fs_, std::move(o));
    Recovered tmp;
    return recover_into(w, rec ? rec : &tmp);
  }
  // Flips bytes in slot file `slot` at file offset `off`.
  void poke(uint32_t slot, uint64_t off, const std::vector<uint8_t>& bytes) {
    auto f = fs_.open(fmt::format("/wal/seg-{:06}.wal", slot), io::OpenMode::kReadWrite).value();
    ASSERT_TRUE(f->pwrite(off, bytes.data(), bytes.size()).ok());
    ASSERT_TRUE(f->sync().ok());
  }
  uint8_t peek(uint32_t slot, uint64_t off) {
    auto f = fs_.open(fmt::format("/wal/seg-{:06}.wal", slot), io::OpenMode::kRead).value();
    uint8_t b = 0;
    EXPECT_TRUE(f->pread(off, &b, 1).ok());
    return b;
  }
  void flip(uint32_t slot, uint64_t off) {
    poke(slot, off, {static_cast<uint8_t>(peek(slot, off) ^ 0x5A)});
  }

  io::MemFs fs_;
};

TEST_F(FileWalTest, AppendRecoverRoundTrip) {
  std::vector<WalPos> acked;
  {
    auto w = open(small_options(), nullptr);
    for (uint64_t id = 0; id < 50; ++id) {
      auto r = append_sync(*w, make_record(id, 8 + id * 37 % 1500));
      ASSERT_TRUE(r.ok()) << r.error().to_string();
      acked.push_back(*r);
    }
    EXPECT_EQ(w->stats().acked_appends, 50u);
    w->stop();
  }
  Recovered rec;
  auto w = open(small_options(), &rec);
  ASSERT_EQ(rec.recs.size(), 50u);
  for (uint64_t id = 0; id < 50; ++id) {
    EXPECT_EQ(record_id(rec.recs[id]), id);
    EXPECT_TRUE(record_intact(rec.recs[id]));
    EXPECT_EQ(rec.pos[id], acked[id]);
  }
  // Positions increase forever, across segment boundaries (50 records span several segments).
  for (size_t i = 1; i < acked.size(); ++i) EXPECT_GT(acked[i], acked[i - 1]);
  EXPECT_GT(acked.back().value(), static_cast<int64_t>(kCap));
  // Appends continue after the recovered end.
  auto r = append_sync(*w, make_record(50, 100));
  ASSERT_TRUE(r.ok());
  EXPECT_GE(r->value(), acked.back().value());
}

TEST_F(FileWalTest, CallbacksInAppendOrderAndGroupCommitBatches) {
  FileWalOptions o = small_options();
  o.max_total_size = 1 << 20;
  // Make each fdatasync take a while so appends pile up behind the commit in flight.
  o.crash_hook = [](std::string_view p) {
    if (p == "after_write_before_sync") std::this_thread::sleep_for(std::chrono::microseconds(300));
    return false;
  };
  auto w = open(o, nullptr);
  constexpr int kThreads = 8, kPer = 100;
  std::mutex mu;
  std::vector<WalPos> order;  // positions in callback order
  std::atomic<int> done{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i) {
        w->append(make_record(t * 1000 + i, 200), [&](Result<WalPos> r) {
          ASSERT_TRUE(r.ok());
          std::lock_guard<std::mutex> l(mu);
          order.push_back(*r);
          ++done;
        });
      }
    });
  }
  for (auto& t : ts) t.join();
  w->stop();
  ASSERT_EQ(done.load(), kThreads * kPer);
  for (size_t i = 1; i < order.size(); ++i) ASSERT_GT(order[i], order[i - 1]);
  WalStats s = w->stats();
  EXPECT_EQ(s.acked_appends, static_cast<uint64_t>(kThreads * kPer));
  EXPECT_LT(s.commits, s.acked_appends / 4) << "group commit did not batch";
  EXPECT_LE(fs_.sync_count(), s.commits + 64);  // one fdatasync per commit (+ file preparation)
}

TEST_F(FileWalTest, BackPressureQueuesUntilTrim) {
  FileWalOptions o = small_options();
  o.max_total_size = 2 * (16 << 10);  // two slots
  auto w = open(o, nullptr);
  Completions c;
  // Each record takes a third of a segment: 2 per segment (the third does not fit).
  const size_t psize = kCap / 3;
  for (uint64_t id = 0; id < 6; ++id) w->append(make_record(id, psize), c.cb(id));
  c.wait_for(4);
  // Segments 0 and 1 are full; segment 2 needs slot 0 back.
  EXPECT_FALSE(c.wait_for(5, std::chrono::milliseconds(100)));
  EXPECT_EQ(w->stats().waiting_appends, 2u);
  EXPECT_TRUE(c.failed().empty());
  // Trimming into segment 0 frees nothing; trimming past it frees slot 0.
  ASSERT_TRUE(w->trim(c.acked()[1].second).ok());
  EXPECT_FALSE(c.wait_for(5, std::chrono::milliseconds(50)));
  ASSERT_TRUE(w->trim(c.acked()[2].second).ok());
  c.wait_for(6);
  EXPECT_EQ(c.acked().size(), 6u);
  EXPECT_EQ(w->stats().waiting_appends, 0u);
  EXPECT_EQ(c.acked()[4].second.value(), static_cast<int64_t>(2 * kCap));
  w->stop();
  Recovered rec;
  auto w2 = open(o, &rec);
  EXPECT_EQ(rec.ids(), (std::vector<uint64_t>{2, 3, 4, 5}));
  // Only two segment files ever existed: slot 0 was recycled, not recreated.
  auto names = fs_.list("/wal").value();
  EXPECT_EQ(std::count_if(names.begin(), names.end(),
                          [](const std::string& n) { return n.rfind("seg-", 0) == 0; }),
            2);
}

TEST_F(FileWalTest, StopWhileFullFailsWaitingAppendsWithClosed) {
  FileWalOptions o = small_options();
  o.max_total_size = 2 * (16 << 10);
  auto w = open(o, nullptr);
  Completions c;
  for (uint64_t id = 0; id < 5; ++id) w->append(make_record(id, kCap / 3), c.cb(id));
  c.wait_for(4);
  w->stop();
  c.wait_for(5);
  ASSERT_EQ(c.failed().size(), 1u);
  EXPECT_EQ(c.failed()[0].second, Errc::kClosed);
  Completions after;
  w->append(make_record(9, 10), after.cb(9));
  ASSERT_EQ(after.failed().size(), 1u);
}

TEST_F(FileWalTest, TrimPersistsAcrossRestart) {
  std::vector<WalPos> pos;
  {
    auto w = open(small_options(), nullptr);
    for (uint64_t id = 0; id < 30; ++id) pos.push_back(*append_sync(*w, make_record(id, 700)));
    ASSERT_TRUE(w->trim(pos[17] + 1).ok());  // releases records 0..17
    EXPECT_EQ(w->trim(w->end() + 1).code(), Errc::kOutOfRange);
    EXPECT_TRUE(w->trim(pos[3]).ok());  // going backwards is a no-op
    EXPECT_EQ(w->trim_point(), pos[17] + 1);
    w->stop();
  }
  fs_.crash();  // the trim point is durable without a clean shutdown too
  Recovered rec;
  auto w = open(small_options(), &rec);
  EXPECT_EQ(w->trim_point(), pos[17] + 1);
  ASSERT_EQ(rec.recs.size(), 12u);
  EXPECT_EQ(record_id(rec.recs.front()), 18u);
  EXPECT_EQ(w->stats().used_bytes, static_cast<uint64_t>(w->end().value() - (pos[17] + 1).value()));
}

TEST_F(FileWalTest, OversizedRecordFailsInOrder) {
  auto w = open(small_options(), nullptr);
  Completions c;
  w->append(make_record(1, 100), c.cb(1));
  w->append(make_record(2, kCap), c.cb(2));  // header + payload > segment capacity
  w->append(make_record(3, 100), c.cb(3));
  c.wait_for(3);
  ASSERT_EQ(c.failed().size(), 1u);
  EXPECT_EQ(c.failed()[0], (std::pair<uint64_t, Errc>{2, Errc::kInvalidArgument}));
  EXPECT_EQ(c.acked().size(), 2u);
}

// A failed fdatasync fails the commit's callbacks; the next commit rewrites the same position
// under a new generation, so the failed records never resurface behind it.
TEST_F(FileWalTest, FailedSyncFailsCallbacksAndNeverResurrects) {
  io::FaultyFs faulty(fs_, 7);
  FileWal w(faulty, small_options());
  Recovered tmp;
  ASSERT_TRUE(recover_into(w, &tmp).ok());
  Completions c;
  w.append(make_record(1, 200), c.cb(1));  // queued before start: one commit
  w.append(make_record(2, 200), c.cb(2));
  faulty.add_fault({.ops = static_cast<io::FsOpMask>(io::FsOp::kSync),
                    .path_contains = "seg-000000",
                    .nth = 2});  // 1st sync: segment preparation; 2nd: the commit
  ASSERT_TRUE(w.start().ok());
  c.wait_for(2);
  ASSERT_EQ(c.failed().size(), 2u);
  EXPECT_EQ(c.failed()[0].second, Errc::kIoError);
  auto r3 = append_sync(w, make_record(3, 200));  // same size as record 1: lands exactly on it
  ASSERT_TRUE(r3.ok()) << r3.error().to_string();
  EXPECT_EQ(w.stats().failed_appends, 2u);
  w.stop();
  fs_.crash();
  Recovered rec;
  auto w2 = open(small_options(), &rec);
  EXPECT_EQ(rec.ids(), std::vector<uint64_t>{3});
}

TEST_F(FileWalTest, FailedCheckpointAfterFailedCommitBreaksWal) {
  io::FaultyFs faulty(fs_, 7);
  FileWal w(faulty, small_options());
  Recovered tmp;
  ASSERT_TRUE(recover_into(w, &tmp).ok());
  ASSERT_TRUE(w.start().ok());
  ASSERT_TRUE(append_sync(w, make_record(1, 10)).ok());
  faulty.add_fault(
      {.ops = static_cast<io::FsOpMask>(io::FsOp::kSync), .nth = 1, .and_after = true});
  EXPECT_EQ(append_sync(w, make_record(2, 10)).code(), Errc::kIoError);
  faulty.clear_faults();
  EXPECT_EQ(append_sync(w, make_record(3, 10)).code(), Errc::kIoError);  // broken for good
}

TEST_F(FileWalTest, ExistingWalKeepsItsSegmentSizeAndReportsStats) {
  std::vector<WalPos> pos;
  {
    auto w = open(small_options(), nullptr);
    for (uint64_t id = 0; id < 20; ++id) pos.push_back(*append_sync(*w, make_record(id, 900)));
    WalStats s = w->stats();
    EXPECT_EQ(s.capacity_bytes, 4 * kCap);
    EXPECT_EQ(s.used_bytes, static_cast<uint64_t>(w->end().value()));
    EXPECT_EQ(s.appended_bytes, 20u * 900);
    EXPECT_EQ(s.acked_appends, 20u);
    EXPECT_EQ(s.waiting_appends, 0u);
    w->stop();
  }
  FileWalOptions other = small_options();
  other.segment_size = 64 << 10;  // ignored: the CHECKPOINT says 16 KiB
  other.max_total_size = 1 << 20;
  Recovered rec;
  auto w = open(other, &rec);
  ASSERT_EQ(rec.recs.size(), 20u);
  EXPECT_EQ(rec.pos, pos);
  EXPECT_EQ(w->stats().capacity_bytes, 4 * kCap);
  WalPos p20 = *append_sync(*w, make_record(20, 900));
  EXPECT_EQ(p20, w->end() - static_cast<int64_t>(FileWal::record_span(900)));
}

// ---- Corrupt input ------------------------------------------------------------------------

class FileWalCorruption : public FileWalTest {
 protected:
  // Commit A = records 0,1 (queued before start); commit B = record 2; commit C = record 3.
  void write_three_commits() {
    FileWal w(fs_, small_options());
    Recovered tmp;
    ASSERT_TRUE(recover_into(w, &tmp).ok());
    Completions c;
    w.append(make_record(0, 100), c.cb(0));
    w.append(make_record(1, 100), c.cb(1));
    ASSERT_TRUE(w.start().ok());
    c.wait_for(2);
    pos_.push_back(c.acked()[0].second);
    pos_.push_back(c.acked()[1].second);
    pos_.push_back(*append_sync(w, make_record(2, 100)));
    pos_.push_back(*append_sync(w, make_record(3, 100)));
    w.stop();
  }
  // File offset (slot 0) of the record at position i.
  uint64_t off(size_t i) { return kSegmentHeaderSize + pos_[i].value(); }
  std::vector<WalPos> pos_;
};

TEST_F(FileWalCorruption, BadChecksumInTheMiddleIsCorruption) {
  write_three_commits();
  flip(0, off(2) + 70);  // payload byte of record 2; commit C follows
  Status st = recover_status(small_options());
  EXPECT_EQ(st.code(), Errc::kCorruption);
  EXPECT_NE(st.message().find(fmt::format("wal position {}", pos_[2].value())), std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("bad checksum"), std::string::npos) << st.message();
}

TEST_F(FileWalCorruption, BadLengthInTheMiddleIsCorruption) {
  write_three_commits();
  poke(0, off(1) + 12, {0xFF, 0xFF, 0x00, 0x00});  // record 1's length: 64 KiB, past the segment
  Status st = recover_status(small_options());
  EXPECT_EQ(st.code(), Errc::kCorruption);
  EXPECT_NE(st.message().find("bad length"), std::string::npos) << st.message();
}

TEST_F(FileWalCorruption, WrongRecordMagicInTheMiddleIsCorruption) {
  write_three_commits();
  flip(0, off(2) + 5);
  Status st = recover_status(small_options());
  EXPECT_EQ(st.code(), Errc::kCorruption);
  EXPECT_NE(st.message().find("bad magic"), std::string::npos) << st.message();
}

TEST_F(FileWalCorruption, BadLastRecordIsTornTailAndGetsOverwritten) {
  write_three_commits();
  flip(0, off(3) + 80);
  Recovered rec;
  {
    auto w = open(small_options(), &rec);
    EXPECT_EQ(rec.ids(), (std::vector<uint64_t>{0, 1, 2}));
    EXPECT_EQ(w->end(), pos_[3]);
    auto r = append_sync(*w, make_record(10, 30));  // overwrites the torn record
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, pos_[3]);
    w->stop();
  }
  Recovered again;
  auto w = open(small_options(), &again);
  EXPECT_EQ(again.ids(), (std::vector<uint64_t>{0, 1, 2, 10}));
}

TEST_F(FileWalCorruption, TruncatedTailRecordIsTornTail) {
  write_three_commits();
  // The last record lost its second half (zeros where the payload should be).
  poke(0, off(3) + 100, std::vector<uint8_t>(64, 0));
  Recovered rec;
  ASSERT_TRUE(recover_status(small_options(), &rec).ok());
  EXPECT_EQ(rec.ids(), (std::vector<uint64_t>{0, 1, 2}));
}

TEST_F(FileWalCorruption, TornRecordFollowedBySameCommitRecordsIsTornTail) {
  write_three_commits();
  // Record 0 is bad but only record 1 of the same (torn) commit follows... and then commits B
  // and C, which prove record 0 was durable: corruption. Without B and C it would be a tail.
  flip(0, off(0) + 70);
  EXPECT_EQ(recover_status(small_options()).code(), Errc::kCorruption);
  poke(0, off(2), std::vector<uint8_t>(2 * 168, 0));  // erase commits B and C
  Recovered rec;
  ASSERT_TRUE(recover_status(small_options(), &rec).ok());
  EXPECT_TRUE(rec.recs.empty());
}

TEST_F(FileWalCorruption, WrongSegmentVersionIsCorruption) {
  write_three_commits();
  // A segment header with a valid checksum but an unknown version.
  std::vector<uint8_t> hdr(kSegmentHeaderSize);
  format::encode_segment_header({0, 0, 16 << 10, 1, 4}, hdr.data());
  store_le<uint32_t>(hdr.data() + 8, 2);
  store_le<uint32_t>(hdr.data(), crc32c(hdr.data() + 4, format::kSegmentHeaderUsed - 4));
  poke(0, 0, hdr);
  Status st = recover_status(small_options());
  EXPECT_EQ(st.code(), Errc::kCorruption);
  EXPECT_NE(st.message().find("version 2"), std::string::npos) << st.message();
}

TEST_F(FileWalCorruption, WrongSegmentMagicHoldingTrimPointIsCorruption) {
  write_three_commits();
  {
    auto w = open(small_options(), nullptr);
    ASSERT_TRUE(w->trim(pos_[1]).ok());
    w->stop();
  }
  flip(0, 5);  // segment 0's magic: the segment holding the trim point is gone
  Status st = recover_status(small_options());
  EXPECT_EQ(st.code(), Errc::kCorruption);
  EXPECT_NE(st.message().find("trim point"), std::string::npos) << st.message();
}

TEST_F(FileWalCorruption, WrongSegmentMagicAtTheEndIsAnUnstartedSegment) {
  // Records fill segment 0 and start segment 1; segment 1's header is torn.
  std::vector<WalPos> pos;
  {
    auto w = open(small_options(), nullptr);
    for (uint64_t id = 0; id < 14; ++id) pos.push_back(*append_sync(*w, make_record(id, 1000)));
    w->stop();
  }
  ASSERT_GE(pos.back().value(), static_cast<int64_t>(kCap));
  flip(1, 5);
  Recovered rec;
  ASSERT_TRUE(recover_status(small_options(), &rec).ok());
  EXPECT_EQ(rec.ids().size(), 11u);  // the 11 records of segment 0
}

TEST_F(FileWalCorruption, StaleRecordsOfRecycledSegmentAreNotReplayed) {
  FileWalOptions o = small_options();
  o.max_total_size = 2 * (16 << 10);
  std::vector<WalPos> pos;
  {
    auto w = open(o, nullptr);
    for (uint64_t id = 0; id < 22; ++id) pos.push_back(*append_sync(*w, make_record(id, 1000)));
    ASSERT_TRUE(w->trim(pos[11]).ok());  // segment 0 released; slot 0 will be recycled
    pos.push_back(*append_sync(*w, make_record(22, 1000)));
    EXPECT_EQ(pos.back().value(), static_cast<int64_t>(2 * kCap));
    w->stop();
  }
  // Slot 0 holds segment 2's header and record 22, then valid-looking records 1..10 of the old
  // segment 0, which must not be replayed.
  Recovered rec;
  ASSERT_TRUE(recover_status(o, &rec).ok());
  std::vector<uint64_t> want;
  for (uint64_t id = 11; id <= 22; ++id) want.push_back(id);
  EXPECT_EQ(rec.ids(), want);
}

// A torn tail can leave valid records of the torn commit behind the bad one. The next writer
// generation overwrites the tail; records it happens to end exactly in front of must not be
// replayed as if they followed its records.
TEST_F(FileWalCorruption, TornTailLeftoversNeverResurrect) {
  {
    FileWal w(fs_, small_options());
    Recovered tmp;
    ASSERT_TRUE(recover_into(w, &tmp).ok());
    ASSERT_TRUE(w.start().ok());
    pos_.push_back(*append_sync(w, make_record(0, 100)));
    w.stop();
  }
  {
    FileWal w(fs_, small_options());
    Recovered tmp;
    ASSERT_TRUE(recover_into(w, &tmp).ok());
    Completions c;
    w.append(make_record(1, 100), c.cb(1));  // one commit: records 1 and 2
    w.append(make_record(2, 100), c.cb(2));
    ASSERT_TRUE(w.start().ok());
    c.wait_for(2);
    pos_.push_back(c.acked()[0].second);
    w.stop();
  }
  flip(0, off(1) + 70);  // record 1 torn; record 2 of the same commit survived
  {
    Recovered rec;
    auto w = open(small_options(), &rec);
    EXPECT_EQ(rec.ids(), std::vector<uint64_t>{0});
    auto r = append_sync(*w, make_record(3, 100));  // exactly over record 1
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, pos_[1]);
    w->stop();
  }
  Recovered rec;
  ASSERT_TRUE(recover_status(small_options(), &rec).ok());
  EXPECT_EQ(rec.ids(), (std::vector<uint64_t>{0, 3}));  // not 2, a leftover of the torn commit
}

TEST_F(FileWalCorruption, StaleFutureSegmentHeaderIsInvalidated) {
  write_three_commits();
  // A valid-looking header of segment 2 (slot 2) that the recovered log never started.
  std::vector<uint8_t> hdr(kSegmentHeaderSize);
  format::encode_segment_header({2, 2 * kCap, 16 << 10, 1, 4}, hdr.data());
  {
    auto f = fs_.open("/wal/seg-000002.wal", io::OpenMode::kCreate).value();
    ASSERT_TRUE(f->allocate(16 << 10).ok());
    ASSERT_TRUE(f->pwrite(0, hdr.data(), hdr.size()).ok());
    ASSERT_TRUE(f->sync().ok());
  }
  Recovered rec;
  ASSERT_TRUE(recover_status(small_options(), &rec).ok());
  EXPECT_EQ(rec.ids(), (std::vector<uint64_t>{0, 1, 2, 3}));
  for (size_t i = 0; i < 48; ++i) ASSERT_EQ(peek(2, i), 0) << "stale header not invalidated";
}

TEST_F(FileWalCorruption, CorruptCheckpointIsCorruption) {
  write_three_commits();
  auto f = fs_.open("/wal/CHECKPOINT", io::OpenMode::kReadWrite).value();
  uint8_t b = 0xEE;
  ASSERT_TRUE(f->pwrite(20, &b, 1).ok());
  EXPECT_EQ(recover_status(small_options()).code(), Errc::kCorruption);
}

TEST_F(FileWalCorruption, SegmentsWithoutCheckpointIsCorruption) {
  write_three_commits();
  ASSERT_TRUE(fs_.remove("/wal/CHECKPOINT").ok());
  EXPECT_EQ(recover_status(small_options()).code(), Errc::kCorruption);
}

}  // namespace
}  // namespace shale::wal
