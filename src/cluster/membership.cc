#include "cluster/membership.h"

#include <fmt/format.h>

#include "base/log.h"
#include "cluster/records.h"

namespace shale::cluster {
namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t to_ns(SteadyClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// How long before the lease's earliest possible expiry this broker stops serving.
std::chrono::milliseconds margin_of(std::chrono::seconds ttl) {
  return std::max<std::chrono::milliseconds>(ttl / 4, std::chrono::milliseconds(500));
}

}  // namespace

Membership::Membership(meta::MetaStore& meta, MembershipOptions opts)
    : meta_(meta), opts_(std::move(opts)) {}

Membership::~Membership() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status Membership::register_once(SteadyClock::time_point deadline) {
  const std::string key = broker_key(opts_.self.id);
  bool waited = false;
  for (;;) {
    auto sent = SteadyClock::now();
    SHALE_ASSIGN_OR_RETURN(LeaseId lease, meta_.grant_lease(opts_.ttl));
    meta::Txn t;
    t.compares.push_back(meta::Compare::absent(key));
    t.success.push_back(meta::PutOp{key, encode_broker(opts_.self), lease});
    t.repeat_if_lost = true;  // under a lease just granted to us: identifies the write
    auto r = meta_.txn(t);
    if (!r.ok() && registered_under(lease)) {
      SHALE_LOG_WARN("cluster", "broker {}: registration answered {} but landed", opts_.self.id,
                     r.error().to_string());
      r = meta::TxnResult{true, Revision(0), {}};
    }
    if (r.ok() && r->succeeded) {
      {
        std::lock_guard lk(mu_);
        lease_ = lease;
      }
      valid_until_ns_.store(to_ns(sent + opts_.ttl - margin_of(opts_.ttl)));
      int64_t gen = generation_.fetch_add(1) + 1;
      SHALE_LOG_INFO("cluster", "registered broker {} ({}:{}, rack '{}') under lease {} (gen {})",
                     opts_.self.id, opts_.self.host, opts_.self.port, opts_.self.rack, lease, gen);
      return {};
    }
    (void)meta_.revoke_lease(lease);
    if (!r.ok()) return r.error();
    if (SteadyClock::now() >= deadline) {
      return Status(Errc::kAlreadyExists,
                    fmt::format("broker id {} is registered by a live broker", opts_.self.id));
    }
    if (!waited) {
      SHALE_LOG_WARN("cluster", "broker id {} still registered (a previous run's lease?); waiting",
                     opts_.self.id);
      waited = true;
    }
    std::unique_lock lk(mu_);
    if (cv_.wait_for(lk, std::chrono::milliseconds(300), [&] { return stop_; })) {
      return Status(Errc::kClosed, "stopping");
    }
  }
}

// After a registration txn whose answer was lost: whether it applied. A key under the lease just
// granted to us can only be our own write.
bool Membership::registered_under(LeaseId lease) {
  auto r = meta_.get(broker_key(opts_.self.id));
  return r.ok() && !r->kvs.empty() && r->kvs[0].lease == lease &&
         r->kvs[0].value == encode_broker(opts_.self);
}

Status Membership::start() {
  SHALE_RETURN_IF_ERROR(register_once(SteadyClock::now() + 2 * opts_.ttl + kRegisterPatience));
  thread_ = std::thread([this] { run(); });
  return {};
}

void Membership::run() {
  const auto period = std::chrono::duration_cast<std::chrono::milliseconds>(opts_.ttl) / 3;
  const auto retry = std::chrono::duration_cast<std::chrono::milliseconds>(opts_.ttl) / 10;
  auto wait = period;
  for (;;) {
    LeaseId lease;
    {
      std::unique_lock lk(mu_);
      if (cv_.wait_for(lk, wait, [&] { return stop_; })) return;
      lease = lease_;
    }
    auto sent = SteadyClock::now();
    Status st = meta_.keep_alive(lease);
    if (st.ok()) {
      valid_until_ns_.store(to_ns(sent + opts_.ttl - margin_of(opts_.ttl)));
      wait = period;
      continue;
    }
    if (st.code() != Errc::kNotFound) {
      SHALE_LOG_WARN("cluster", "keep-alive of lease {}: {}", lease, st.to_string());
      wait = retry;
      continue;
    }
    valid_until_ns_.store(0);
    SHALE_LOG_WARN("cluster", "lease {} expired: this broker stopped serving; registering again",
                   lease);
    st = register_once(SteadyClock::now() + 2 * opts_.ttl + kRegisterPatience);
    if (!st.ok()) SHALE_LOG_WARN("cluster", "re-registration: {}", st.to_string());
    wait = st.ok() ? period : retry;
  }
}

void Membership::revoke() {
  LeaseId lease;
  {
    std::lock_guard lk(mu_);
    stop_ = true;
    lease = lease_;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  valid_until_ns_.store(0);
  if (Status st = meta_.revoke_lease(lease); !st.ok()) {
    SHALE_LOG_WARN("cluster", "revoking lease {}: {}", lease, st.to_string());
  }
}

bool Membership::lease_valid() const {
  return to_ns(SteadyClock::now()) < valid_until_ns_.load(std::memory_order_relaxed);
}

bool Membership::serving() const {
  return confirmed_.load() == generation_.load() && lease_valid();
}

LeaseId Membership::lease() const {
  std::lock_guard lk(mu_);
  return lease_;
}

}  // namespace shale::cluster
