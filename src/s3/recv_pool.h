// RecvBufferPool: recycled receive buffers for GET response bodies.
//
// Why: a catch-up reader keeps each GET's buffer alive in its block cache until the blocks are
// evicted, so every GET of a fresh 2 MiB buffer touched new pages: page faults and the kernel's
// zero-fill cost about as much CPU as copying the body (perf on a cold catch-up, BENCHMARKS.md
// § 5). Buffers that come back here keep their pages; the next GET writes into them.
//
// Ownership: share() wraps a body so that the last Buf slice referring to it hands the vector
// back; the pool is held by shared_ptr from every such Buf, so Bufs may outlive the store.
// Bound: at most max_idle_bytes of capacity is kept idle; beyond it buffers are freed.
// Threading: all methods are thread-safe (one mutex; a take/give is a few pointer moves).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "base/buf.h"

namespace shale::s3 {

class RecvBufferPool : public std::enable_shared_from_this<RecvBufferPool> {
 public:
  static std::shared_ptr<RecvBufferPool> create(size_t max_idle_bytes) {
    return std::shared_ptr<RecvBufferPool>(new RecvBufferPool(max_idle_bytes));
  }

  // An empty vector with capacity >= n: an idle buffer of capacity in [n, 2n] if there is one
  // (its pages are already mapped), else a fresh reservation.
  std::vector<uint8_t> take(size_t n);
  // Returns a buffer for reuse (dropped when the idle bound is full or it is tiny).
  void give(std::vector<uint8_t>&& v);
  // The body as a Buf whose storage goes back to this pool when the last slice is dropped.
  Buf share(std::vector<uint8_t>&& body);

  size_t idle_bytes() const;
  uint64_t reused() const;  // take() calls served from an idle buffer

 private:
  explicit RecvBufferPool(size_t max_idle_bytes) : max_idle_(max_idle_bytes) {}

  // Buffers below this capacity are not kept (small bodies: XML, errors, tails).
  static constexpr size_t kMinPooled = 64 * 1024;

  const size_t max_idle_;
  mutable std::mutex mu_;
  std::vector<std::vector<uint8_t>> idle_;  // guarded by mu_
  size_t idle_bytes_ = 0;                   // guarded by mu_: sum of idle capacities
  uint64_t reused_ = 0;                     // guarded by mu_
};

}  // namespace shale::s3
