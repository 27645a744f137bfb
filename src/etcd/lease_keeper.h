// LeaseKeeper: keeps one lease alive from a background thread, for registrations (a broker's
// /brokers/<id> key) that must vanish when the process dies.
//
// It calls keep_alive every ttl/3. The lease counts as lost - on_lost is called once, on the
// keeper's thread, and the keeper stops - when the store says the lease is gone (kNotFound), or
// when no keep-alive has succeeded for a whole TTL (etcd unreachable: the lease has expired or
// will have by the time the store is back, so the caller must re-register under a new lease).
// Transient errors inside the TTL are retried every ttl/10.
// on_lost must not destroy the keeper (it runs on the keeper's thread, which the destructor joins).
//
// Ownership: borrows the store (must outlive the keeper). The destructor stops the thread and
// does NOT revoke the lease (call revoke() for a clean shutdown). Timing is real time
// (std::chrono::steady_clock), because the lease expires on etcd's clock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "meta/meta_store.h"

namespace shale::etcd {

class LeaseKeeper {
 public:
  using LostCallback = std::function<void(const Status& why)>;

  LeaseKeeper(meta::MetaStore& store, LeaseId lease, std::chrono::seconds ttl,
              LostCallback on_lost);
  ~LeaseKeeper();
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // Grants a lease of ttl and starts keeping it.
  static Result<std::unique_ptr<LeaseKeeper>> start(meta::MetaStore& store,
                                                    std::chrono::seconds ttl, LostCallback on_lost);

  LeaseId lease() const { return lease_; }
  bool lost() const;
  int64_t keep_alives() const;  // successful keep-alives so far
  // Stops keeping and revokes the lease (its keys are deleted now).
  Status revoke();

 private:
  void run();
  void stop();

  meta::MetaStore& store_;
  const LeaseId lease_;
  const std::chrono::seconds ttl_;
  LostCallback on_lost_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool lost_ = false;
  int64_t keep_alives_ = 0;
  std::thread thread_;
};

}  // namespace shale::etcd
