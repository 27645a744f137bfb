// Clock: the seam for time. Production code takes a Clock& so tests can drive time by hand.
// SystemClock is thread-safe; ManualClock is thread-safe for reads and advance().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace shale {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time, for timeouts and ages.
  virtual std::chrono::steady_clock::time_point now() const = 0;
  // Wall-clock milliseconds since the Unix epoch, for record timestamps and retention.
  virtual int64_t wall_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override {
    return std::chrono::steady_clock::now();
  }
  int64_t wall_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  static SystemClock& instance() {
    static SystemClock c;
    return c;
  }
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t wall_ms = 1'700'000'000'000) : ns_(0), wall_ms_(wall_ms) {}
  std::chrono::steady_clock::time_point now() const override {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns_.load()));
  }
  int64_t wall_ms() const override { return wall_ms_.load(); }
  void advance(std::chrono::milliseconds d) {
    ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    wall_ms_ += d.count();
  }

 private:
  std::atomic<int64_t> ns_;
  std::atomic<int64_t> wall_ms_;
};

}  // namespace shale
