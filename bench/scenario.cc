#include "scenario.h"

#include <atomic>
#include <thread>

#include "load.h"

namespace shale::bench {

namespace {

constexpr double kMB = 1e6;

// Empty histograms summarize to -1 ("n/a" in the report), never to a flattering 0.
LatencySummary summarize(const HdrHistogram& h) {
  if (h.count() == 0) return {};
  return {h.percentile(50) / 1e6, h.percentile(99) / 1e6, h.percentile(99.9) / 1e6, h.max() / 1e6,
          h.count()};
}

std::string topic_name(const Workload& w, const std::string& suffix) {
  return fmt::format("bench-{}-{}{}", w.name, mono_ns() % 1'000'000'000, suffix);
}

Status create_topics(Target& t, const std::vector<std::string>& topics, int partitions) {
  for (const auto& name : topics) SHALE_RETURN_IF_ERROR(t.create_topic(name, partitions));
  return {};
}

void fill_live(Figures& f, const LiveResult& r) {
  const double s = std::max(r.window_s, 1e-9);
  f.produce_msgs_s = static_cast<double>(r.acked) / s;
  f.produce_mb_s = static_cast<double>(r.acked_bytes) / kMB / s;
  f.consume_msgs_s = static_cast<double>(r.consumed) / s;
  f.consume_mb_s = static_cast<double>(r.consumed_bytes) / kMB / s;
  f.produce = summarize(r.produce_lat);
  f.e2e = summarize(r.e2e_lat);
  f.lost = r.lost;
  if (r.cpu_s >= 0 && r.acked_bytes > 0)
    f.cpu_s_per_gb = r.cpu_s / (static_cast<double>(r.acked_bytes) / 1e9);
  if (f.error.empty() && (r.produce_errors > 0 || !r.error.empty())) f.error = r.error;
}

Figures run_live_scenario(Target& t, const Workload& w, int partitions, double rate) {
  Figures f;
  f.partitions = partitions;
  f.rate = rate;
  std::vector<std::string> topics;
  for (int i = 0; i < w.topics; ++i) topics.push_back(topic_name(w, fmt::format("-{}", i)));
  if (Status st = create_topics(t, topics, partitions); !st.ok()) {
    f.error = st.to_string();
    return f;
  }
  LiveSpec spec;
  spec.topics = topics;
  spec.partitions = partitions;
  spec.w = &w;
  spec.rate = rate;
  spec.warmup_s = w.warmup_s;
  spec.duration_s = w.duration_s;
  spec.cpu = &t;
  fill_live(f, run_live(t.bootstrap(), spec));
  if (w.replay) {
    ReadResult rr = read_to_end(t.bootstrap(), topics[0], partitions, 1, "", 60);
    if (rr.seconds > 0) f.replay_mb_s = static_cast<double>(rr.bytes) / kMB / rr.seconds;
  }
  f.ran = true;
  return f;
}

Figures run_backlog_scenario(Target& t, const Workload& w, int partitions, double rate) {
  Figures f;
  f.partitions = partitions;
  f.rate = rate;
  const std::string backlog = topic_name(w, "-backlog");
  const std::string tail_base = topic_name(w, "-tail-base");
  const std::string tail_drain = topic_name(w, "-tail-drain");
  Status st = t.create_topic(backlog, w.backlog_partitions);
  if (st.ok()) st = create_topics(t, {tail_base, tail_drain}, partitions);
  if (!st.ok()) {
    f.error = st.to_string();
    return f;
  }
  // 1. Pre-fill as fast as possible (no consumers); the budget is in messages.
  Workload fill = w;
  fill.consumers = 0;
  fill.keys = KeyMode::kNone;
  fill.linger_ms = std::max(fill.linger_ms, 5);
  LiveSpec pre;
  pre.topics = {backlog};
  pre.partitions = w.backlog_partitions;
  pre.w = &fill;
  pre.duration_s = w.prefill_max_s;
  pre.max_messages = std::max<int64_t>(1, w.backlog_bytes / w.message_size);
  pre.spread_evenly = true;  // equal partitions: the mock keeps only ~5 MiB per partition
  pre.cpu = &t;
  const LiveResult filled = run_live(t.bootstrap(), pre);
  f.backlog_mb = static_cast<double>(filled.acked_bytes) / kMB;
  f.prefill_mb_s = f.backlog_mb / std::max(filled.window_s, 1e-9);
  if (filled.produce_errors > 0) f.error = "prefill: " + filled.error;
  t.evict_page_cache();

  // 2. The tail alone.
  LiveSpec tail;
  tail.partitions = partitions;
  tail.w = &w;
  tail.rate = rate;
  tail.warmup_s = w.warmup_s;
  tail.duration_s = w.duration_s;
  tail.cpu = &t;
  tail.topics = {tail_base};
  const LiveResult base = run_live(t.bootstrap(), tail);
  f.tail_base_produce = summarize(base.produce_lat);
  f.tail_base_e2e = summarize(base.e2e_lat);

  // 3. The tail again while a consumer group drains the backlog; the window closes when the
  //    drain reaches the end of every partition (or at drain_max_s).
  std::atomic<bool> drained{false};
  ReadResult drain;
  std::thread drainer;
  tail.topics = {tail_drain};
  tail.duration_s = w.drain_max_s;
  tail.stop_early = &drained;
  tail.at_window_start = [&] {
    drainer = std::thread([&] {
      drain = read_to_end(t.bootstrap(), backlog, w.backlog_partitions, w.drain_consumers,
                          fmt::format("bench-drain-{}", mono_ns()), w.drain_max_s);
      drained = true;
    });
  };
  const LiveResult during = run_live(t.bootstrap(), tail);
  if (drainer.joinable()) drainer.join();
  fill_live(f, during);  // throughput and latency of the tail during the drain
  // CPU per GB ingested comes from the pre-fill: the only phase that is pure ingest.
  f.cpu_s_per_gb = -1;
  if (filled.cpu_s >= 0 && filled.acked_bytes > 0)
    f.cpu_s_per_gb = filled.cpu_s / (static_cast<double>(filled.acked_bytes) / 1e9);
  f.tail_drain_produce = summarize(during.produce_lat);
  f.tail_drain_e2e = summarize(during.e2e_lat);
  f.drained_mb = static_cast<double>(drain.bytes) / kMB;
  f.drain_complete = drain.complete;
  if (drain.seconds > 0) f.drain_mb_s = f.drained_mb / drain.seconds;
  f.ran = true;
  return f;
}

}  // namespace

Figures run_scenario(Target& target, const Workload& w, int partitions, double rate) {
  return w.kind == WorkloadKind::kBacklog ? run_backlog_scenario(target, w, partitions, rate)
                                          : run_live_scenario(target, w, partitions, rate);
}

}  // namespace shale::bench
