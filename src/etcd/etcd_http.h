// EtcdHttp: POSTs JSON to the etcd v3 gateway (/v3/...) over libcurl, with connection reuse,
// a deadline on every call and fail-over across several endpoints.
//
// Fail-over: the client sticks to one endpoint and moves to the next when a request could not
// be sent there (connect refused/timed out), etcd says it cannot serve it now (gRPC
// Unavailable, e.g. "no leader"), or no answer came within attempt_timeout (a dead or stuck
// member; every attempt is bounded by it, whatever the request). A request that was sent but
// got no answer (timeout, reset) has an unknown outcome. Retryable requests (idempotent=true:
// reads, lease grant/keep-alive, unconditional put/delete, and self-fencing txns that opt in, see
// meta_store.h) are retried on the next endpoint; `maybe_applied` then tells the caller that
// an earlier attempt may have been applied. Other mutations (other txns,
// lease revoke) return Errc::kUnavailable after the one ambiguous attempt, and the caller
// decides (re-read, or repeat: the next call goes to the next endpoint). "no leader" is safe
// to retry for every request (etcd did not propose it). Retries stop at the call's deadline;
// the result is then kUnavailable with the last error. No call blocks longer than its deadline
// (+ ~60 ms).
//
// gRPC status codes in gateway error bodies map to Errc: InvalidArgument -> kInvalidArgument,
// NotFound -> kNotFound, OutOfRange (compacted) -> kOutOfRange, FailedPrecondition ->
// kConflict, Unavailable/DeadlineExceeded -> kUnavailable, others -> kIoError.
//
// Threading: thread-safe; concurrent calls each borrow a CURL handle from a pool (each handle
// keeps its own keep-alive connection).
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "base/result.h"
#include "etcd/etcd_codec.h"

namespace shale::etcd {

struct EtcdOptions {
  std::chrono::milliseconds call_timeout{5000};     // whole call, all retries included
  std::chrono::milliseconds connect_timeout{1000};  // per connection attempt
  std::chrono::milliseconds attempt_timeout{1500};  // per endpoint attempt, every call
  std::chrono::milliseconds watch_retry_min{50};    // watch reconnect backoff
  std::chrono::milliseconds watch_retry_max{1000};
};

// "etcd://h1:p1,h2:p2" or "h1:p1,h2:p2" (http:// per endpoint is accepted too).
Result<std::vector<std::string>> parse_endpoints(const std::string& uri);

class EtcdHttp {
 public:
  EtcdHttp(std::vector<std::string> endpoints, EtcdOptions opts);
  ~EtcdHttp();
  EtcdHttp(const EtcdHttp&) = delete;
  EtcdHttp& operator=(const EtcdHttp&) = delete;

  // POST body to path (e.g. "/v3/kv/range") and return the parsed JSON answer. If
  // maybe_applied is given, it is set when an attempt was sent and left no answer (etcd may
  // have applied it, or may still apply it).
  Result<Json> post(const std::string& path, const Json& body, bool idempotent,
                    bool* maybe_applied = nullptr);

  // Base URL ("http://host:port") of the endpoint to use now, and a hint that it failed.
  std::string current_endpoint() const;
  void endpoint_failed(const std::string& base);
  const EtcdOptions& options() const { return opts_; }

 private:
  void* take_handle();
  void give_handle(void* h);

  std::vector<std::string> bases_;  // "http://host:port"
  EtcdOptions opts_;
  std::atomic<size_t> current_{0};
  std::mutex pool_mu_;
  std::vector<void*> pool_;  // idle CURL* handles
};

}  // namespace shale::etcd
