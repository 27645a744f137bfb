// shale_bench: runs the benchmark workloads against Shale (A) and librdkafka's mock cluster (B),
// interleaved A, B, A, B, measures this machine's limits in the same run, and writes a Markdown
// report. See bench/README.md for every figure.
#include <time.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "machine_limits.h"
#include "report.h"
#include "scenario.h"
#include "target.h"
#include "workload.h"

namespace shale::bench {
namespace {

struct Options {
  std::string workloads_dir = "bench/workloads";
  std::vector<std::string> only;
  std::string shale_bin;
  std::string b_shale_bin;  // side B is a second Shale build (an A/B of two builds), not the mock
  std::string data_dir = "build/bench-data";
  std::string out = "build/bench-results.md";
  std::string commit = "unknown";
  bool smoke = false;
  bool no_limits = false;
  int repeat = 1;
};

std::string utc_now() {
  char buf[32];
  const time_t t = time(nullptr);
  tm tm{};
  gmtime_r(&t, &tm);
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

class Runner {
 public:
  explicit Runner(const Options& o) : o_(o) {}

  // Runs one workload variant on side 'A' or 'B' with a fresh broker.
  Figures run_side(char side, const Workload& w, int partitions) {
    Figures f;
    double rate = w.rate;
    if (!w.rate_from.empty()) {
      auto it = measured_.find({side, w.rate_from});
      if (it == measured_.end() || it->second <= 0) {
        f.error = fmt::format("needs a measured rate from {} first", w.rate_from);
        return f;
      }
      rate = it->second * w.rate_fraction;
    }
    const std::string& bin = side == 'A' ? o_.shale_bin : o_.b_shale_bin;
    auto target = !bin.empty() ? start_process_target(bin, o_.data_dir) : start_mock_target();
    if (!target.ok()) {
      f.error = "not run: " + target.error().to_string();
      fmt::print(stderr, "  {}: {}\n", side, f.error);
      return f;
    }
    cpu_source_[side] = (*target)->cpu_source();
    const int64_t t0 = mono_ns();
    f = run_scenario(**target, w, partitions, rate);
    const int64_t t_stop = mono_ns();
    (void)(*target)->stop();
    fmt::print(
        stderr,
        "  {} ({}, {:.1f} s, stop {:.1f} s): produce {:.1f} MB/s p99 {:.2f} ms, e2e p99 {:.2f} "
        "ms{}{}\n",
        side, (*target)->label(), (mono_ns() - t0) / 1e9, (mono_ns() - t_stop) / 1e9,
        f.produce_mb_s, f.produce.p99_ms, f.e2e.p99_ms,
        f.drain_mb_s > 0 ? fmt::format(", drain {:.1f} MB/s", f.drain_mb_s) : "",
        f.error.empty() ? "" : " [" + f.error + "]");
    if (f.ran && w.rate_from.empty() && w.partition_sweep.empty() &&
        !measured_.count({side, w.name}))
      measured_[{side, w.name}] = f.produce_msgs_s;
    return f;
  }

  int run() {
    const auto t0 = std::chrono::steady_clock::now();
    auto loaded = load_workloads(o_.workloads_dir);
    if (!loaded.ok()) {
      fmt::print(stderr, "shale_bench: {}\n", loaded.error().to_string());
      return 2;
    }
    std::vector<Workload> workloads;
    for (auto& w : *loaded) {
      bool wanted = o_.only.empty();
      for (const auto& name : o_.only) wanted |= w.name.rfind(name, 0) == 0;
      if (!wanted) continue;
      if (o_.smoke) apply_smoke(w);
      workloads.push_back(std::move(w));
    }
    RunInfo info;
    info.date = utc_now();
    info.commit = o_.commit;
    info.machine = describe_machine();
    info.load_start = load_average();
    info.smoke = o_.smoke;
    info.data_dir = o_.data_dir;
    info.a_is_shale = !o_.shale_bin.empty() && !o_.smoke;
    info.a_label = info.a_is_shale ? "shale" : "mock (stand-in for Shale)";
    info.b_label = o_.b_shale_bin.empty() ? "mock" : "shale (B build)";
    if (!info.a_is_shale)
      info.shale_note =
          o_.smoke ? "--smoke runs the mock side only" : "no --shale-bin given or binary not found";
    if (!o_.no_limits) {
      fmt::print(stderr, "limits: measuring in {}\n", o_.data_dir);
      auto lim = measure_limits(o_.data_dir, o_.smoke ? 0.15 : 1.0);
      if (lim.ok()) {
        info.limits = std::move(*lim);
      } else {
        info.limits_error = lim.error().to_string();
      }
    } else {
      info.limits_error = "skipped (--no-limits)";
    }
    std::vector<PairResult> pairs;
    for (const Workload& w : workloads) {
      std::vector<int> variants = w.partition_sweep;
      if (variants.empty()) variants.push_back(w.partitions);
      for (int partitions : variants)
        for (int rep = 0; rep < o_.repeat; ++rep) {
          fmt::print(stderr, "{} ({} partitions, pair {}):\n", w.name, partitions, rep + 1);
          PairResult p{&w, partitions, rep, {}, {}};
          if (o_.smoke) {
            p.a.error = "not run: --smoke runs the mock side only";
          } else {
            p.a = run_side('A', w, partitions);
          }
          p.b = run_side('B', w, partitions);
          pairs.push_back(std::move(p));
        }
    }
    info.load_end = load_average();
    info.a_cpu_source = cpu_source_.count('A') ? cpu_source_['A'] : "nowhere: not run";
    info.b_cpu_source = cpu_source_.count('B') ? cpu_source_['B'] : "nowhere: not run";
    info.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const std::string md = render_report(info, pairs);
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(o_.out).parent_path(), ec);
    std::ofstream(o_.out) << md;
    fmt::print("{}", md);
    fmt::print(stderr, "wrote {} in {:.0f} s\n", o_.out, info.elapsed_s);
    bool all_b_ran = true;
    for (const auto& p : pairs) all_b_ran &= p.b.ran && p.b.error.empty();
    return all_b_ran ? 0 : 1;  // the harness itself must work against the mock
  }

 private:
  const Options& o_;
  std::map<std::pair<char, std::string>, double> measured_;  // (side, workload) -> msg/s
  std::map<char, std::string> cpu_source_;
};

}  // namespace
}  // namespace shale::bench

int main(int argc, char** argv) {
  shale::bench::Options o;
  CLI::App app{"shale_bench: Shale vs librdkafka's mock cluster, beside this machine's limits"};
  app.add_option("--workloads", o.workloads_dir, "directory of *.toml workloads");
  app.add_option("--only", o.only, "run only workloads whose name starts with these prefixes");
  app.add_option("--shale-bin", o.shale_bin, "shale binary for side A (absent: A is a mock)");
  app.add_option("--b-shale-bin", o.b_shale_bin,
                 "a second shale binary (or wrapper adding flags) as side B instead of the mock");
  app.add_option("--data-dir", o.data_dir, "where Shale's data and the disk limits run");
  app.add_option("--out", o.out, "Markdown report path");
  app.add_option("--commit", o.commit, "commit id printed in the report");
  app.add_option("--repeat", o.repeat, "A/B pairs per workload")->check(CLI::PositiveNumber);
  app.add_flag("--smoke", o.smoke, "~1-2 s per workload, for CI");
  app.add_flag("--no-limits", o.no_limits, "skip the machine-limit measurements");
  CLI11_PARSE(app, argc, argv);
  if (!o.shale_bin.empty() && access(o.shale_bin.c_str(), X_OK) != 0) {
    fmt::print(stderr, "shale_bench: {} is not an executable; Shale will not run\n", o.shale_bin);
    o.shale_bin.clear();
  }
  if (!o.b_shale_bin.empty() && access(o.b_shale_bin.c_str(), X_OK) != 0) {
    fmt::print(stderr, "shale_bench: {} is not an executable\n", o.b_shale_bin);
    return 2;
  }
  return shale::bench::Runner(o).run();
}
