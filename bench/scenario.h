// One workload run against one target, reduced to the figures the report prints.
//
//   kLive:    create topics, run producers + consumers (warm-up, then the measured window),
//             then optionally re-read everything from the beginning (replay).
//   kBacklog: pre-fill a backlog topic as fast as possible; evict it from the page cache;
//             run the tail alone (baseline); then run the tail again while a consumer group
//             drains the backlog, ending that window when the drain completes.
//
// Stateless; the caller owns the Target and starts a fresh one per run.
#pragma once

#include <string>

#include "target.h"
#include "workload.h"

namespace shale::bench {

struct LatencySummary {  // milliseconds; -1 when nothing was measured
  double p50_ms = -1, p99_ms = -1, p999_ms = -1, max_ms = -1;
  uint64_t count = 0;
};

struct Figures {
  bool ran = false;
  std::string error;  // why it did not run, or the first client error seen
  int partitions = 0;
  double rate = 0;  // msg/s asked for; 0 = as fast as possible

  double produce_msgs_s = 0, produce_mb_s = 0;
  LatencySummary produce, e2e;
  double consume_msgs_s = 0, consume_mb_s = 0;
  uint64_t lost = 0;         // acked but never consumed
  double replay_mb_s = -1;   // -1: not measured
  double cpu_s_per_gb = -1;  // broker CPU seconds per GB acked; -1: not measured

  // kBacklog
  double prefill_mb_s = 0;
  double backlog_mb = 0;  // MB acked into the backlog
  double drained_mb = 0;  // MB the group read
  double drain_mb_s = 0;
  bool drain_complete = false;
  LatencySummary tail_base_produce, tail_base_e2e, tail_drain_produce, tail_drain_e2e;
};

// `partitions` overrides w.partitions (sweeps); `rate` overrides w.rate (rate_from).
Figures run_scenario(Target& target, const Workload& w, int partitions, double rate);

}  // namespace shale::bench
