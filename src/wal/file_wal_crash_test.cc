// Crash tests on MemFs: the WAL "dies" at a named crash point (the hook calls MemFs::crash() and
// halts the WAL), a new FileWal recovers, and the result is checked against a model:
//  - every acknowledged record at or after the trim point is present, byte for byte, at the
//    position its callback reported, in order;
//  - every recovered record is intact (never partial) and was either recovered before (then it
//    must still be there) or appended in the last round (acknowledged, failed or pending);
//  - records that one recovery dropped never come back later;
//  - the trim point never goes back behind a trim() that returned OK.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "io/faulty_fs.h"
#include "io/mem_fs.h"
#include "wal/file_wal.h"
#include "wal/wal_test_util.h"

namespace shale::wal {
namespace {

using namespace shale::wal::testing;  // NOLINT

const std::vector<std::string> kPoints = {"before_write",
                                          "after_write_before_sync",
                                          "before_sync",
                                          "after_sync_before_ack",
                                          "after_ack",
                                          "prepare_before_sync",
                                          "prepare_before_sync_dir",
                                          "trim_before_checkpoint",
                                          "trim_after_checkpoint",
                                          "error_before_checkpoint",
                                          "recover_before_checkpoint"};

// Remembers every write not yet followed by a sync of the same file, so that after
// MemFs::crash() a test can put back a random subset of their 512-byte sectors: the torn write
// a power loss leaves when only some sectors reached the disk.
class TearingFs final : public io::Filesystem {
 public:
  explicit TearingFs(io::Filesystem& base) : base_(base) {}

  Result<std::unique_ptr<io::File>> open(const std::string& path, io::OpenMode mode) override {
    SHALE_ASSIGN_OR_RETURN(auto f, base_.open(path, mode));
    return std::unique_ptr<io::File>(new TFile(this, path, std::move(f)));
  }
  Status rename(const std::string& a, const std::string& b) override { return base_.rename(a, b); }
  Status remove(const std::string& p) override { return base_.remove(p); }
  Status mkdirs(const std::string& p) override { return base_.mkdirs(p); }
  Result<std::vector<std::string>> list(const std::string& d) override { return base_.list(d); }
  Result<bool> exists(const std::string& p) override { return base_.exists(p); }
  Status sync_dir(const std::string& d) override { return base_.sync_dir(d); }

  // Call right after the crash: re-applies each unsynced sector with probability 1/2, durably.
  void tear(io::Filesystem& fs, std::mt19937_64& rng) {
    std::map<std::string, std::vector<std::pair<uint64_t, std::string>>> w;
    {
      std::lock_guard<std::mutex> l(mu_);
      w.swap(unsynced_);
    }
    for (auto& [path, writes] : w) {
      auto f = fs.open(path, io::OpenMode::kReadWrite);
      if (!f.ok()) continue;
      for (auto& [off, bytes] : writes) {
        for (size_t s = 0; s < bytes.size(); s += 512) {
          if (rng() % 2) continue;
          (void)(*f)->pwrite(off + s, bytes.data() + s, std::min<size_t>(512, bytes.size() - s));
        }
      }
      (void)(*f)->sync();
    }
  }
  void forget() {
    std::lock_guard<std::mutex> l(mu_);
    unsynced_.clear();
  }

 private:
  class TFile final : public io::File {
   public:
    TFile(TearingFs* fs, std::string path, std::unique_ptr<io::File> f)
        : fs_(fs), path_(std::move(path)), f_(std::move(f)) {}
    Status pwrite(uint64_t off, const void* p, size_t n) override {
      {
        std::lock_guard<std::mutex> l(fs_->mu_);
        if (n < (1 << 20)) {  // skip zero-filling of new segment files
          fs_->unsynced_[path_].emplace_back(off, std::string(static_cast<const char*>(p), n));
        }
      }
      return f_->pwrite(off, p, n);
    }
    Result<size_t> pread(uint64_t off, void* p, size_t n) override { return f_->pread(off, p, n); }
    Status sync() override {
      // Only writes made before the sync began are durable after it (a pipelined writer writes
      // the next commit while this runs).
      size_t before = 0;
      {
        std::lock_guard<std::mutex> l(fs_->mu_);
        before = fs_->unsynced_[path_].size();
      }
      Status st = f_->sync();
      if (st.ok()) {
        std::lock_guard<std::mutex> l(fs_->mu_);
        auto& w = fs_->unsynced_[path_];
        w.erase(w.begin(), w.begin() + static_cast<std::ptrdiff_t>(std::min(before, w.size())));
      }
      return st;
    }
    Status allocate(uint64_t size) override { return f_->allocate(size); }
    Status truncate(uint64_t size) override { return f_->truncate(size); }
    Result<uint64_t> size() override { return f_->size(); }

   private:
    TearingFs* fs_;
    std::string path_;
    std::unique_ptr<io::File> f_;
  };

  io::Filesystem& base_;
  std::mutex mu_;
  std::map<std::string, std::vector<std::pair<uint64_t, std::string>>> unsynced_;
};

struct RoundParams {
  std::string point;  // crash when this point is hit for the `hit`-th time ("" = clean stop)
  int hit = 1;
  int appenders = 2;
  int per_appender = 60;
  size_t max_size = 2500;
  double sync_fail_probability = 0.0;  // injected fdatasync failures on segment files
  bool tear = true;                    // keep random sectors of unsynced writes at the crash
  uint64_t seed = 1;
  // Pipelined path: each fdatasync starts this late (the writer writes the next commits
  // meanwhile), and the crash point counts only while a written commit waits for its fdatasync.
  int slow_sync_us = 0;
  bool only_while_syncing = false;
};

class CrashHarness {
 public:
  explicit CrashHarness(uint64_t seed, uint32_t syncs_in_flight = 1)
      : fs_(seed), tearing_(fs_), faulty_(tearing_, seed), syncs_(syncs_in_flight) {}

  FileWalOptions options() {
    FileWalOptions o = small_options();
    o.max_syncs_in_flight = syncs_;
    o.max_total_size = 4 * (16 << 10);
    o.max_commit_bytes = 6000;
    return o;
  }

  // One life of the WAL: recover (checked), run a workload, die at the crash point.
  void round(const RoundParams& p) {
    SCOPED_TRACE(fmt::format("round {} point '{}' hit {} seed {}", round_, p.point, p.hit, p.seed));
    ++round_;
    std::atomic<int> hits{0};
    std::atomic<bool> dead{false};
    std::mt19937_64 tear_rng(p.seed ^ 0x7ea5);
    tearing_.forget();
    FileWalOptions o = options();
    std::atomic<bool> syncing{false};
    o.crash_hook = [&](std::string_view pt) {
      if (dead.load()) return true;
      if (pt == "before_sync") {
        syncing.store(true);
        if (p.slow_sync_us > 0)
          std::this_thread::sleep_for(std::chrono::microseconds(p.slow_sync_us));
      }
      if (pt == "after_sync_before_ack") syncing.store(false);
      if (pt != p.point || (p.only_while_syncing && !syncing.load())) return false;
      if (hits.fetch_add(1) + 1 != p.hit) return false;
      if (!dead.exchange(true)) {
        fs_.crash();
        if (p.tear) tearing_.tear(fs_, tear_rng);
      }
      return true;
    };
    faulty_.clear_faults();
    auto wal = std::make_unique<FileWal>(faulty_, o);
    Recovered rec;
    Status st = recover_into(*wal, &rec);
    if (dead.load()) {  // died inside recover()
      EXPECT_EQ(st.code(), Errc::kClosed);
      ++crashes_;
      return;
    }
    ASSERT_TRUE(st.ok()) << st.to_string();
    check(rec, wal->trim_point());
    if (p.sync_fail_probability > 0) {
      faulty_.add_fault({.ops = static_cast<io::FsOpMask>(io::FsOp::kSync),
                         .path_contains = "seg-",
                         .probability = p.sync_fail_probability});
    }
    ASSERT_TRUE(wal->start().ok());

    Completions done;
    std::mt19937_64 rng(p.seed);
    std::vector<std::thread> ts;
    const int total = p.appenders * p.per_appender;
    for (int t = 0; t < p.appenders; ++t) {
      std::vector<size_t> sizes;
      for (int i = 0; i < p.per_appender; ++i) sizes.push_back(8 + rng() % p.max_size);
      ts.emplace_back([&, t, sizes] {
        for (int i = 0; i < p.per_appender && !dead.load(); ++i) {
          if (p.only_while_syncing && i == p.per_appender / 2) {
            // On a loaded machine every append can land before the writer runs once, making
            // one commit and never a second one in flight: hold the second half of the appends
            // until a sync has begun (bounded), so a commit is written while one syncs.
            const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
            while (!syncing.load() && !dead.load() && std::chrono::steady_clock::now() < until)
              std::this_thread::sleep_for(std::chrono::microseconds(50));
          }
          uint64_t id = next_id_.fetch_add(1);
          {
            std::lock_guard<std::mutex> l(mu_);
            appended_.insert(id);
          }
          wal->append(make_record(id, sizes[i]), done.cb(id));
          if (i % 8 == t) std::this_thread::yield();
        }
      });
    }
    // Trim now and then to a random acknowledged position (+1: releases that record).
    while (!dead.load() && !done.wait_for(total, std::chrono::milliseconds(2))) {
      auto acked = done.acked();  // plus what was recovered: it may fill the whole WAL
      for (const auto& [id, pos] : durable_) acked.emplace_back(id, pos);
      if (acked.empty()) continue;
      WalPos to = acked[rng() % acked.size()].second + 1;
      if (wal->trim(to).ok()) {
        std::lock_guard<std::mutex> l(mu_);
        trimmed_ = std::max(trimmed_, to);
      }
    }
    for (auto& t : ts) t.join();
    // A few more trims once everything is acknowledged, so every round trims.
    for (int i = 0; i < 3 && !dead.load(); ++i) {
      auto acked = done.acked();
      if (acked.empty()) break;
      WalPos to = acked[rng() % acked.size()].second + 1;
      if (wal->trim(to).ok()) {
        std::lock_guard<std::mutex> l(mu_);
        trimmed_ = std::max(trimmed_, to);
      }
    }
    if (!dead.load()) {
      wal->stop();
      dead.store(true);
      fs_.crash();  // everything acknowledged was synced; the crash must not lose it
      tearing_.forget();
    } else {
      ++crashes_;
    }
    wal.reset();
    for (auto& [id, pos] : done.acked()) acked_[id] = pos;
  }

  // Compares a recovery with the model, then makes the recovered set the new model.
  void check(const Recovered& rec, WalPos trim) {
    EXPECT_GE(trim, trimmed_) << "a durable trim went back";
    std::map<uint64_t, WalPos> got;
    for (size_t i = 0; i < rec.recs.size(); ++i) {
      ASSERT_TRUE(record_intact(rec.recs[i])) << "partial or garbage record at " << rec.pos[i];
      if (i > 0) {
        ASSERT_GT(rec.pos[i], rec.pos[i - 1]);
      }
      ASSERT_GE(rec.pos[i], trim);
      uint64_t id = record_id(rec.recs[i]);
      ASSERT_TRUE(got.emplace(id, rec.pos[i]).second) << "duplicate id " << id;
      const bool known = durable_.count(id) > 0 || appended_.count(id) > 0;
      ASSERT_TRUE(known) << "record " << id << " was dropped by an earlier recovery and came back";
    }
    for (const auto& [id, pos] : acked_) {
      if (pos < trim) continue;
      auto it = got.find(id);
      ASSERT_TRUE(it != got.end()) << "acknowledged record " << id << " at " << pos << " lost";
      EXPECT_EQ(it->second, pos);
    }
    for (const auto& [id, pos] : durable_) {
      if (pos < trim) continue;
      ASSERT_TRUE(got.count(id)) << "recovered record " << id << " lost by a later recovery";
    }
    durable_ = got;
    appended_.clear();
    acked_ = got;  // recovered records are durable: later recoveries must keep them
    recovered_records_ += got.size();
  }

  void final_check() {
    FileWal wal(fs_, options());
    Recovered rec;
    Status st = recover_into(wal, &rec);
    ASSERT_TRUE(st.ok()) << st.to_string();
    check(rec, wal.trim_point());
  }

  uint64_t recovered_records() const { return recovered_records_; }
  int crashes() const { return crashes_; }  // rounds that died at their crash point

 private:
  io::MemFs fs_;
  TearingFs tearing_;
  io::FaultyFs faulty_;
  uint32_t syncs_;
  int round_ = 0;
  std::mutex mu_;
  std::atomic<uint64_t> next_id_{1};
  std::set<uint64_t> appended_;         // appended in the current round
  std::map<uint64_t, WalPos> acked_;    // acknowledged (or recovered): must survive until trimmed
  std::map<uint64_t, WalPos> durable_;  // returned by the last recovery
  WalPos trimmed_{0};
  uint64_t recovered_records_ = 0;
  int crashes_ = 0;
};

class WalCrashPoint : public ::testing::TestWithParam<std::string> {};

TEST_P(WalCrashPoint, AcknowledgedRecordsSurviveCrash) {
  const std::string& point = GetParam();
  CrashHarness h(11);
  const int wanted = point.rfind("prepare", 0) == 0 ? 1 : 3;
  // Crash rounds alternate with clean rounds that write more data on top of the recovered log.
  // Whether a round reaches its crash point depends on thread timing (error_before_checkpoint
  // needs an injected sync failure to land first), so a slow run (ASan, a loaded machine) gets
  // more rounds, up to 32, until the point was reached `wanted` times.
  for (int r = 0; r < 8 || (h.crashes() < wanted && r < 32); ++r) {
    RoundParams p;
    p.point = r % 2 == 0 ? point : "";
    p.hit = point == "recover_before_checkpoint" ? 1 : 1 + r % 3;
    p.seed = 100 + r;
    if (point == "error_before_checkpoint") p.sync_fail_probability = 0.2;
    h.round(p);
    if (::testing::Test::HasFatalFailure()) return;
  }
  h.final_check();
  EXPECT_GE(h.crashes(), wanted) << "crash point rarely reached";
}

INSTANTIATE_TEST_SUITE_P(AllPoints, WalCrashPoint, ::testing::ValuesIn(kPoints),
                         [](const auto& info) { return info.param; });

// The pipelined path: the WAL dies right after writing a commit while the commit before it still
// waits for its fdatasync, with random sectors of both kept. Records of the later commit may
// survive behind a torn earlier one; recovery must call that a torn tail (their synced_before
// lies before the tear), keep every acknowledged record and replay no partial one. Parameter:
// max_syncs_in_flight (2: the later commit's own fdatasync may be running too).
class WalCrashPipelined : public ::testing::TestWithParam<uint32_t> {};

TEST_P(WalCrashPipelined, CrashWhileAnotherCommitAwaitsItsSync) {
  CrashHarness h(23 + GetParam(), GetParam());
  for (int r = 0; r < 10 || (h.crashes() < 3 && r < 80); ++r) {
    RoundParams p;
    p.point = r % 2 == 0 ? "after_write_before_sync" : "";
    p.only_while_syncing = true;
    p.slow_sync_us = 3000;
    p.hit = 1 + r % 2;
    p.appenders = 3;
    p.per_appender = 40;
    p.seed = 500 + r;
    h.round(p);
    if (::testing::Test::HasFatalFailure()) return;
  }
  h.final_check();
  EXPECT_GE(h.crashes(), 3) << "rarely crashed with two commits in flight";
}

INSTANTIATE_TEST_SUITE_P(SyncsInFlight, WalCrashPipelined, ::testing::Values(1u, 2u));

// Two fdatasyncs at once, with injected fdatasync failures and crashes anywhere: a failed one
// must fail the later in-flight ones too (their success proves nothing about its pages).
TEST(WalCrashPipelined, TwoSyncsInFlightWithFailuresAndCrashes) {
  CrashHarness h(77, 2);
  for (int r = 0; r < 16; ++r) {
    RoundParams p;
    p.point = r % 2 == 0 ? kPoints[static_cast<size_t>(r / 2) % kPoints.size()] : "";
    p.hit = 1 + r % 3;
    p.appenders = 3;
    p.per_appender = 40;
    p.slow_sync_us = 300;
    p.sync_fail_probability = 0.1;
    p.seed = 900 + r;
    h.round(p);
    if (::testing::Test::HasFatalFailure()) return;
  }
  h.final_check();
}

TEST(WalCrashRandom, RandomizedAppendTrimCrashRecover) {
  uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("WAL_CRASH_SEED")) seed = std::stoull(s);
  std::printf("WalCrashRandom seed %llu (rerun with WAL_CRASH_SEED=%llu)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  SCOPED_TRACE(fmt::format("seed {}", seed));
  std::mt19937_64 rng(seed);
  CrashHarness h(seed);
  for (int round = 0; round < 40; ++round) {
    RoundParams p;
    p.point = rng() % 8 == 0 ? "" : kPoints[rng() % kPoints.size()];
    p.hit = 1 + static_cast<int>(rng() % 12);
    p.appenders = 1 + static_cast<int>(rng() % 3);
    p.per_appender = 10 + static_cast<int>(rng() % 60);
    p.max_size = 50 + rng() % 4000;
    p.sync_fail_probability = rng() % 4 == 0 ? 0.05 : 0.0;
    p.tear = rng() % 4 != 0;
    p.seed = rng();
    h.round(p);
    if (::testing::Test::HasFatalFailure()) return;
  }
  h.final_check();
  EXPECT_GT(h.recovered_records(), 0u);
}

}  // namespace
}  // namespace shale::wal
