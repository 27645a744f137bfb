#include "s3/recv_pool.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include "base/mapped_bytes.h"

namespace shale::s3 {

RecvBuffer& RecvBuffer::operator=(RecvBuffer&& o) noexcept {
  if (this != &o) {
    release();
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    capacity_ = std::exchange(o.capacity_, 0);
    mapped_ = std::exchange(o.mapped_, false);
  }
  return *this;
}

void RecvBuffer::release() {
  if (mapped_) {
    unmap_bytes(MappedBytes{data_, capacity_});
  } else {
    std::free(data_);
  }
  data_ = nullptr;
  size_ = capacity_ = 0;
  mapped_ = false;
}

void RecvBuffer::reserve(size_t n) {
  if (n <= capacity_) return;
  uint8_t* data = nullptr;
  size_t capacity = n;
  bool mapped = n >= kMappedMinBytes;
  if (mapped) {
    MappedBytes m = map_bytes(n);
    data = m.data;
    capacity = m.length;
  } else {
    data = static_cast<uint8_t*>(std::malloc(n));
    if (!data) throw std::bad_alloc();
  }
  if (size_ > 0) std::memcpy(data, data_, size_);
  const size_t size = size_;
  release();
  data_ = data;
  size_ = size;
  capacity_ = capacity;
  mapped_ = mapped;
}

void RecvBuffer::append(const void* p, size_t n) {
  if (n == 0) return;
  if (size_ + n > capacity_) reserve(std::max(size_ + n, capacity_ * 2));
  std::memcpy(data_ + size_, p, n);
  size_ += n;
}

RecvBuffer RecvBufferPool::take(size_t n) {
  {
    std::lock_guard lk(mu_);
    for (size_t i = idle_.size(); i-- > 0;) {  // newest first: its pages are the warmest
      const size_t cap = idle_[i].capacity();
      if (cap < n || cap / 2 > n) continue;
      RecvBuffer v = std::move(idle_[i]);
      idle_[i] = std::move(idle_.back());
      idle_.pop_back();
      idle_bytes_ -= cap;
      reused_++;
      return v;
    }
  }
  RecvBuffer v;
  v.reserve(n);
  return v;
}

void RecvBufferPool::give(RecvBuffer&& v) {
  const size_t cap = v.capacity();
  if (cap < kMinPooled) return;
  v.clear();
  std::lock_guard lk(mu_);
  if (idle_bytes_ + cap > max_idle_) return;  // v is freed on return
  idle_bytes_ += cap;
  idle_.push_back(std::move(v));
}

size_t RecvBufferPool::prefault(size_t bytes, size_t buffer_bytes) {
  if (buffer_bytes < kMinPooled) return 0;  // give() would not keep them either
  const size_t limit = std::min(bytes, max_idle_);
  size_t added = 0;
  for (;;) {
    {
      std::lock_guard lk(mu_);
      if (idle_bytes_ + buffer_bytes > limit) return added;
    }
    RecvBuffer v;
    v.reserve(buffer_bytes);
    // One write per 4 KiB page; a huge page faults (and is zeroed) whole at its first.
    constexpr size_t kPage = 4096;
    for (size_t off = 0; off < v.capacity(); off += kPage) v.data_[off] = 0;
    const size_t cap = v.capacity();
    std::lock_guard lk(mu_);
    if (idle_bytes_ + cap > limit) return added;  // a racing give() filled it meanwhile
    idle_bytes_ += cap;
    idle_.push_back(std::move(v));
    added += cap;
  }
}

Buf RecvBufferPool::share(RecvBuffer&& body) {
  auto* owned = new RecvBuffer(std::move(body));
  std::shared_ptr<RecvBuffer> p(owned, [pool = shared_from_this()](RecvBuffer* v) {
    pool->give(std::move(*v));
    delete v;
  });
  const uint8_t* data = p->data();
  const size_t size = p->size(), capacity = p->capacity();
  return Buf::adopt(std::move(p), data, size, capacity);
}

size_t RecvBufferPool::idle_bytes() const {
  std::lock_guard lk(mu_);
  return idle_bytes_;
}

uint64_t RecvBufferPool::reused() const {
  std::lock_guard lk(mu_);
  return reused_;
}

}  // namespace shale::s3
