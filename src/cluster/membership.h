// Membership: this broker's registration in the cluster. It grants a lease, registers
// shale/brokers/<id> (id, advertised host:port, rack) under it with create-if-absent, and keeps
// the lease alive from its own thread. If the key is taken (another live process with the same
// id, or this broker's previous incarnation whose lease has not expired yet) start() waits up
// to two TTLs plus kRegisterPatience for it to go away, then fails. (etcd renews every lease
// when it elects a leader, so a dead incarnation's lease may outlive its TTL by a lot.)
//
// Lease in doubt: serving() is true only while the last keep-alive that etcd acknowledged was
// SENT less than (ttl - margin) ago. The lease cannot have expired before send + ttl, and the
// controller reassigns only after expiry, so a broker that stops serving at send + ttl - margin
// never serves a partition that was already given to another broker (assuming clock rates
// agree within margin/ttl). A broker paused (SIGSTOP) or cut off from etcd therefore stops
// serving on its own; when it regains etcd after its lease expired it registers again under a
// new lease and bumps generation(), and the cluster agent must confirm which partitions it still
// owns before serving resumes (see ClusterNode).
//
// Ownership: borrows the store. Threading: thread-safe; serving() and generation() are
// lock-free. The destructor stops the thread without revoking (revoke() for a clean exit).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "broker/cluster_view.h"
#include "meta/meta_store.h"

namespace shale::cluster {

// Beyond two TTLs, how long start() waits for a previous registration of its id to expire.
inline constexpr std::chrono::seconds kRegisterPatience{15};

struct MembershipOptions {
  broker::BrokerEndpoint self;
  std::chrono::seconds ttl{6};
};

class Membership {
 public:
  Membership(meta::MetaStore& meta, MembershipOptions opts);
  ~Membership();
  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  // Registers (blocking, see above) and starts the keep-alive thread.
  Status start();
  // Stops keeping the lease and revokes it: the registration (and controllership) go now.
  void revoke();

  // Lease not in doubt AND the cluster agent confirmed ownership for the current registration.
  bool serving() const;
  // The lease is not in doubt (whatever the agent confirmed).
  bool lease_valid() const;
  // Incremented by every successful registration (1 after start()).
  int64_t generation() const { return generation_.load(); }
  // The cluster agent read the assignments and released what it no longer owns, in a pass that
  // started at registration `gen`.
  void confirm(int64_t gen) { confirmed_.store(gen); }
  LeaseId lease() const;
  const broker::BrokerEndpoint& self() const { return opts_.self; }

 private:
  Status register_once(std::chrono::steady_clock::time_point deadline);
  bool registered_under(LeaseId lease);
  void run();

  meta::MetaStore& meta_;
  const MembershipOptions opts_;
  std::atomic<int64_t> generation_{0};
  std::atomic<int64_t> confirmed_{0};
  std::atomic<int64_t> valid_until_ns_{0};  // steady_clock; serving() while now < this
  mutable std::mutex mu_;
  std::condition_variable cv_;
  LeaseId lease_{0};  // guarded by mu_
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace shale::cluster
