#include "cluster/load_report.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "base/log.h"
#include "cluster/records.h"

namespace shale::cluster {

std::string load_key(int32_t broker) {
  return fmt::format("{}{}", kLoadPrefix, broker);
}

std::string encode_load_report(const LoadReport& r) {
  auto round = [](double v) { return std::round(v * 100) / 100; };  // 0.01/s is plenty
  nlohmann::json parts = nlohmann::json::array();
  for (const auto& [key, rate] : r.partitions) {
    parts.push_back(
        {key.first, key.second, round(rate.bytes_in), round(rate.bytes_out), round(rate.requests)});
  }
  nlohmann::json j{{"seq", r.seq}, {"interval_ms", r.interval_ms}, {"p", std::move(parts)}};
  return j.dump();
}

Result<LoadReport> decode_load_report(std::string_view json) {
  auto bad = [&] { return Error{Errc::kCorruption, fmt::format("bad load record: {}", json)}; };
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("p") || !j["p"].is_array()) return bad();
  LoadReport r;
  r.seq = j.value("seq", int64_t{0});
  r.interval_ms = j.value("interval_ms", int64_t{0});
  for (const auto& e : j["p"]) {
    if (!e.is_array() || e.size() != 5 || !e[0].is_string() || !e[1].is_number_integer() ||
        !e[2].is_number() || !e[3].is_number() || !e[4].is_number()) {
      return bad();
    }
    r.partitions[{e[0].get<std::string>(), e[1].get<int32_t>()}] =
        PartitionRates{e[2].get<double>(), e[3].get<double>(), e[4].get<double>()};
  }
  return r;
}

Result<std::map<int32_t, LoadReport>> read_load_reports(meta::MetaStore& meta) {
  const std::string lp(kLoadPrefix);
  SHALE_ASSIGN_OR_RETURN(meta::RangeResult rr, meta.get(lp, meta::prefix_end(lp)));
  std::map<int32_t, LoadReport> out;
  for (const auto& kv : rr.kvs) {
    std::string_view id(kv.key);
    id.remove_prefix(lp.size());
    int32_t b = -1;
    auto [ptr, ec] = std::from_chars(id.data(), id.data() + id.size(), b);
    if (ec != std::errc() || ptr != id.data() + id.size()) continue;
    auto r = decode_load_report(kv.value);
    if (!r.ok()) continue;
    r->broker = b;
    out[b] = std::move(*r);
  }
  return out;
}

void RateMeter::update(const std::vector<Sample>& samples,
                       std::chrono::steady_clock::time_point now) {
  std::map<PartitionKey, State> next;
  for (const Sample& s : samples) {
    PartitionKey key{s.topic, s.index};
    State st;
    auto it = state_.find(key);
    if (it != state_.end() && it->second.epoch == s.epoch &&
        s.counters.bytes_in >= it->second.last.bytes_in &&
        s.counters.bytes_out >= it->second.last.bytes_out &&
        s.counters.requests >= it->second.last.requests) {
      st = it->second;
      const double dt = std::chrono::duration<double>(now - st.at).count();
      if (dt <= 0) {
        next[key] = st;
        continue;
      }
      const PartitionRates inst{static_cast<double>(s.counters.bytes_in - st.last.bytes_in) / dt,
                                static_cast<double>(s.counters.bytes_out - st.last.bytes_out) / dt,
                                static_cast<double>(s.counters.requests - st.last.requests) / dt};
      const double w =
          st.measured ? 1 - std::exp(-dt / std::chrono::duration<double>(window_).count()) : 1;
      st.rate.bytes_in += w * (inst.bytes_in - st.rate.bytes_in);
      st.rate.bytes_out += w * (inst.bytes_out - st.rate.bytes_out);
      st.rate.requests += w * (inst.requests - st.rate.requests);
      st.measured = true;
    }
    st.epoch = s.epoch;
    st.last = s.counters;
    st.at = now;
    next[key] = st;
  }
  state_ = std::move(next);
}

std::map<PartitionKey, PartitionRates> RateMeter::rates() const {
  std::map<PartitionKey, PartitionRates> out;
  for (const auto& [key, st] : state_) out[key] = st.rate;
  return out;
}

LoadReporter::LoadReporter(meta::MetaStore& meta, Membership& membership,
                           broker::TopicManager& topics, LoadReporterOptions opts)
    : meta_(meta), membership_(membership), topics_(topics), opts_(opts), meter_(opts.window) {}

LoadReporter::~LoadReporter() {
  stop();
}

void LoadReporter::start() {
  thread_ = std::thread([this] { run(); });
}

void LoadReporter::stop() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LoadReporter::run() {
  for (;;) {
    {
      std::unique_lock lk(mu_);
      if (cv_.wait_for(lk, opts_.interval, [&] { return stop_; })) return;
    }
    if (Status st = report_once(); !st.ok()) {
      SHALE_LOG_WARN("cluster", "load report: {}", st.to_string());
    }
  }
}

Status LoadReporter::report_once() {
  std::vector<RateMeter::Sample> samples;
  for (const auto& o : topics_.owned()) {
    samples.push_back({o.topic, o.index, o.epoch.value(), o.load});
  }
  meter_.update(samples, std::chrono::steady_clock::now());
  if (!membership_.lease_valid()) return {};  // the record lives on the lease
  LoadReport r;
  r.seq = ++seq_;
  r.interval_ms = opts_.interval.count();
  r.partitions = meter_.rates();
  auto put = meta_.put(load_key(membership_.self().id), encode_load_report(r), membership_.lease());
  return put.ok() ? Status() : put.status();
}

}  // namespace shale::cluster
