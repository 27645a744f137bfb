#include "s3/recv_pool.h"

namespace shale::s3 {

std::vector<uint8_t> RecvBufferPool::take(size_t n) {
  {
    std::lock_guard lk(mu_);
    for (size_t i = idle_.size(); i-- > 0;) {  // newest first: its pages are the warmest
      const size_t cap = idle_[i].capacity();
      if (cap < n || cap / 2 > n) continue;
      std::vector<uint8_t> v = std::move(idle_[i]);
      idle_[i] = std::move(idle_.back());
      idle_.pop_back();
      idle_bytes_ -= cap;
      reused_++;
      return v;
    }
  }
  std::vector<uint8_t> v;
  v.reserve(n);
  return v;
}

void RecvBufferPool::give(std::vector<uint8_t>&& v) {
  const size_t cap = v.capacity();
  if (cap < kMinPooled) return;
  v.clear();
  std::lock_guard lk(mu_);
  if (idle_bytes_ + cap > max_idle_) return;  // v is freed on return
  idle_bytes_ += cap;
  idle_.push_back(std::move(v));
}

Buf RecvBufferPool::share(std::vector<uint8_t>&& body) {
  auto* owned = new std::vector<uint8_t>(std::move(body));
  std::shared_ptr<std::vector<uint8_t>> p(owned,
                                          [pool = shared_from_this()](std::vector<uint8_t>* v) {
                                            pool->give(std::move(*v));
                                            delete v;
                                          });
  return Buf::share(std::move(p));
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
