#include "kafka/server/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace shale::kafka {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  std::sort(bounds_.begin(), bounds_.end());
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  if (v > 0) sum_micros_.fetch_add(static_cast<uint64_t>(v * 1e6), std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::bucket_counts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i < out.size(); ++i) out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}

double Histogram::sum() const {
  return static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
}

std::vector<double> latency_buckets_seconds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0};
}

namespace {

std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string render_labels(const Labels& labels) {
  if (labels.empty()) return {};
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ",";
    out += fmt::format("{}=\"{}\"", labels[i].first, escape_label(labels[i].second));
  }
  return out + "}";
}

// Inserts le="x" into a rendered label set.
std::string with_le(const std::string& labels, const std::string& le) {
  if (labels.empty()) return fmt::format("{{le=\"{}\"}}", le);
  return fmt::format("{},le=\"{}\"}}", labels.substr(0, labels.size() - 1), le);
}

}  // namespace

MetricsRegistry::Series& MetricsRegistry::get(const std::string& name, const std::string& help,
                                              Type type, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = families_.try_emplace(name, Family{type, help, {}});
  Family& f = it->second;
  if (!inserted && f.type != type) {
    // Programming error: the same name registered with two types.
    std::fprintf(stderr, "shale: metric %s registered with two types\n", name.c_str());
    std::abort();
  }
  std::string rendered = render_labels(labels);
  for (auto& s : f.series) {
    if (s->labels == rendered) return *s;
  }
  f.series.push_back(std::make_unique<Series>());
  f.series.back()->labels = std::move(rendered);
  return *f.series.back();
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                  const Labels& labels) {
  Series& s = get(name, help, Type::kCounter, labels);
  std::lock_guard lock(mu_);
  if (!s.counter) s.counter = std::make_unique<Counter>();
  return *s.counter;
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help,
                              const Labels& labels) {
  Series& s = get(name, help, Type::kGauge, labels);
  std::lock_guard lock(mu_);
  if (!s.gauge) s.gauge = std::make_unique<Gauge>();
  return *s.gauge;
}

Histogram& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                      const std::vector<double>& bounds, const Labels& labels) {
  Series& s = get(name, help, Type::kHistogram, labels);
  std::lock_guard lock(mu_);
  if (!s.histogram) s.histogram = std::make_unique<Histogram>(bounds);
  return *s.histogram;
}

std::string MetricsRegistry::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    const char* type = f.type == Type::kCounter ? "counter"
                       : f.type == Type::kGauge ? "gauge"
                                                : "histogram";
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name, type);
    for (const auto& s : f.series) {
      if (s->counter) out += fmt::format("{}{} {}\n", name, s->labels, s->counter->value());
      if (s->gauge) out += fmt::format("{}{} {}\n", name, s->labels, s->gauge->value());
      if (s->histogram) {
        const Histogram& h = *s->histogram;
        auto counts = h.bucket_counts();
        uint64_t cum = 0;
        for (size_t i = 0; i < counts.size(); ++i) {
          cum += counts[i];
          std::string le = i < h.bounds().size() ? fmt::format("{}", h.bounds()[i]) : "+Inf";
          out += fmt::format("{}_bucket{} {}\n", name, with_le(s->labels, le), cum);
        }
        out += fmt::format("{}_sum{} {}\n", name, s->labels, h.sum());
        out += fmt::format("{}_count{} {}\n", name, s->labels, cum);
      }
    }
  }
  for (const auto& [id, fn] : collectors_) out += fn();
  return out;
}

uint64_t MetricsRegistry::add_collector(Collector fn) {
  std::lock_guard lock(mu_);
  const uint64_t id = next_collector_++;
  collectors_.emplace(id, std::move(fn));
  return id;
}

void MetricsRegistry::remove_collector(uint64_t id) {
  std::lock_guard lock(mu_);
  collectors_.erase(id);
}

}  // namespace shale::kafka
