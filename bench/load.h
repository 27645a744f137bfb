// The load generator: producer and consumer threads on librdkafka's C API.
//
// Every message carries a 16-byte header: an 8-byte magic and the CLOCK_MONOTONIC send time in
// nanoseconds, written just before rd_kafka_produce(). Producers and consumers live in this one
// process, so the consumer subtracts that send time from its own clock for end-to-end latency.
// Produce-ack latency is measured in the delivery-report callback from the same send time.
//
// Thread contract: each call below runs its own threads and returns when they have joined; the
// caller's thread only coordinates. Nothing here is shared between calls.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hdr_histogram.h"
#include "target.h"
#include "workload.h"

namespace shale::bench {

// Header of every bench message (little-endian, host order: producer and consumer share a host).
inline constexpr uint64_t kMessageMagic = 0x5348414c45424e43;  // "SHALEBNC"
inline constexpr int kHeaderBytes = 16;                        // magic + send time
static_assert(kHeaderBytes == sizeof(uint64_t) + sizeof(int64_t));

struct LiveSpec {
  std::vector<std::string> topics;
  int partitions = 1;           // per topic
  const Workload* w = nullptr;  // message size, keys, client settings, producer/consumer counts
  double rate = 0;              // total msg/s; 0 = as fast as possible
  double warmup_s = 0;
  double duration_s = 1;
  int64_t max_messages = 0;     // > 0: producers stop after this many messages in total
  bool spread_evenly = false;   // pick partitions round-robin instead of the partitioner
  const Target* cpu = nullptr;  // sampled at the window's start and end
  // Called once on the coordinator thread when the warm-up ends.
  std::function<void()> at_window_start;
  // If set and it becomes true, the measurement window ends early.
  const std::atomic<bool>* stop_early = nullptr;
};

struct LiveResult {
  double window_s = 0;
  uint64_t acked = 0;  // in the window (by send time)
  uint64_t acked_bytes = 0;
  uint64_t consumed = 0;  // in the window (by arrival time)
  uint64_t consumed_bytes = 0;
  uint64_t produce_errors = 0;
  uint64_t lost = 0;         // acked in total but never consumed before the catch-up deadline
  HdrHistogram produce_lat;  // ns, messages sent inside the window
  HdrHistogram e2e_lat;      // ns, messages sent inside the window
  double cpu_s = -1;         // broker CPU seconds during the window
  std::string error;         // first client error seen, if any
};

// Runs producers (and consumers, if w->consumers > 0) against `bootstrap`. Consumers are
// assigned every partition from the beginning before producers start.
LiveResult run_live(const std::string& bootstrap, const LiveSpec& spec);

struct ReadResult {
  uint64_t messages = 0;
  uint64_t bytes = 0;
  double seconds = 0;  // first message to last partition reaching its end
  bool complete = false;
};

// Reads `topic` from the beginning to its end with `consumers` consumers: a consumer group
// (subscribe) if `group` is non-empty, otherwise a manual assignment. Stops at `max_s`.
ReadResult read_to_end(const std::string& bootstrap, const std::string& topic, int partitions,
                       int consumers, const std::string& group, double max_s);

}  // namespace shale::bench
