// RecvBuffer: a response body as it is received, and RecvBufferPool: recycled RecvBuffers for
// GET response bodies.
//
// Why: a catch-up reader keeps each GET's buffer alive in its block cache until the blocks are
// evicted, so every GET of a fresh 2 MiB buffer touched new pages: page faults and the kernel's
// zero-fill cost about as much CPU as copying the body (perf on a cold catch-up, BENCHMARKS.md
// § 5). Buffers that come back here keep their pages; the next GET writes into them.
//
// Ownership: share() wraps a body so that the last Buf slice referring to it hands the buffer
// back; the pool is held by shared_ptr from every such Buf, so Bufs may outlive the store.
// Bound: at most max_idle_bytes of capacity is kept idle; beyond it buffers are freed.
// Threading: all methods are thread-safe (one mutex; a take/give is a few pointer moves).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "base/buf.h"

namespace shale::s3 {

// A growable byte buffer, like vector<uint8_t> without zero-filling, whose storage from
// kMappedMinBytes up is a huge-page mapping (base/mapped_bytes.h): a fresh 2 MiB body then costs
// one page fault, not 512. Move-only; one thread at a time.
class RecvBuffer {
 public:
  RecvBuffer() = default;
  RecvBuffer(RecvBuffer&& o) noexcept { *this = std::move(o); }
  RecvBuffer& operator=(RecvBuffer&& o) noexcept;
  RecvBuffer(const RecvBuffer&) = delete;
  RecvBuffer& operator=(const RecvBuffer&) = delete;
  ~RecvBuffer() { release(); }

  // Afterwards capacity() >= n; the contents are kept.
  void reserve(size_t n);
  // Appends n bytes, growing the capacity (at least doubling it) when they do not fit.
  void append(const void* p, size_t n);
  void clear() { size_ = 0; }

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }
  std::string_view view() const { return {reinterpret_cast<const char*>(data_), size_}; }

 private:
  friend class RecvBufferPool;  // prefault() writes to a fresh buffer's pages
  void release();

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
  bool mapped_ = false;  // data_ is a mapping of capacity_ bytes (else from malloc)
};

class RecvBufferPool : public std::enable_shared_from_this<RecvBufferPool> {
 public:
  static std::shared_ptr<RecvBufferPool> create(size_t max_idle_bytes) {
    return std::shared_ptr<RecvBufferPool>(new RecvBufferPool(max_idle_bytes));
  }

  // An empty buffer with capacity >= n: an idle buffer of capacity in [n, 2n] if there is one
  // (its pages are already mapped), else a fresh reservation.
  RecvBuffer take(size_t n);
  // Returns a buffer for reuse (dropped when the idle bound is full or it is tiny).
  void give(RecvBuffer&& v);
  // Fills the pool with fresh buffers of `buffer_bytes` capacity, every page written once, until
  // it holds `bytes` idle (never past the idle bound). Returns the bytes added (0 for buffers
  // under 64 KiB, which the pool does not keep). Like the JVM's
  // AlwaysPreTouch for a Kafka broker: the page faults and the kernel's zero-fill of the first
  // GETs after a start happen here, not while a consumer waits (BENCHMARKS.md § 5r).
  size_t prefault(size_t bytes, size_t buffer_bytes);
  // The body as a Buf whose storage goes back to this pool when the last slice is dropped.
  Buf share(RecvBuffer&& body);

  size_t idle_bytes() const;
  uint64_t reused() const;  // take() calls served from an idle buffer

 private:
  explicit RecvBufferPool(size_t max_idle_bytes) : max_idle_(max_idle_bytes) {}

  // Buffers below this capacity are not kept (small bodies: XML, errors, tails).
  static constexpr size_t kMinPooled = 64 * 1024;

  const size_t max_idle_;
  mutable std::mutex mu_;
  std::vector<RecvBuffer> idle_;  // guarded by mu_
  size_t idle_bytes_ = 0;         // guarded by mu_: sum of idle capacities
  uint64_t reused_ = 0;           // guarded by mu_
};

}  // namespace shale::s3
