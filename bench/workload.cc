#include "workload.h"

#include <algorithm>
#include <filesystem>

#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

namespace shale::bench {

const char* key_mode_name(KeyMode m) {
  switch (m) {
    case KeyMode::kNone:
      return "none";
    case KeyMode::kRandom:
      return "random";
    case KeyMode::kHighCardinality:
      return "high_cardinality";
  }
  return "?";
}

namespace {

template <typename T>
void get(const toml::table& t, const char* key, T& out) {
  if (auto v = t[key].value<T>()) out = *v;
}

// Floats also accept integers written without a decimal point ("rate = 1000").
void get_double(const toml::table& t, const char* key, double& out) {
  const toml::node_view<const toml::node> n = t[key];
  if (n.is_integer()) out = static_cast<double>(*n.value<int64_t>());
  if (n.is_floating_point()) out = *n.value<double>();
}

void get_int(const toml::table& t, const char* key, int& out) {
  if (auto v = t[key].value<int64_t>()) out = static_cast<int>(*v);
}

Status validate(const Workload& w) {
  auto bad = [&](const char* what) {
    return Status(Errc::kInvalidArgument, fmt::format("workload {}: {}", w.name, what));
  };
  if (w.topics < 1 || w.partitions < 1) return bad("topics and partitions must be >= 1");
  if (w.message_size < 16) return bad("message_size must be >= 16 (the header is 16 bytes)");
  if (w.producers < 1 || w.consumers < 0) return bad("need >= 1 producer, >= 0 consumers");
  if (w.duration_s <= 0 || w.warmup_s < 0) return bad("duration_s must be > 0, warmup_s >= 0");
  if (w.acks != "all" && w.acks != "1" && w.acks != "0") return bad("acks is all, 1 or 0");
  if (w.kind == WorkloadKind::kBacklog && (w.backlog_bytes <= 0 || w.drain_consumers < 1))
    return bad("backlog workloads need backlog_bytes > 0 and drain_consumers >= 1");
  if (w.kind == WorkloadKind::kBacklog && w.rate <= 0 && w.rate_from.empty())
    return bad("the backlog tail must run at a fixed rate");
  for (int p : w.partition_sweep)
    if (p < 1) return bad("partition_sweep values must be >= 1");
  return {};
}

}  // namespace

Result<Workload> load_workload(const std::string& path) {
  toml::parse_result parsed = toml::parse_file(path);
  if (!parsed) {
    return Error{Errc::kInvalidArgument,
                 fmt::format("{}: {}", path, std::string(parsed.error().description()))};
  }
  const toml::table& t = parsed.table();
  Workload w;
  w.name = std::filesystem::path(path).stem().string();
  get(t, "name", w.name);
  get(t, "title", w.title);
  std::string kind = "live", keys = "none";
  get(t, "kind", kind);
  if (kind == "backlog") {
    w.kind = WorkloadKind::kBacklog;
  } else if (kind != "live") {
    return Error{Errc::kInvalidArgument, path + ": kind must be live or backlog"};
  }
  get_int(t, "topics", w.topics);
  get_int(t, "partitions", w.partitions);
  if (const toml::array* sweep = t["partition_sweep"].as_array()) {
    for (const auto& e : *sweep)
      if (auto v = e.value<int64_t>()) w.partition_sweep.push_back(static_cast<int>(*v));
  }
  get_int(t, "message_size", w.message_size);
  get(t, "keys", keys);
  if (keys == "random") {
    w.keys = KeyMode::kRandom;
  } else if (keys == "high_cardinality") {
    w.keys = KeyMode::kHighCardinality;
  } else if (keys != "none") {
    return Error{Errc::kInvalidArgument, path + ": keys must be none, random or high_cardinality"};
  }
  get(t, "key_space", w.key_space);
  get_double(t, "rate", w.rate);
  get(t, "rate_from", w.rate_from);
  get_double(t, "rate_fraction", w.rate_fraction);
  get_int(t, "producers", w.producers);
  get_int(t, "consumers", w.consumers);
  get(t, "acks", w.acks);
  get_int(t, "linger_ms", w.linger_ms);
  get_int(t, "batch_size", w.batch_size);
  get_int(t, "fetch_wait_ms", w.fetch_wait_ms);
  get(t, "compression", w.compression);
  get_double(t, "warmup_s", w.warmup_s);
  get_double(t, "duration_s", w.duration_s);
  get(t, "replay", w.replay);
  if (const toml::table* b = t["backlog"].as_table()) {
    get(*b, "bytes", w.backlog_bytes);
    get_int(*b, "partitions", w.backlog_partitions);
    get_int(*b, "drain_consumers", w.drain_consumers);
    get_double(*b, "drain_max_s", w.drain_max_s);
    get_double(*b, "prefill_max_s", w.prefill_max_s);
  }
  SHALE_RETURN_IF_ERROR(validate(w));
  return w;
}

Result<std::vector<Workload>> load_workloads(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().extension() == ".toml") files.push_back(e.path().string());
  if (ec) return Error{Errc::kIoError, fmt::format("{}: {}", dir, ec.message())};
  std::sort(files.begin(), files.end());
  std::vector<Workload> out;
  for (const auto& f : files) {
    SHALE_ASSIGN_OR_RETURN(Workload w, load_workload(f));
    out.push_back(std::move(w));
  }
  if (out.empty()) return Error{Errc::kNotFound, dir + ": no *.toml workloads"};
  return out;
}

void apply_smoke(Workload& w) {
  w.warmup_s = 0.3;
  w.duration_s = 1.2;
  w.backlog_bytes = std::min<int64_t>(w.backlog_bytes, 16 << 20);
  w.drain_max_s = std::min(w.drain_max_s, 10.0);
  w.prefill_max_s = std::min(w.prefill_max_s, 10.0);
}

}  // namespace shale::bench
