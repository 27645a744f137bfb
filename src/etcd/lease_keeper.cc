#include "etcd/lease_keeper.h"

#include "base/log.h"

namespace shale::etcd {

using Clk = std::chrono::steady_clock;

LeaseKeeper::LeaseKeeper(meta::MetaStore& store, LeaseId lease, std::chrono::seconds ttl,
                         LostCallback on_lost)
    : store_(store), lease_(lease), ttl_(ttl), on_lost_(std::move(on_lost)) {
  thread_ = std::thread([this] { run(); });
}

LeaseKeeper::~LeaseKeeper() {
  stop();
}

Result<std::unique_ptr<LeaseKeeper>> LeaseKeeper::start(meta::MetaStore& store,
                                                        std::chrono::seconds ttl,
                                                        LostCallback on_lost) {
  SHALE_ASSIGN_OR_RETURN(LeaseId id, store.grant_lease(ttl));
  return std::make_unique<LeaseKeeper>(store, id, ttl, std::move(on_lost));
}

bool LeaseKeeper::lost() const {
  std::lock_guard<std::mutex> l(mu_);
  return lost_;
}

int64_t LeaseKeeper::keep_alives() const {
  std::lock_guard<std::mutex> l(mu_);
  return keep_alives_;
}

void LeaseKeeper::stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status LeaseKeeper::revoke() {
  stop();
  return store_.revoke_lease(lease_);
}

void LeaseKeeper::run() {
  const auto period = std::chrono::duration_cast<std::chrono::milliseconds>(ttl_) / 3;
  const auto retry = std::max(std::chrono::milliseconds(50),
                              std::chrono::duration_cast<std::chrono::milliseconds>(ttl_) / 10);
  Clk::time_point last_ok = Clk::now();
  auto wait = period;
  while (true) {
    {
      std::unique_lock<std::mutex> l(mu_);
      if (cv_.wait_for(l, wait, [&] { return stop_; })) return;
    }
    Status st = store_.keep_alive(lease_);
    if (st.ok()) {
      last_ok = Clk::now();
      wait = period;
      std::lock_guard<std::mutex> l(mu_);
      ++keep_alives_;
      continue;
    }
    const bool gone = st.code() == Errc::kNotFound;
    if (!gone && Clk::now() - last_ok < ttl_) {
      SHALE_LOG_WARN("etcd", "lease {} keep-alive failed, retrying: {}", lease_.value(),
                     st.to_string());
      wait = retry;
      continue;
    }
    Status why = gone ? st
                      : Status(Errc::kUnavailable,
                               fmt::format("no keep-alive succeeded for the TTL ({}s): {}",
                                           ttl_.count(), st.message()));
    SHALE_LOG_WARN("etcd", "lease {} lost: {}", lease_.value(), why.to_string());
    {
      std::lock_guard<std::mutex> l(mu_);
      lost_ = true;
    }
    if (on_lost_) on_lost_(why);
    return;
  }
}

}  // namespace shale::etcd
