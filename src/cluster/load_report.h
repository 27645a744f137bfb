// Load reports: each broker measures the load of the partitions it serves and publishes it for
// the controller's balancer (balancer.h).
//
//   RateMeter     per-partition exponentially-weighted rates (bytes in, bytes out, requests per
//                 second) from the partitions' monotonic counters (broker::LoadCounters), pure.
//   LoadReporter  a thread: every `interval` samples TopicManager::owned(), updates the meter and
//                 writes the broker's record shale/load/<id> under its lease.
//   read_load_reports()  the controller's side: every broker's latest record.
//
// Record (records.h): shale/load/<id> = compact JSON
//   {"seq":N,"interval_ms":I,"p":[["topic",index,bytes_in/s,bytes_out/s,requests/s],...]}
// seq grows by one per publish (the controller counts an observation when some seq changed).
// One key per broker keeps etcd writes at one put per broker per interval; the value is
// ~40 bytes per partition (etcd's default request limit, 1.5 MiB, is ~35 000 partitions).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "base/result.h"
#include "broker/topic_manager.h"
#include "cluster/balancer.h"
#include "cluster/membership.h"
#include "meta/meta_store.h"

namespace shale::cluster {

struct LoadReport {
  int32_t broker = -1;
  int64_t seq = 0;
  int64_t interval_ms = 0;
  std::map<PartitionKey, PartitionRates> partitions;
};

std::string load_key(int32_t broker);
std::string encode_load_report(const LoadReport& r);
Result<LoadReport> decode_load_report(std::string_view json);  // broker is left -1
// Every broker's latest report, by broker id (malformed records are skipped).
Result<std::map<int32_t, LoadReport>> read_load_reports(meta::MetaStore& meta);

// Exponentially-weighted rates with time constant `window`. A partition's first sample sets its
// baseline; its second sets the rate to what was measured in between (no slow ramp from zero
// after a partition moved here); later samples blend in with weight 1 - exp(-dt / window).
// A partition reopened at a new epoch starts again (its counters restarted).
class RateMeter {
 public:
  explicit RateMeter(std::chrono::milliseconds window) : window_(window) {}
  struct Sample {
    std::string topic;
    int32_t index = 0;
    int64_t epoch = 0;
    broker::LoadCounters counters;
  };
  // `now` is any monotonic time; partitions absent from `samples` are forgotten.
  void update(const std::vector<Sample>& samples, std::chrono::steady_clock::time_point now);
  std::map<PartitionKey, PartitionRates> rates() const;

 private:
  struct State {
    int64_t epoch = 0;
    broker::LoadCounters last;
    std::chrono::steady_clock::time_point at;
    bool measured = false;
    PartitionRates rate;
  };
  std::chrono::milliseconds window_;
  std::map<PartitionKey, State> state_;
};

struct LoadReporterOptions {
  std::chrono::milliseconds interval{5000};
  std::chrono::milliseconds window{30000};
};

// Ownership: borrows the store, Membership and TopicManager (all outlive it).
// Threading: start()/stop() from one thread; the reporter thread does the rest.
// Durability: none needed: a record lives on the broker's lease and is rewritten every interval.
class LoadReporter {
 public:
  LoadReporter(meta::MetaStore& meta, Membership& membership, broker::TopicManager& topics,
               LoadReporterOptions opts);
  ~LoadReporter();
  LoadReporter(const LoadReporter&) = delete;
  LoadReporter& operator=(const LoadReporter&) = delete;
  void start();
  void stop();
  // One sample and publish, synchronously (the thread calls it every interval; tests directly).
  Status report_once();

 private:
  void run();

  meta::MetaStore& meta_;
  Membership& membership_;
  broker::TopicManager& topics_;
  const LoadReporterOptions opts_;
  RateMeter meter_;
  int64_t seq_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace shale::cluster
