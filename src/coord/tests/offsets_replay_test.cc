// __consumer_offsets compaction: snapshots + trim over an in-memory log must replay to exactly
// the coordinator's state, including after a crash between the snapshot and the trim and with a
// commit landing between the snapshot's capture and its append.
#include "coord/offsets_replay.h"

#include <gtest/gtest.h>

#include "base/endian.h"
#include "kafka/records/record_batch.h"
#include "kafka/records/records.h"

namespace shale::coord {
namespace {

using std::chrono::milliseconds;

// A partition in memory: batches get consecutive offsets; trim drops whole batches below start.
class MemLog final : public GroupStore {
 public:
  explicit MemLog(Clock& clock) : clock_(clock) {}
  int64_t end() const { return end_; }
  int64_t start() const { return start_; }
  size_t batches() const { return log_.size(); }
  int64_t append(const Buf& batch) {
    Buf b = Buf::copy(batch.view());
    store_be<uint64_t>(b.mutable_data(), static_cast<uint64_t>(end_));  // not under the CRC
    auto h = kafka::records::read_header(b.span());
    EXPECT_TRUE(h.ok());
    const int64_t at = end_;
    end_ = h->last_offset() + 1;
    log_.push_back({at, end_, std::move(b)});
    return at;
  }
  void trim(int64_t to) {
    start_ = to;
    std::erase_if(log_, [to](const Entry& e) { return e.last_plus_one <= to; });
  }
  Status read(int64_t from, int64_t to, const PartitionReplay::OnBatch& on_batch) const {
    for (const auto& e : log_) {
      if (e.last_plus_one <= from || e.base >= to) continue;
      SHALE_RETURN_IF_ERROR(on_batch(e.batch));
    }
    return Status();
  }
  void write_offsets(const std::string& group, OffsetEntries entries,
                     std::function<void(bool)> done) override {
    append(build_offsets_batch(group, entries, clock_.wall_ms()));
    done(true);
  }
  void write_group(const std::string& group, std::optional<GroupSnapshot> snapshot,
                   std::function<void(bool)> done) override {
    append(build_group_batch(group, snapshot, clock_.wall_ms()));
    done(true);
  }

 private:
  struct Entry {
    int64_t base, last_plus_one;
    Buf batch;
  };
  Clock& clock_;
  std::vector<Entry> log_;
  int64_t start_ = 0, end_ = 0;
};

Buf subscription() {
  return Buf::copy(std::string("\0\0\0\0\0\1\0\1t\0\0\0\0", 13));
}

// The durable state as comparable bytes (Kafka's own encodings).
std::vector<std::string> dump(GroupCoordinator& gc) {
  std::vector<std::string> out;
  for (const auto& g : gc.export_state()) {
    out.push_back("group " + g.group_id +
                  (g.metadata ? " meta " + encode_group_value(*g.metadata) : " no-meta"));
    for (const auto& [tp, om] : g.offsets) {
      out.push_back(encode_offset_key(g.group_id, tp) + "=" + encode_offset_value(om));
    }
  }
  return out;
}

class ReplayTest : public ::testing::Test {
 protected:
  ReplayTest() : log_(clock_), gc_(options(), clock_, &log_) {}
  static CoordinatorOptions options() {
    CoordinatorOptions o;
    o.initial_rebalance_delay_ms = 0;
    return o;
  }

  // A fresh coordinator rebuilt from the log, as at startup.
  std::unique_ptr<GroupCoordinator> replay(PartitionReplay* out = nullptr) {
    auto gc = std::make_unique<GroupCoordinator>(options(), clock_);
    PartitionReplay r;
    Status st = r.run(log_.start(), log_.end(),
                      [this](int64_t f, int64_t t, const PartitionReplay::OnBatch& cb) {
                        return log_.read(f, t, cb);
                      });
    EXPECT_TRUE(st.ok()) << st.message();
    EXPECT_TRUE(r.apply_to(*gc).ok());
    if (out) *out = r;
    return gc;
  }

  void commit(const std::string& group, int32_t partition, int64_t offset, int32_t gen = -1,
              const std::string& member = "") {
    std::vector<int16_t> errs;
    gc_.commit_offsets({group, gen, member, std::nullopt, -1, {{{"t", partition}, {offset}}}},
                       [&](std::vector<int16_t> e) { errs = std::move(e); });
    ASSERT_EQ(errs, std::vector<int16_t>{err::kNone});
  }

  // A consumer group "live" with one member, Stable at generation 1.
  std::string stable_member() {
    JoinRequest r;
    r.group_id = "live";
    r.client_id = "c";
    r.client_host = "/127.0.0.1";
    r.session_timeout_ms = 10000;
    r.rebalance_timeout_ms = 30000;
    r.protocol_type = "consumer";
    r.protocols.push_back({"range", subscription()});
    std::optional<JoinResult> j;
    gc_.join_group(r, [&](JoinResult res) { j = std::move(res); });
    r.member_id = j->member_id;
    j.reset();
    gc_.join_group(r, [&](JoinResult res) { j = std::move(res); });
    EXPECT_TRUE(j && j->error == err::kNone);
    SyncRequest s;
    s.group_id = "live";
    s.member_id = r.member_id;
    s.generation = j->generation;
    s.assignments = {{r.member_id, Buf::copy("A")}};
    gc_.sync_group(s, [](SyncResult) {});
    return r.member_id;
  }

  // Steps 1-3 of the snapshot protocol (offsets_replay.h); returns the snapshot's base.
  int64_t snapshot() {
    const int64_t base = log_.end();
    log_.append(build_snapshot_batch(base, gc_.export_state(), clock_.wall_ms()));
    return base;
  }

  ManualClock clock_;
  MemLog log_;
  GroupCoordinator gc_;
};

TEST_F(ReplayTest, WithoutSnapshotLastRecordPerKeyWins) {
  std::string m = stable_member();
  for (int i = 0; i < 5; ++i) commit("live", 0, i * 10, 1, m);
  commit("solo", 1, 3);
  commit("gone", 0, 1);
  ASSERT_EQ(gc_.delete_group("gone"), err::kNone);
  gc_.delete_offsets("solo", {{"t", 1}});
  commit("solo", 2, 4);
  auto gc2 = replay();
  EXPECT_EQ(dump(*gc2), dump(gc_));
  EXPECT_EQ(gc2->fetch_offsets("live", std::nullopt).offsets.at(0).offset, 40);
  EXPECT_EQ(gc2->describe_group("live").state, "Stable");
  EXPECT_EQ(gc2->describe_group("gone").state, "Dead");
}

TEST_F(ReplayTest, CrashBetweenSnapshotAndTrimReplaysTheSameState) {
  std::string m = stable_member();
  for (int i = 0; i < 50; ++i) commit("live", i % 3, i, 1, m);
  commit("gone", 0, 1);
  ASSERT_EQ(gc_.delete_group("gone"), err::kNone);
  const int64_t base = log_.end();
  auto captured = gc_.export_state();
  // A commit that reaches the log after the capture but before the snapshot: in [base, S).
  commit("live", 0, 1000, 1, m);
  const int64_t at = log_.append(build_snapshot_batch(base, captured, clock_.wall_ms()));
  commit("live", 1, 2000, 1, m);
  commit("solo", 0, 5);

  // Crash: the snapshot is in the log, the trim never happened.
  PartitionReplay r;
  auto before_trim = replay(&r);
  EXPECT_EQ(r.snapshot_offset(), at);
  EXPECT_EQ(dump(*before_trim), dump(gc_));
  EXPECT_EQ(before_trim->fetch_offsets("live", std::vector<TopicPartition>{{"t", 0}})
                .offsets.at(0)
                .offset,
            1000);

  log_.trim(base);
  auto after_trim = replay(&r);
  EXPECT_EQ(dump(*after_trim), dump(gc_));
  EXPECT_LE(r.records(), 3);  // only [base, end) is replayed on top of the snapshot
  EXPECT_EQ(after_trim->describe_group("live").state, "Stable");
  EXPECT_EQ(after_trim->describe_group("live").members.at(0).member_id, m);
}

TEST_F(ReplayTest, RepeatedSnapshotsKeepTheLogBoundedAndExact) {
  std::string m = stable_member();
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 100; ++i) commit("live", i % 4, round * 100 + i, 1, m);
    commit("g" + std::to_string(round), 0, round);
    if (round == 5) {
      ASSERT_EQ(gc_.delete_group("g2"), err::kNone);
    }
    log_.trim(snapshot());
    EXPECT_LE(log_.batches(), 2u);  // the snapshot, plus at most a straddling batch
  }
  auto gc2 = replay();
  EXPECT_EQ(dump(*gc2), dump(gc_));
  EXPECT_EQ(gc2->describe_group("g2").state, "Dead");
  EXPECT_EQ(gc2->fetch_offsets("g9", std::nullopt).offsets.at(0).offset, 9);
}

TEST_F(ReplayTest, OffsetExpiryTombstonesSurviveCompaction) {
  commit("old", 0, 1);
  clock_.advance(milliseconds(8LL * 24 * 3600 * 1000));
  commit("new", 0, 2);
  const int64_t base = snapshot();
  gc_.tick();  // "old" expired: tombstone after the snapshot
  log_.trim(base);
  auto gc2 = replay();
  EXPECT_EQ(dump(*gc2), dump(gc_));
  EXPECT_TRUE(gc2->fetch_offsets("old", std::nullopt).offsets.empty());
}

TEST_F(ReplayTest, MalformedSnapshotMarkerIsAnError) {
  kafka::records::BatchBuilder b;
  SnapshotMarker mk{0, 3, 0};  // claims 3 records, has none
  std::string k = encode_snapshot_key(), v = encode_snapshot_value(mk);
  b.add(k, v, 0);
  log_.append(b.build());
  auto r = snapshot_marker_of(b.build());
  EXPECT_FALSE(r.ok());
  PartitionReplay rp;
  EXPECT_FALSE(
      rp.run(0, log_.end(), [this](int64_t f, int64_t t, const PartitionReplay::OnBatch& cb) {
          return log_.read(f, t, cb);
        }).ok());
}

}  // namespace
}  // namespace shale::coord
