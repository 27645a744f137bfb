// Test helpers for MetaStore users: a watch-event collector that a test can wait on.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "meta/meta_store.h"

namespace shale::meta {

// Collects WatchUpdates delivered on the store's thread; wait_events() blocks the test until
// enough events arrived (or a timeout passed).
class WatchCollector {
 public:
  WatchCallback callback() {
    return [this](const WatchUpdate& u) {
      std::lock_guard<std::mutex> l(mu_);
      for (const auto& e : u.events) events_.push_back(e);
      if (u.compacted) {
        compacted_ = true;
        compact_revision_ = u.compact_revision;
      }
      ++updates_;
      cv_.notify_all();
    };
  }
  // Waits until at least n events arrived; returns a copy of all events so far.
  std::vector<WatchEvent> wait_events(size_t n,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, timeout, [&] { return events_.size() >= n; });
    return events_;
  }
  bool wait_compacted(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, timeout, [&] { return compacted_; });
  }
  std::vector<WatchEvent> events() {
    std::lock_guard<std::mutex> l(mu_);
    return events_;
  }
  Revision compact_revision() {
    std::lock_guard<std::mutex> l(mu_);
    return compact_revision_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<WatchEvent> events_;
  bool compacted_ = false;
  Revision compact_revision_{0};
  int updates_ = 0;
};

}  // namespace shale::meta
