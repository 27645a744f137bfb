// Durability of EmbeddedMetaStore: crash recovery on MemFs, torn journal tails, snapshots,
// and failures of the journal's I/O.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <thread>

#include "io/faulty_fs.h"
#include "io/mem_fs.h"
#include "io/test_util.h"
#include "meta/embedded_meta_store.h"
#include "meta/test_util.h"

namespace shale::meta {
namespace {

using std::chrono::seconds;
const std::string kAll(1, '\0');

// Everything observable about the key space, for before/after comparisons.
std::vector<std::string> dump(MetaStore& s) {
  std::vector<std::string> out;
  auto r = s.get("", kAll);
  if (!r.ok()) return {"<get failed>"};
  out.push_back(fmt::format("rev={}", r->revision.value()));
  for (const auto& kv : r->kvs) {
    out.push_back(fmt::format("{}={} c{} m{} v{} l{}", kv.key, kv.value, kv.create_revision.value(),
                              kv.mod_revision.value(), kv.version, kv.lease.value()));
  }
  return out;
}

// Applies n random mutations; every one must succeed.
void random_mutations(MetaStore& s, std::mt19937& rng, int n, std::vector<LeaseId>* leases) {
  for (int i = 0; i < n; ++i) {
    const std::string key = fmt::format("k/{}", rng() % 20);
    switch (rng() % 6) {
      case 0:
      case 1:
        ASSERT_TRUE(s.put(key, fmt::format("v{}", i)).ok());
        break;
      case 2:
        ASSERT_TRUE(s.del(key).ok());
        break;
      case 3: {
        Txn t;
        t.compares = {Compare::absent(key)};
        t.success = {PutOp{key, "created"}, PutOp{key + "/side", "s"}};
        t.failure = {DeleteOp{key + "/", prefix_end(key + "/")}};
        ASSERT_TRUE(s.txn(t).ok());
        break;
      }
      case 4: {
        if (leases->empty() || rng() % 3 == 0) {
          leases->push_back(s.grant_lease(seconds(100)).value());
        }
        ASSERT_TRUE(s.put(key, "leased", leases->back()).ok());
        break;
      }
      case 5:
        if (!leases->empty()) {
          ASSERT_TRUE(s.revoke_lease(leases->back()).ok());
          leases->pop_back();
        }
        break;
    }
  }
}

TEST(MetaRecovery, EveryOkMutationSurvivesCrash) {
  io::MemFs fs;
  ManualClock clock;
  std::mt19937 rng(1);
  std::vector<LeaseId> leases;
  for (int round = 0; round < 5; ++round) {
    auto s = open_embedded_meta(fs, "/data/meta", clock).value();
    random_mutations(*s, rng, 60, &leases);
    auto before = dump(*s);
    s.reset();
    fs.crash();
    s = open_embedded_meta(fs, "/data/meta", clock).value();
    EXPECT_EQ(dump(*s), before) << "round " << round;
    // Leases survived too: their keys go away when revoked after recovery.
    for (LeaseId l : leases) EXPECT_TRUE(s->keep_alive(l).ok());
  }
}

TEST(MetaRecovery, LeasesGetFreshTtlAfterRestartAndStillExpire) {
  io::MemFs fs;
  ManualClock clock;
  auto s = open_embedded_meta(fs, "/m", clock).value();
  LeaseId l = s->grant_lease(seconds(10)).value();
  ASSERT_TRUE(s->put("owned", "x", l).ok());
  clock.advance(seconds(8));
  s.reset();
  fs.crash();
  s = open_embedded_meta(fs, "/m", clock).value();
  clock.advance(seconds(8));  // 16s after grant, 8s after restart
  s->expire_leases_now();
  EXPECT_EQ(s->get("owned")->kvs.size(), 1u);
  clock.advance(seconds(3));
  s->expire_leases_now();
  EXPECT_TRUE(s->get("owned")->kvs.empty());
  // The expiry itself was journaled.
  s.reset();
  fs.crash();
  s = open_embedded_meta(fs, "/m", clock).value();
  EXPECT_TRUE(s->get("owned")->kvs.empty());
  EXPECT_EQ(s->keep_alive(l).code(), Errc::kNotFound);
}

TEST(MetaRecovery, TornJournalTailIgnored) {
  io::MemFs mem;
  mem.set_crash_torn_tail(true);
  io::FaultyFs fs(mem, 5);
  ManualClock clock;
  for (int round = 0; round < 10; ++round) {
    auto s = open_embedded_meta(fs, "/m", clock).value();
    ASSERT_TRUE(s->put(fmt::format("ok/{}", round), std::string(100, 'a')).ok());
    auto before = dump(*s);
    // The next record reaches the file but its fdatasync fails: not acknowledged, and a crash
    // keeps a random prefix of it.
    fs.add_fault({.ops = static_cast<io::FsOpMask>(io::FsOp::kSync), .nth = 1});
    EXPECT_FALSE(s->put("lost", std::string(1000, 'b')).ok());
    EXPECT_EQ(s->put("after", "x").code(), Errc::kIoError);  // journal is broken until reopen
    fs.clear_faults();
    s.reset();
    mem.crash();
    s = open_embedded_meta(fs, "/m", clock).value();
    auto after = dump(*s);
    // Either the record was torn (dropped) or it survived whole; never a partial value.
    auto lost = s->get("lost").value();
    if (lost.kvs.empty()) {
      EXPECT_EQ(after, before);
    } else {
      EXPECT_EQ(lost.kvs[0].value.size(), 1000u);
      ASSERT_TRUE(s->del("lost").ok());
    }
    // Appends continue after the dropped tail and survive the next crash.
    ASSERT_TRUE(s->put("post", fmt::format("{}", round)).ok());
    s.reset();
    mem.crash();
    s = open_embedded_meta(fs, "/m", clock).value();
    EXPECT_EQ(s->get("post")->kvs.at(0).value, fmt::format("{}", round));
  }
}

TEST(MetaRecovery, GarbageAfterLastRecordIsDropped) {
  io::TempDir tmp;
  auto fs = io::make_posix_fs();
  ManualClock clock;
  const std::string dir = tmp.path() + "/meta";
  {
    auto s = open_embedded_meta(*fs, dir, clock).value();
    ASSERT_TRUE(s->put("a", "1").ok());
    ASSERT_TRUE(s->put("b", "2").ok());
  }
  const std::string journal = dir + "/" + journal_name(0);
  {
    auto f = fs->open(journal, io::OpenMode::kReadWrite).value();
    uint64_t size = f->size().value();
    // A record header promising more bytes than exist, as a torn write leaves.
    const char junk[] = {0x10, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05};
    ASSERT_TRUE(f->pwrite(size, junk, sizeof(junk)).ok());
  }
  auto s = open_embedded_meta(*fs, dir, clock).value();
  EXPECT_EQ(s->recovery_stats().torn_bytes_dropped, 9u);
  EXPECT_EQ(s->get("b")->kvs.at(0).value, "2");
  ASSERT_TRUE(s->put("c", "3").ok());
  s.reset();
  s = open_embedded_meta(*fs, dir, clock).value();
  EXPECT_EQ(s->get("c")->kvs.at(0).value, "3");
  EXPECT_EQ(s->recovery_stats().torn_bytes_dropped, 0u);
}

TEST(MetaRecovery, SnapshotsBoundTheJournalAndRecoverExactly) {
  io::MemFs fs;
  ManualClock clock;
  EmbeddedMetaOptions opts{.snapshot_journal_bytes = 2048};
  std::mt19937 rng(7);
  std::vector<LeaseId> leases;
  auto s = open_embedded_meta(fs, "/m", clock, opts).value();
  random_mutations(*s, rng, 400, &leases);
  auto before = dump(*s);
  s.reset();
  fs.crash();
  s = open_embedded_meta(fs, "/m", clock, opts).value();
  EXPECT_EQ(dump(*s), before);
  const RecoveryStats& st = s->recovery_stats();
  EXPECT_GT(st.snapshot_seq, 3u);
  EXPECT_LT(st.records_replayed, 60u);  // only the journal since the last snapshot
  auto names = fs.list("/m").value();
  EXPECT_EQ(names.size(), 2u) << "one snapshot and one journal";
}

TEST(MetaRecovery, WatchResumesAcrossRestartFromJournalHistory) {
  io::MemFs fs;
  ManualClock clock;
  auto s = open_embedded_meta(fs, "/m", clock).value();
  ASSERT_TRUE(s->put("k", "1").ok());  // rev 2
  ASSERT_TRUE(s->snapshot_now().ok());
  ASSERT_TRUE(s->put("k", "2").ok());  // rev 3
  ASSERT_TRUE(s->put("k", "3").ok());  // rev 4
  s.reset();
  fs.crash();
  s = open_embedded_meta(fs, "/m", clock).value();
  EXPECT_EQ(s->compacted_revision(), Revision(2));
  WatchCollector w;
  ASSERT_TRUE(s->watch("k", "", Revision(3), w.callback()).ok());
  auto ev = w.wait_events(2);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kv.value, "2");
  EXPECT_EQ(ev[1].kv.value, "3");
  WatchCollector old;
  ASSERT_TRUE(s->watch("k", "", Revision(2), old.callback()).ok());
  EXPECT_TRUE(old.wait_compacted());
}

TEST(MetaRecovery, FailedSnapshotRenameKeepsTheOldJournal) {
  io::MemFs mem;
  io::FaultyFs fs(mem);
  ManualClock clock;
  auto s = open_embedded_meta(fs, "/m", clock).value();
  ASSERT_TRUE(s->put("a", "1").ok());
  fs.add_fault({.ops = static_cast<io::FsOpMask>(io::FsOp::kRename), .nth = 1});
  EXPECT_FALSE(s->snapshot_now().ok());
  fs.clear_faults();
  ASSERT_TRUE(s->put("b", "2").ok());  // still journaled
  auto before = dump(*s);
  s.reset();
  mem.crash();
  s = open_embedded_meta(fs, "/m", clock).value();
  EXPECT_EQ(dump(*s), before);
}

TEST(MetaRecovery, FailureAfterSnapshotRenameBreaksStoreButLosesNothing) {
  io::MemFs mem;
  io::FaultyFs fs(mem);
  ManualClock clock;
  auto s = open_embedded_meta(fs, "/m", clock).value();
  ASSERT_TRUE(s->put("a", "1").ok());
  auto before = dump(*s);
  // Creating the new journal fails after the snapshot was renamed into place.
  fs.add_fault(
      {.ops = static_cast<io::FsOpMask>(io::FsOp::kOpen), .path_contains = "journal-", .nth = 1});
  EXPECT_FALSE(s->snapshot_now().ok());
  fs.clear_faults();
  EXPECT_EQ(s->put("b", "2").code(), Errc::kIoError);
  EXPECT_EQ(s->get("a")->kvs.size(), 1u);  // reads still work
  s.reset();
  mem.crash();
  s = open_embedded_meta(fs, "/m", clock).value();
  EXPECT_EQ(dump(*s), before);
  ASSERT_TRUE(s->put("b", "2").ok());
}

TEST(MetaRecovery, CorruptSnapshotIsAnError) {
  io::MemFs fs;
  ManualClock clock;
  {
    auto s = open_embedded_meta(fs, "/m", clock).value();
    ASSERT_TRUE(s->put("a", "1").ok());
    ASSERT_TRUE(s->snapshot_now().ok());
  }
  auto f = fs.open("/m/" + snapshot_name(1), io::OpenMode::kReadWrite).value();
  ASSERT_TRUE(f->pwrite(kSnapshotHeaderSize + 3, "X", 1).ok());
  EXPECT_EQ(open_embedded_meta(fs, "/m", clock).code(), Errc::kCorruption);
}

TEST(MetaFormat, BatchRoundTrip) {
  Batch b;
  b.revision = 42;
  b.effects = {{Effect::Kind::kPut, "k", std::string("v\0x", 3), 7, 0},
               {Effect::Kind::kDelete, "d", {}, 0, 0},
               {Effect::Kind::kLeaseGrant, {}, {}, 9, 30000},
               {Effect::Kind::kLeaseRevoke, {}, {}, 9, 0}};
  std::string bytes;
  encode_batch(b, &bytes);
  auto d = decode_batch(bytes);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->revision, 42);
  ASSERT_EQ(d->effects.size(), 4u);
  EXPECT_EQ(d->effects[0].value, std::string("v\0x", 3));
  EXPECT_EQ(d->effects[0].lease, 7);
  EXPECT_EQ(d->effects[2].ttl_ms, 30000);
  EXPECT_EQ(decode_batch(bytes.substr(0, bytes.size() - 1)).code(), Errc::kCorruption);
  EXPECT_EQ(decode_batch(bytes + "x").code(), Errc::kCorruption);
}

}  // namespace
}  // namespace shale::meta

namespace shale::meta {
namespace {

// Random puts on a disk whose writes and syncs fail randomly, with torn-tail crashes after
// every failure. Recovery must hold every acknowledged put and, for the one put whose outcome
// was unknown, either nothing or the complete value.
class MetaRandomCrash : public ::testing::TestWithParam<uint32_t> {};

TEST_P(MetaRandomCrash, AckedPutsSurviveInDoubtPutIsAtomic) {
  const uint32_t seed = GetParam();
  io::MemFs mem(seed);
  mem.set_crash_mode(seed % 2 ? io::MemFs::CrashMode::kTornTail
                              : io::MemFs::CrashMode::kTornSectors);
  io::FaultyFs fs(mem, seed + 1);
  ManualClock clock;
  std::mt19937 rng(seed + 2);
  std::map<std::string, std::string> acked;
  EmbeddedMetaOptions opts{.snapshot_journal_bytes = 4096};
  int crashes = 0;
  for (int i = 0; i < 600; ++i) {
    auto s = open_embedded_meta(fs, "/m", clock, opts).value();
    fs.add_fault(
        {.ops = io::FsOp::kPwrite | io::FsOp::kSync | io::FsOp::kRename | io::FsOp::kSyncDir,
         .probability = 0.03,
         .short_write = true});
    std::string doubt_key, doubt_value;
    for (; i < 600; ++i) {
      const std::string key = fmt::format("k{}", rng() % 30);
      const std::string value = fmt::format("{}:{}", i, std::string(rng() % 300, 'x'));
      auto r = s->put(key, value);
      if (r.ok()) {
        acked[key] = value;
        continue;
      }
      doubt_key = key;
      doubt_value = value;
      break;
    }
    fs.clear_faults();
    s.reset();
    mem.crash();
    ++crashes;
    s = open_embedded_meta(fs, "/m", clock, opts).value();
    auto all = s->get("", kAll).value();
    std::map<std::string, std::string> got;
    for (const auto& kv : all.kvs) got[kv.key] = kv.value;
    if (auto it = got.find(doubt_key); it != got.end() && it->second == doubt_value) {
      acked[doubt_key] = doubt_value;
    }
    ASSERT_EQ(got, acked) << "after crash " << crashes << " (in doubt: " << doubt_key << ")";
  }
  EXPECT_GT(crashes, 5);
}

INSTANTIATE_TEST_SUITE_P(Seeds, MetaRandomCrash, ::testing::Range(1u, 21u));

}  // namespace
}  // namespace shale::meta

namespace shale::meta {
namespace {

// Group commit: writers on many threads share fsyncs; whatever was acknowledged survives a
// crash, also when a sync fails in the middle (the failed group and everything after it fail).
TEST(MetaRecovery, ConcurrentWritersAckedSurviveSyncFailure) {
  io::MemFs mem(11);
  mem.set_crash_mode(io::MemFs::CrashMode::kTornSectors);
  io::FaultyFs fs(mem, 12);
  ManualClock clock;
  auto s = open_embedded_meta(fs, "/m", clock, {.snapshot_journal_bytes = 16384}).value();
  fs.add_fault({.ops = static_cast<io::FsOpMask>(io::FsOp::kSync), .nth = 150});
  constexpr int kThreads = 6, kPuts = 60;
  std::mutex mu;
  std::map<std::string, std::string> acked;
  std::atomic<int> failures{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPuts; ++i) {
        const std::string key = fmt::format("t{}/{}", t, i % 7);
        const std::string value = fmt::format("{}-{}", i, std::string(i * 13 % 200, 'z'));
        if (s->put(key, value).ok()) {
          std::lock_guard<std::mutex> l(mu);
          acked[key] = value;
        } else {
          ++failures;
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_GT(failures.load(), 0);  // the injected sync failure broke the journal
  fs.clear_faults();
  s.reset();
  mem.crash();
  s = open_embedded_meta(fs, "/m", clock).value();
  for (const auto& [key, value] : acked) {
    auto r = s->get(key).value();
    ASSERT_EQ(r.kvs.size(), 1u) << key;
    // A later, failed put of the same key may also have reached the disk whole; never a torn one.
    if (r.kvs[0].value != value) {
      EXPECT_GT(std::stoi(r.kvs[0].value), std::stoi(value)) << key;
    }
  }
}

}  // namespace
}  // namespace shale::meta
