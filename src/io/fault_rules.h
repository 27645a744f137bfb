// FaultRules<Fault>: the fault-rule bookkeeping shared by the fault-injecting wrappers
// (io::FaultyFs, objstore::FaultyObjectStore, meta::FaultyMetaStore).
//
// A rule is a `Fault` value with at least these members:
//   uint32_t ops;        bit mask of the operation kinds it applies to
//   int64_t nth;         fire on the nth matching operation (1-based, counted from when the rule
//                        was added); 0 = not count-based
//   bool and_after;      with nth: also fire on every matching operation after the nth
//   double probability;  fire on each matching operation with this probability (seeded RNG, so a
//                        failing run replays exactly with the same seed)
// check() counts the operation, advances every matching rule and returns the first firing rule
// (in the order rules were added), then sleeps for the operation's latency, if one is set, outside
// the lock. What a firing rule does is up to the wrapper.
//
// Ownership: plain value type. Thread-safety: every method is thread-safe.
#pragma once

#include <bit>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

namespace shale::io {

template <typename Fault, int kOpKinds>
class FaultRules {
  static_assert(kOpKinds > 0 && kOpKinds <= 32);

 public:
  explicit FaultRules(uint64_t seed = 1) : rng_(seed) {}

  // Adds a rule; returns its id for remove().
  int add(Fault f) {
    std::lock_guard<std::mutex> l(mu_);
    int id = next_id_++;
    rules_.emplace(id, Rule{std::move(f), 0});
    return id;
  }
  void remove(int id) {
    std::lock_guard<std::mutex> l(mu_);
    rules_.erase(id);
  }
  // Drops every rule and every latency.
  void clear() {
    std::lock_guard<std::mutex> l(mu_);
    rules_.clear();
    latency_.clear();
  }
  // Sleeps `d` before every operation of the kinds in `ops`.
  void set_latency(uint32_t ops, std::chrono::milliseconds d) {
    std::lock_guard<std::mutex> l(mu_);
    for (int i = 0; i < kOpKinds; ++i) {
      if (ops & (1u << i)) latency_[i] = d;
    }
  }
  // Operations failed by injection so far.
  uint64_t injected() const {
    std::lock_guard<std::mutex> l(mu_);
    return injected_;
  }
  // Operations of kind `op_bit` seen so far (failed or not).
  uint64_t op_count(uint32_t op_bit) const {
    std::lock_guard<std::mutex> l(mu_);
    return counts_[index(op_bit)];
  }

  // One operation of kind `op_bit` (a single bit): returns the fault to inject, if any.
  // `matches(const Fault&)` is an extra per-rule filter (e.g. a path substring); a rule it
  // rejects does not count the operation.
  template <typename Match>
  std::optional<Fault> check(uint32_t op_bit, Match&& matches) {
    std::optional<Fault> hit;
    std::chrono::milliseconds delay{0};
    {
      std::lock_guard<std::mutex> l(mu_);
      const int i = index(op_bit);
      ++counts_[i];
      if (auto it = latency_.find(i); it != latency_.end()) delay = it->second;
      for (auto& [id, r] : rules_) {
        if ((r.f.ops & op_bit) == 0 || !matches(r.f)) continue;
        ++r.seen;
        bool fire = r.f.nth > 0 && (r.seen == r.f.nth || (r.f.and_after && r.seen > r.f.nth));
        if (r.f.probability > 0 &&
            std::uniform_real_distribution<double>(0, 1)(rng_) < r.f.probability) {
          fire = true;
        }
        if (fire && !hit) hit = r.f;
      }
      if (hit) ++injected_;
    }
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    return hit;
  }
  std::optional<Fault> check(uint32_t op_bit) {
    return check(op_bit, [](const Fault&) { return true; });
  }

  // A uniformly random number in [0, n) from the same seeded RNG (0 when n == 0).
  uint64_t random_below(uint64_t n) {
    std::lock_guard<std::mutex> l(mu_);
    return n == 0 ? 0 : rng_() % n;
  }

 private:
  struct Rule {
    Fault f;
    int64_t seen = 0;
  };
  static int index(uint32_t op_bit) { return std::countr_zero(op_bit) % kOpKinds; }

  mutable std::mutex mu_;
  std::map<int, Rule> rules_;
  int next_id_ = 1;
  std::mt19937_64 rng_;
  uint64_t injected_ = 0;
  uint64_t counts_[kOpKinds] = {};
  std::map<int, std::chrono::milliseconds> latency_;
};

}  // namespace shale::io
