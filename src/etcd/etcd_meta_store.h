// EtcdMetaStore: MetaStore on an etcd 3.4 cluster through its v3 JSON gateway (HTTP/1.1 +
// libcurl). The MetaStore model is etcd's, so each call is one gateway request; README.md maps
// them field by field.
//
// Ownership: owns its HTTP client (pooled keep-alive connections, see etcd_http.h) and one
// watch thread that owns one long-lived HTTP connection per watch.
// Durability: a mutation that returns OK was committed by the etcd quorum (etcd fsyncs its WAL).
// Failure: every call has a deadline (EtcdOptions::call_timeout) and each endpoint attempt
// EtcdOptions::attempt_timeout; when no endpoint answers the call returns Errc::kUnavailable.
// Lost answers follow meta_store.h ("Ambiguous outcomes"): reads, put/del and self-fencing
// txns with repeat_if_lost are repeated on the next endpoint (a self-fencing txn whose earlier
// attempt applied reports succeeded); other mutations return kUnavailable: they may or may not have
// applied.
//
// Watches: callbacks run on the store's watch thread, in revision order per watch, never
// concurrently with each other. A watch remembers the next revision it needs; when its stream
// breaks (etcd restart, connection cut, member lost its leader) it reconnects with backoff,
// rotating endpoints, and resumes from that revision, so callers see every event exactly once.
// If etcd compacted that revision away, the callback gets compacted=true with the compact
// revision and the watch ends (the caller re-reads and watches again). Callbacks may call the
// store, including cancel_watch; cancel_watch from another thread waits for a running callback
// of that watch to return, and no callback of that watch starts after it returns.
//
// Threading: all methods are thread-safe and blocking.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/clock.h"
#include "etcd/etcd_http.h"
#include "meta/meta_store.h"

namespace shale::etcd {

class EtcdMetaStore final : public meta::MetaStore {
 public:
  EtcdMetaStore(std::vector<std::string> endpoints, EtcdOptions opts, Clock& clock);
  ~EtcdMetaStore() override;

  Result<meta::RangeResult> get(const std::string& key, const std::string& range_end = {},
                                int64_t limit = 0) override;
  Result<Revision> put(const std::string& key, const std::string& value,
                       LeaseId lease = LeaseId(0)) override;
  Result<int64_t> del(const std::string& key, const std::string& range_end = {}) override;
  Result<meta::TxnResult> txn(const meta::Txn& t) override;
  Result<LeaseId> grant_lease(std::chrono::seconds ttl) override;
  Status keep_alive(LeaseId id) override;
  Status revoke_lease(LeaseId id) override;
  Result<meta::WatchId> watch(const std::string& key, const std::string& range_end,
                              Revision start_revision, meta::WatchCallback cb) override;
  void cancel_watch(meta::WatchId id) override;

  // etcd-only: compacts history up to rev (watches from older revisions report compaction).
  Status compact(Revision rev);
  // Number of times watch streams were (re)opened; tests use it to see a reconnect happen.
  int64_t watch_connects() const;

 private:
  struct Watch;
  void watch_loop();
  void process_lines(Watch& w, std::vector<std::pair<Watch*, meta::WatchUpdate>>& out);
  void open_stream(Watch& w);
  void close_stream(Watch& w);
  void schedule_retry(Watch& w);

  EtcdHttp http_;
  Clock& clock_;
  void* multi_ = nullptr;  // CURLM*, used only by the watch thread (plus curl_multi_wakeup)

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<meta::WatchId, std::shared_ptr<Watch>> watches_;
  meta::WatchId next_watch_id_ = 1;
  meta::WatchId delivering_ = 0;  // watch whose callback runs now (0 = none)
  bool stop_ = false;
  int64_t watch_connects_ = 0;
  std::thread watch_thread_;
};

// "etcd://127.0.0.1:2379,127.0.0.1:22379". Does not contact etcd (the first call does).
Result<std::unique_ptr<meta::MetaStore>> open_etcd_meta(const std::string& uri, Clock& clock,
                                                        EtcdOptions opts = {});
// Same, typed, for callers and tests that need compact() / watch_connects().
Result<std::unique_ptr<EtcdMetaStore>> open_etcd_store(const std::string& uri, Clock& clock,
                                                       EtcdOptions opts = {});

}  // namespace shale::etcd
