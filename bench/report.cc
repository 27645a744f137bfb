#include "report.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <functional>

namespace shale::bench {

namespace {

std::string num(double v) {
  if (v < 0) return "n/a";
  if (v >= 1000) return fmt::format("{:.0f}", v);
  if (v >= 10) return fmt::format("{:.1f}", v);
  return fmt::format("{:.2f}", v);
}

std::string ratio(double a, double b) {
  if (a < 0 || b <= 0) return "—";
  return fmt::format("{:.2f}", a / b);
}

// A metric row: label, then how to read the value from a Figures.
struct Metric {
  const char* label;
  std::function<double(const Figures&)> get;
};

void table(std::string& out, const PairResult& p, const RunInfo& info,
           const std::vector<Metric>& rows) {
  out += fmt::format("| Figure | A: {} | B: {} | A/B |\n|---|---:|---:|---:|\n", info.a_label,
                     info.b_label);
  for (const Metric& m : rows) {
    const double a = p.a.ran ? m.get(p.a) : -1;
    const double b = p.b.ran ? m.get(p.b) : -1;
    out += fmt::format("| {} | {} | {} | {} |\n", m.label, p.a.ran ? num(a) : "not run",
                       p.b.ran ? num(b) : "not run", ratio(a, b));
  }
  for (const auto* f : {&p.a, &p.b})
    if (!f->error.empty()) out += fmt::format("\n{}: {}\n", f == &p.a ? "A" : "B", f->error);
  const bool a_mock_lost = !info.a_is_shale && p.a.lost > 0;
  if (a_mock_lost || p.b.lost > 0)
    out += fmt::format(
        "\n{}: the mock deleted messages its live consumer had not read yet (it keeps ~5 MiB "
        "per partition), so its consume and end-to-end figures undercount.\n",
        a_mock_lost && p.b.lost > 0 ? "A and B" : (a_mock_lost ? "A" : "B"));
}

const std::vector<Metric>& live_rows() {
  static const std::vector<Metric> rows = {
      {"produce msg/s", [](const Figures& f) { return f.produce_msgs_s; }},
      {"produce MB/s", [](const Figures& f) { return f.produce_mb_s; }},
      {"produce-ack p50 ms", [](const Figures& f) { return f.produce.p50_ms; }},
      {"produce-ack p99 ms", [](const Figures& f) { return f.produce.p99_ms; }},
      {"produce-ack p99.9 ms", [](const Figures& f) { return f.produce.p999_ms; }},
      {"produce-ack max ms", [](const Figures& f) { return f.produce.max_ms; }},
      {"end-to-end p50 ms", [](const Figures& f) { return f.e2e.p50_ms; }},
      {"end-to-end p99 ms", [](const Figures& f) { return f.e2e.p99_ms; }},
      {"end-to-end p99.9 ms", [](const Figures& f) { return f.e2e.p999_ms; }},
      {"end-to-end max ms", [](const Figures& f) { return f.e2e.max_ms; }},
      {"consume msg/s (live)", [](const Figures& f) { return f.consume_msgs_s; }},
      {"consume MB/s (live)", [](const Figures& f) { return f.consume_mb_s; }},
      {"replay MB/s (catch-up read)", [](const Figures& f) { return f.replay_mb_s; }},
      {"broker CPU s per GB", [](const Figures& f) { return f.cpu_s_per_gb; }},
      {"acked but not consumed", [](const Figures& f) { return static_cast<double>(f.lost); }},
  };
  return rows;
}

const std::vector<Metric>& backlog_rows() {
  static const std::vector<Metric> rows = {
      {"backlog MB acked", [](const Figures& f) { return f.backlog_mb; }},
      {"pre-fill MB/s", [](const Figures& f) { return f.prefill_mb_s; }},
      {"backlog MB drained", [](const Figures& f) { return f.drained_mb; }},
      {"drain MB/s", [](const Figures& f) { return f.drain_mb_s; }},
      {"drain complete (1 = yes)", [](const Figures& f) { return f.drain_complete ? 1.0 : 0.0; }},
      {"tail produce p99 ms, alone", [](const Figures& f) { return f.tail_base_produce.p99_ms; }},
      {"tail produce p99 ms, during drain",
       [](const Figures& f) { return f.tail_drain_produce.p99_ms; }},
      {"tail end-to-end p99 ms, alone", [](const Figures& f) { return f.tail_base_e2e.p99_ms; }},
      {"tail end-to-end p99 ms, during drain",
       [](const Figures& f) { return f.tail_drain_e2e.p99_ms; }},
      {"tail e2e p99 during/alone",
       [](const Figures& f) {
         return f.tail_base_e2e.p99_ms > 0 && f.tail_drain_e2e.p99_ms >= 0
                    ? f.tail_drain_e2e.p99_ms / f.tail_base_e2e.p99_ms
                    : -1;
       }},
      {"tail produce msg/s during drain", [](const Figures& f) { return f.produce_msgs_s; }},
      {"broker CPU s per GB (pre-fill)", [](const Figures& f) { return f.cpu_s_per_gb; }},
  };
  return rows;
}

const PairResult* find(const std::vector<PairResult>& pairs, const std::string& prefix) {
  for (const auto& p : pairs)
    if (p.w->name.rfind(prefix, 0) == 0 && p.repeat == 0) return &p;
  return nullptr;
}

void goals(std::string& out, const RunInfo& info, const std::vector<PairResult>& pairs) {
  out += "\n## Goals (A, first pair of each workload)\n\n";
  if (!info.a_is_shale)
    out += "Shale: **not run** (" + info.shale_note +
           "). A is a second mock, so the rows below exercise the harness, not Shale.\n\n";
  out += "| Goal | Target | Measured | Met |\n|---|---|---:|---|\n";
  auto row = [&](const char* goal, const char* target, double v, bool ok) {
    out += fmt::format("| {} | {} | {} | {} |\n", goal, target, num(v),
                       v < 0 ? "n/a" : (ok ? "yes" : "**no**"));
  };
  auto context = [&](const char* what, double v) {
    out += fmt::format("| {} | (context) | {} | — |\n", what, num(v));
  };
  const Limits* lim = info.limits ? &*info.limits : nullptr;
  if (const PairResult* p = find(pairs, "1-"); p && p->a.ran) {
    const double vs_peer =
        p->b.ran && p->b.produce_mb_s > 0 ? p->a.produce_mb_s / p->b.produce_mb_s : -1;
    row("durable produce MB/s ÷ mock's, (1)", ">= 0.75", vs_peer, vs_peer >= 0.75);
    const double vs_disk =
        lim && lim->seq_write_mb_s > 0 ? p->a.produce_mb_s / lim->seq_write_mb_s : -1;
    row("durable produce MB/s ÷ disk sequential write MB/s, (1)", ">= 0.5", vs_disk,
        vs_disk >= 0.5);
    const double rd =
        p->a.replay_mb_s >= 0 && p->a.produce_mb_s > 0 ? p->a.replay_mb_s / p->a.produce_mb_s : -1;
    row("replay MB/s ÷ own produce MB/s, (1)", ">= 1", rd, rd >= 1);
    const double rdp =
        p->a.replay_mb_s >= 0 && p->b.replay_mb_s > 0 ? p->a.replay_mb_s / p->b.replay_mb_s : -1;
    row("replay MB/s ÷ mock's replay MB/s, (1)", ">= 10", rdp, rdp >= 10);
    row("broker CPU s per GB ingested, (1)", "< 1", p->a.cpu_s_per_gb, p->a.cpu_s_per_gb < 1);
  }
  if (const PairResult* p = find(pairs, "2-"); p && p->a.ran) {
    row("produce-ack p99 ms, (2)", "<= 2", p->a.produce.p99_ms, p->a.produce.p99_ms <= 2);
    row("end-to-end p99 ms, (2)", "<= 5", p->a.e2e.p99_ms, p->a.e2e.p99_ms <= 5);
    if (lim && lim->fdatasync_ns.count() > 0 && p->a.produce.p99_ms >= 0)
      context("produce-ack p99 ÷ fdatasync p99, (2)",
              p->a.produce.p99_ms / (lim->fdatasync_ns.percentile(99) / 1e6));
  }
  if (const PairResult* p = find(pairs, "4-"); p && p->a.ran) {
    const Figures& f = p->a;
    const double r = f.tail_base_e2e.p99_ms > 0 && f.tail_drain_e2e.p99_ms >= 0
                         ? f.tail_drain_e2e.p99_ms / f.tail_base_e2e.p99_ms
                         : -1;
    row("tail end-to-end p99 during drain ÷ alone, (4)", "<= 1.2", r, r <= 1.2);
    const double rp = f.tail_base_produce.p99_ms > 0 && f.tail_drain_produce.p99_ms >= 0
                          ? f.tail_drain_produce.p99_ms / f.tail_base_produce.p99_ms
                          : -1;
    context("tail produce-ack p99 during drain ÷ alone, (4)", rp);
    context("drain MB/s, (4)", f.drain_mb_s);
  }
}

}  // namespace

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  in >> one;
  return one.empty() ? "unknown" : one;
}

std::string describe_machine() {
  std::ifstream cpu("/proc/cpuinfo");
  std::string line, model = "unknown CPU";
  while (std::getline(cpu, line))
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  std::ifstream mem("/proc/meminfo");
  std::string key;
  double kb = 0;
  mem >> key >> kb;
  utsname u{};
  uname(&u);
  return fmt::format("{}, {} cores, {:.1f} GiB RAM, {} {}", model, sysconf(_SC_NPROCESSORS_ONLN),
                     kb / (1 << 20), u.sysname, u.release);
}

std::string render_report(const RunInfo& info, const std::vector<PairResult>& pairs) {
  std::string out = "# Shale benchmark results\n\n";
  out += fmt::format("- Date: {}\n- Commit: {}\n- Machine: {}\n- Data directory: {} ({})\n",
                     info.date, info.commit, info.machine, info.data_dir,
                     info.limits ? info.limits->filesystem : "unknown filesystem");
  out += fmt::format("- Load average (1 min) at start / end: {} / {}\n", info.load_start,
                     info.load_end);
  out += fmt::format("- Mode: {}; wall time {:.0f} s\n",
                     info.smoke ? "smoke (CI, ~1 s per workload)" : "full", info.elapsed_s);
  out += fmt::format("- A: {} (CPU from {})\n- B: {} (CPU from {})\n", info.a_label,
                     info.a_cpu_source, info.b_label, info.b_cpu_source);
  if (!info.a_is_shale) out += fmt::format("- Shale: not run ({})\n", info.shale_note);

  out += "\n## Machine limits\n\n| Limit | Value |\n|---|---:|\n";
  if (const Limits* l = info.limits ? &*info.limits : nullptr) {
    const HdrHistogram& h = l->fdatasync_ns;
    out += fmt::format("| fdatasync of a 4 KiB overwrite, p50 ms | {} |\n",
                       num(h.percentile(50) / 1e6));
    out += fmt::format("| fdatasync of a 4 KiB overwrite, p99 ms | {} |\n",
                       num(h.percentile(99) / 1e6));
    out += fmt::format("| fdatasync of a 4 KiB overwrite, max ms ({} samples) | {} |\n", h.count(),
                       num(h.max() / 1e6));
    out += fmt::format(
        "| sequential write MB/s (1 MiB writes, fdatasync every 64 MiB; {:.0f} MB) | {} |\n",
        l->seq_write_bytes / 1e6, num(l->seq_write_mb_s));
    out += fmt::format("| loopback TCP MB/s (1 stream) | {} |\n", num(l->loopback_mb_s));
  } else {
    out += fmt::format("| not measured | {} |\n", info.limits_error);
  }

  out += "\n## Workloads\n";
  for (const PairResult& p : pairs) {
    const Workload& w = *p.w;
    out += fmt::format("\n### {} — {} partitions{}\n\n", w.name, p.partitions,
                       p.repeat ? fmt::format(", pair {}", p.repeat + 1) : "");
    if (!w.title.empty()) out += w.title + "\n\n";
    const double rate_a = p.a.rate, rate_b = p.b.rate;
    out += fmt::format(
        "{} B messages, keys {}, {} producer(s), {} consumer(s), acks={}, linger {} ms, "
        "compression {}; rate {}.\n\n",
        w.message_size, key_mode_name(w.keys), w.producers, w.consumers, w.acks, w.linger_ms,
        w.compression,
        rate_a > 0 || rate_b > 0 ? fmt::format("A {} msg/s, B {} msg/s", num(rate_a), num(rate_b))
                                 : "as fast as possible");
    table(out, p, info, w.kind == WorkloadKind::kBacklog ? backlog_rows() : live_rows());
  }
  goals(out, info, pairs);
  return out;
}

}  // namespace shale::bench
