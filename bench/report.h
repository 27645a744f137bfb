// Renders one bench run as Markdown: the header (date, commit, machine), this machine's limits,
// one A/B table per workload run (pair by pair, with the ratio A/B), and Shale against its goals.
//
// Pure function of its inputs; no I/O.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "machine_limits.h"
#include "scenario.h"
#include "workload.h"

namespace shale::bench {

struct PairResult {
  const Workload* w = nullptr;
  int partitions = 0;
  int repeat = 0;
  Figures a, b;
};

struct RunInfo {
  std::string date;  // UTC, ISO 8601
  std::string commit;
  std::string machine;  // CPU, cores, memory, kernel
  std::string a_label;  // "shale" or "mock (stand-in: Shale not run)"
  std::string b_label;  // "mock"
  bool a_is_shale = false;
  std::string shale_note;  // why Shale did not run, if it did not
  std::string a_cpu_source, b_cpu_source;
  std::string data_dir;
  bool smoke = false;
  double elapsed_s = 0;
  std::string load_start, load_end;  // /proc/loadavg: other work on the machine skews figures
  std::optional<Limits> limits;
  std::string limits_error;
};

std::string render_report(const RunInfo& info, const std::vector<PairResult>& pairs);

// "AMD EPYC, 2 cores, 23.4 GiB RAM, Linux 6.1.0" from /proc and uname.
std::string describe_machine();
// The 1-minute load average from /proc/loadavg.
std::string load_average();

}  // namespace shale::bench
