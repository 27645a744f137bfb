// A benchmark workload: what to produce and consume, how fast, and for how long. Loaded from a
// small TOML file under bench/workloads/ (bench/README.md lists every key).
//
// Plain value type; no threads, no I/O after load_workload() returns.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace shale::bench {

enum class KeyMode {
  kNone,             // null keys (sticky partitioner)
  kRandom,           // 16 random bytes per message: every key distinct
  kHighCardinality,  // "customer-<n>", n uniform in [0, key_space): per-customer ids
};

enum class WorkloadKind {
  kLive,     // producers and consumers run together for warmup + duration
  kBacklog,  // pre-fill a backlog, then drain it with a group while a tail runs at a fixed rate
};

struct Workload {
  std::string name;   // short id, e.g. "1-max-throughput"; the file stem
  std::string title;  // one line for the report
  WorkloadKind kind = WorkloadKind::kLive;

  int topics = 1;
  int partitions = 16;
  std::vector<int> partition_sweep;  // non-empty: run once per value instead of `partitions`
  int message_size = 1024;
  KeyMode keys = KeyMode::kNone;
  int64_t key_space = 1'000'000;

  double rate = 0;        // total msg/s over all producers; 0 = as fast as possible
  std::string rate_from;  // if set: rate = rate_fraction x that workload's measured msg/s
  double rate_fraction = 1.0;
  int producers = 1;
  int consumers = 1;

  std::string acks = "all";  // "all", "1" or "0"
  int linger_ms = 5;
  int batch_size = 1'000'000;
  int fetch_wait_ms = 500;  // consumers' fetch.wait.max.ms (librdkafka's and Kafka's default)
  std::string compression = "none";
  double warmup_s = 3;
  double duration_s = 15;
  bool replay = false;  // afterwards, a fresh consumer re-reads the topic from the beginning

  // kBacklog only. The tail (producers/consumers above) runs at `rate` on its own topic.
  int64_t backlog_bytes = 0;
  int backlog_partitions = 16;
  int drain_consumers = 1;
  double drain_max_s = 120;
  double prefill_max_s = 60;  // the backlog is what was acked by then, if the target is slow
};

const char* key_mode_name(KeyMode m);

// Parses one workload file; the name defaults to the file stem.
Result<Workload> load_workload(const std::string& path);

// Loads every *.toml in `dir`, sorted by file name (the numeric prefix fixes the order).
Result<std::vector<Workload>> load_workloads(const std::string& dir);

// Shrinks a workload to a ~1-2 s run for CI: short warmup/duration, a small backlog.
void apply_smoke(Workload& w);

}  // namespace shale::bench
