// A tiny metrics registry: counters, gauges and fixed-bucket histograms, rendered in the
// Prometheus text exposition format (version 0.0.4).
//
// Hot path: Counter::inc, Gauge::add and Histogram::observe are a few relaxed atomic adds; no
// lock, no allocation. Registration (counter()/gauge()/histogram()) takes a mutex and is meant for
// startup or first use; the returned references stay valid for the registry's lifetime.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace shale::kafka {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void add(int64_t d) { v_.fetch_add(d, std::memory_order_relaxed); }
  void set(int64_t v) { v_.store(v, std::memory_order_relaxed); }
  int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// Cumulative histogram over fixed upper bounds (plus +Inf). Values are in the unit the metric
// name says (seconds for *_seconds).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Per-bucket (non-cumulative) counts; the last entry is the +Inf bucket.
  std::vector<uint64_t> bucket_counts() const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micros_{0};  // sum in millionths of the unit
};

// Latency buckets in seconds, 100us .. 10s.
std::vector<double> latency_buckets_seconds();

class MetricsRegistry {
 public:
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help,
                       const std::vector<double>& bounds, const Labels& labels = {});
  // Prometheus text format of every registered series, then of every collector.
  std::string render() const;

  // A collector renders extra families (HELP/TYPE lines included) at scrape time, e.g. gauges
  // read from live objects. It runs on the scraping thread under the registry's lock, so it must
  // not call back into the registry; remove_collector() returns only when no render uses it.
  using Collector = std::function<std::string()>;
  uint64_t add_collector(Collector fn);
  void remove_collector(uint64_t id);

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Series {
    std::string labels;  // rendered: {a="b",c="d"} or empty
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  struct Family {
    Type type;
    std::string help;
    std::vector<std::unique_ptr<Series>> series;
  };
  Series& get(const std::string& name, const std::string& help, Type type, const Labels& labels);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;    // guarded by mu_
  std::map<uint64_t, Collector> collectors_;  // guarded by mu_
  uint64_t next_collector_ = 1;               // guarded by mu_
};

}  // namespace shale::kafka
