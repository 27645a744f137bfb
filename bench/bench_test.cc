// Tests of the harness pieces that can run in a second or two: workload parsing, /proc CPU
// reading, the limit probes on a scratch directory, a short live run and a read-to-end against
// the in-process mock cluster, and the report's rendering of a missing Shale.
#include <gtest/gtest.h>
#include <time.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "load.h"
#include "machine_limits.h"
#include "report.h"
#include "scenario.h"
#include "target.h"
#include "workload.h"

namespace shale::bench {
namespace {

namespace fs = std::filesystem;

class ScratchDir {
 public:
  ScratchDir() {
    std::string t = (fs::temp_directory_path() / "shale-bench-test-XXXXXX").string();
    path_ = mkdtemp(t.data());
  }
  ~ScratchDir() { fs::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(Workload, ParsesEveryKey) {
  ScratchDir d;
  const auto p = d.write("3-keys.toml", R"(
title = "keyed"
partitions = 64
message_size = 512
keys = "high_cardinality"
key_space = 5000
rate_from = "1-max"
rate_fraction = 0.5
producers = 2
consumers = 3
acks = "1"
linger_ms = 2
compression = "lz4"
warmup_s = 1
duration_s = 2.5
replay = true
)");
  auto w = load_workload(p);
  ASSERT_TRUE(w.ok()) << w.error().to_string();
  EXPECT_EQ(w->name, "3-keys");
  EXPECT_EQ(w->partitions, 64);
  EXPECT_EQ(w->message_size, 512);
  EXPECT_EQ(w->keys, KeyMode::kHighCardinality);
  EXPECT_EQ(w->key_space, 5000);
  EXPECT_EQ(w->rate_from, "1-max");
  EXPECT_DOUBLE_EQ(w->rate_fraction, 0.5);
  EXPECT_EQ(w->producers, 2);
  EXPECT_EQ(w->consumers, 3);
  EXPECT_EQ(w->acks, "1");
  EXPECT_EQ(w->compression, "lz4");
  EXPECT_DOUBLE_EQ(w->warmup_s, 1.0);  // integer accepted for a float key
  EXPECT_DOUBLE_EQ(w->duration_s, 2.5);
  EXPECT_TRUE(w->replay);
}

TEST(Workload, ParsesBacklogAndSweep) {
  ScratchDir d;
  d.write("5-sweep.toml", "partition_sweep = [1, 100, 1000]\n");
  d.write("4-backlog.toml",
          "kind = \"backlog\"\nrate = 1000\n[backlog]\nbytes = 1048576\npartitions = 8\n"
          "drain_consumers = 2\n");
  auto ws = load_workloads(d.path());
  ASSERT_TRUE(ws.ok()) << ws.error().to_string();
  ASSERT_EQ(ws->size(), 2u);
  EXPECT_EQ((*ws)[0].name, "4-backlog");  // sorted by file name
  EXPECT_EQ((*ws)[0].kind, WorkloadKind::kBacklog);
  EXPECT_EQ((*ws)[0].backlog_bytes, 1048576);
  EXPECT_EQ((*ws)[0].backlog_partitions, 8);
  EXPECT_EQ((*ws)[0].drain_consumers, 2);
  EXPECT_EQ((*ws)[1].partition_sweep, (std::vector<int>{1, 100, 1000}));
}

TEST(Workload, RejectsNonsense) {
  ScratchDir d;
  EXPECT_FALSE(load_workload(d.write("a.toml", "keys = \"sometimes\"\n")).ok());
  EXPECT_FALSE(load_workload(d.write("b.toml", "acks = \"2\"\n")).ok());
  EXPECT_FALSE(load_workload(d.write("c.toml", "message_size = 8\n")).ok());
  EXPECT_FALSE(load_workload(d.write("d.toml", "kind = \"backlog\"\nrate = 10\n")).ok());
  EXPECT_FALSE(load_workload(d.write("e.toml", "partitions = = 3\n")).ok());
  EXPECT_FALSE(load_workload(d.path() + "/missing.toml").ok());
}

TEST(ProcStat, ReadsOwnCpuTime) {
  // Burn 0.1 s of CPU (not wall time: the machine may be shared and busy).
  auto cpu_now = [] {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
  };
  volatile double x = 0;
  const double until = cpu_now() + 0.1;
  while (cpu_now() < until) x = x + 1;
  const double cpu = proc_stat_cpu_seconds("/proc/self/stat");
  EXPECT_GE(cpu, 0.05);
  EXPECT_EQ(proc_stat_cpu_seconds("/proc/self/no-such-file"), -1);
}

TEST(Limits, ProbesProduceSaneNumbers) {
  ScratchDir d;
  auto sync = measure_fdatasync(d.path(), 0.2);
  ASSERT_TRUE(sync.ok()) << sync.error().to_string();
  EXPECT_GT(sync->count(), 0u);
  EXPECT_GT(sync->percentile(50), 0);
  double bytes = 0;
  auto seq = measure_seq_write(d.path(), 0.3, 64 << 20, &bytes);
  ASSERT_TRUE(seq.ok()) << seq.error().to_string();
  EXPECT_GT(*seq, 0);
  EXPECT_GE(bytes, 1 << 20);
  EXPECT_LE(bytes, 64 << 20);
  auto tcp = measure_loopback_tcp(0.2);
  ASSERT_TRUE(tcp.ok()) << tcp.error().to_string();
  EXPECT_GT(*tcp, 10.0);                // MB/s; loopback is far faster than this on any machine
  EXPECT_TRUE(fs::is_empty(d.path()));  // scratch files removed
  EXPECT_NE(describe_filesystem(d.path()), "unknown");
}

TEST(MockTarget, LiveRunProducesConsumesAndMeasures) {
  auto t = start_mock_target();
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  ASSERT_TRUE((*t)->create_topic("live", 4).ok());
  Workload w;
  w.message_size = 256;
  w.keys = KeyMode::kHighCardinality;
  LiveSpec spec;
  spec.topics = {"live"};
  spec.partitions = 4;
  spec.w = &w;
  spec.rate = 2000;
  spec.warmup_s = 0.3;
  spec.duration_s = 0.7;
  spec.cpu = t->get();
  const LiveResult r = run_live((*t)->bootstrap(), spec);
  EXPECT_TRUE(r.error.empty()) << r.error;
  // ~2000 msg/s over a 0.7 s window, paced: allow slack for a busy CI machine.
  EXPECT_GT(r.acked, 700u);
  EXPECT_LT(r.acked, 2000u);
  // Bytes count payload plus key; keys are "customer-<n>" with n < 10^6 (10..15 bytes).
  EXPECT_GE(r.acked_bytes, r.acked * (256 + 10));
  EXPECT_LE(r.acked_bytes, r.acked * (256 + 15));
  EXPECT_EQ(r.produce_lat.count(), r.acked);
  EXPECT_GT(r.e2e_lat.count(), 700u);
  EXPECT_GT(r.consumed, 700u);
  EXPECT_EQ(r.lost, 0u);
  EXPECT_GT(r.produce_lat.percentile(50), 0);
  EXPECT_GE(r.e2e_lat.percentile(50), r.produce_lat.percentile(1));
  EXPECT_GE(r.cpu_s, 0);

  // Everything produced (warm-up included) can be read back to the end.
  const ReadResult rr = read_to_end((*t)->bootstrap(), "live", 4, 1, "", 20);
  EXPECT_TRUE(rr.complete);
  EXPECT_GE(rr.messages, r.acked);
  EXPECT_GT(rr.bytes, rr.messages * 256);  // payload plus "customer-<n>" keys
}

TEST(Scenario, BacklogDrainsEverythingOnTheMock) {
  auto t = start_mock_target();
  ASSERT_TRUE(t.ok());
  Workload w;
  w.name = "t-backlog";
  w.kind = WorkloadKind::kBacklog;
  w.partitions = 2;
  w.message_size = 1024;
  w.warmup_s = 0.2;
  w.duration_s = 0.5;
  w.backlog_bytes = 4 << 20;
  w.backlog_partitions = 4;
  w.drain_max_s = 15;
  const Figures f = run_scenario(**t, w, 2, 500);
  ASSERT_TRUE(f.ran) << f.error;
  EXPECT_NEAR(f.backlog_mb, 4.19, 0.1);  // 4096 messages of 1 KiB
  EXPECT_TRUE(f.drain_complete);
  EXPECT_NEAR(f.drained_mb, f.backlog_mb, 0.01);
  EXPECT_GT(f.drain_mb_s, 0);
  EXPECT_GT(f.tail_base_e2e.count, 0u);
  EXPECT_GT(f.prefill_mb_s, 0);
}

// A stand-in "shale" that only listens on the --listen port: enough to test process handling.
std::string fake_shale(const ScratchDir& d) {
  const std::string p = d.write("fake-shale", R"(#!/bin/sh
# usage: fake-shale serve --data-dir DIR --listen HOST:PORT
[ "$1" = serve ] && [ "$2" = --data-dir ] && [ "$4" = --listen ] || exit 64
mkdir -p "$3" && echo data > "$3/segment"
exec python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); h,p=sys.argv[1].rsplit(":",1); s.bind((h,int(p))); s.listen(8); [s.accept() for _ in iter(int, 1)]' "$5"
)");
  fs::permissions(p, fs::perms::owner_all);
  return p;
}

TEST(ProcessTarget, StartsOnAFreePortAndStopsCleanly) {
  ScratchDir d;
  auto t = start_process_target(fake_shale(d), d.path() + "/data");
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  EXPECT_STREQ((*t)->label(), "shale");
  EXPECT_EQ((*t)->bootstrap().rfind("127.0.0.1:", 0), 0u);
  EXPECT_GE((*t)->cpu_seconds(), 0.0);
  (*t)->evict_page_cache();  // walks the data directory without failing
  ASSERT_EQ(std::distance(fs::directory_iterator(d.path() + "/data"), {}), 2);  // dir + log
  ASSERT_TRUE((*t)->stop().ok());
  EXPECT_LT((*t)->cpu_seconds(), 0.0);  // the process is gone
  // The fresh data directory is deleted; only the log is kept.
  for (const auto& e : fs::directory_iterator(d.path() + "/data"))
    EXPECT_EQ(e.path().extension(), ".log") << e.path();
}

TEST(ProcessTarget, ReportsABinaryThatExitsEarly) {
  ScratchDir d;
  const std::string bad = d.write("bad-shale", "#!/bin/sh\nexit 3\n");
  fs::permissions(bad, fs::perms::owner_all);
  auto t = start_process_target(bad, d.path() + "/data");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code, Errc::kUnavailable);
}

TEST(Report, SaysNotRunForAMissingShale) {
  Workload w;
  w.name = "1-max-throughput";
  PairResult p;
  p.w = &w;
  p.partitions = 16;
  p.a.error = "not run: no binary";
  p.b.ran = true;
  p.b.produce_mb_s = 100;
  RunInfo info;
  info.a_label = "shale";
  info.b_label = "mock";
  info.shale_note = "no --shale-bin given";
  const std::string md = render_report(info, {p});
  EXPECT_NE(md.find("| produce MB/s | not run | 100.0 | — |"), std::string::npos) << md;
  EXPECT_NE(md.find("Shale: **not run**"), std::string::npos);
  EXPECT_NE(md.find("## Machine limits"), std::string::npos);
}

TEST(Report, GoalsCompareShaleWithThePeerAndTheDisk) {
  Workload w1, w2, w4;
  w1.name = "1-max-throughput";
  w2.name = "2-fixed-rate-latency";
  w4.name = "4-backlog-drain";
  w4.kind = WorkloadKind::kBacklog;
  PairResult p1{&w1, 16, 0, {}, {}}, p2{&w2, 16, 0, {}, {}}, p4{&w4, 4, 0, {}, {}};
  p1.a.ran = p1.b.ran = p2.a.ran = p2.b.ran = p4.a.ran = p4.b.ran = true;
  p1.a.produce_mb_s = 80;   // Shale
  p1.b.produce_mb_s = 100;  // mock
  p1.a.replay_mb_s = 2000;
  p1.b.replay_mb_s = 100;
  p1.a.cpu_s_per_gb = 1.5;
  p2.a.produce.p99_ms = 1.5;
  p2.a.e2e.p99_ms = 7;
  p4.a.tail_base_e2e.p99_ms = 2;
  p4.a.tail_drain_e2e.p99_ms = 2.2;
  RunInfo info;
  info.a_is_shale = true;
  info.a_label = "shale";
  info.b_label = "mock";
  Limits lim;
  lim.seq_write_mb_s = 200;
  lim.fdatasync_ns.record(1'000'000);  // 1 ms
  info.limits = std::move(lim);
  const std::string md = render_report(info, {p1, p2, p4});
  auto has = [&](const std::string& row) {
    EXPECT_NE(md.find(row), std::string::npos) << "missing: " << row << "\n" << md;
  };
  has("| durable produce MB/s ÷ mock's, (1) | >= 0.75 | 0.80 | yes |");
  has("| durable produce MB/s ÷ disk sequential write MB/s, (1) | >= 0.5 | 0.40 | **no** |");
  has("| replay MB/s ÷ own produce MB/s, (1) | >= 1 | 25.0 | yes |");
  has("| replay MB/s ÷ mock's replay MB/s, (1) | >= 10 | 20.0 | yes |");
  has("| broker CPU s per GB ingested, (1) | < 1 | 1.50 | **no** |");
  has("| produce-ack p99 ms, (2) | <= 2 | 1.50 | yes |");
  has("| end-to-end p99 ms, (2) | <= 5 | 7.00 | **no** |");
  has("| produce-ack p99 ÷ fdatasync p99, (2) | (context) | 1.50 | — |");
  has("| tail end-to-end p99 during drain ÷ alone, (4) | <= 1.2 | 1.10 | yes |");
  EXPECT_EQ(md.find("not run"), std::string::npos);
}

TEST(Workload, SmokeShrinksEverything) {
  Workload w;
  w.warmup_s = 3;
  w.duration_s = 15;
  w.backlog_bytes = int64_t{3} << 30;
  w.drain_max_s = 90;
  w.prefill_max_s = 60;
  apply_smoke(w);
  EXPECT_LE(w.warmup_s + w.duration_s, 2.0);
  EXPECT_LE(w.backlog_bytes, 16 << 20);
  EXPECT_LE(w.drain_max_s, 10);
  EXPECT_LE(w.prefill_max_s, 10);
}

}  // namespace
}  // namespace shale::bench
