// Helpers shared by the WAL tests: deterministic records whose payload encodes their id, a
// synchronous append wrapper and a recovery collector.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <future>
#include <mutex>
#include <ostream>
#include <string>
#include <vector>

#include "base/endian.h"
#include "wal/file_wal.h"

namespace shale {
// Lets gtest print positions in failure messages.
inline std::ostream& operator<<(std::ostream& os, WalPos p) {
  return os << p.value();
}
}  // namespace shale

namespace shale::wal::testing {

// Payload: 8-byte id followed by bytes derived from the id; size >= 8.
inline Buf make_payload(uint64_t id, size_t size) {
  std::vector<uint8_t> v(std::max<size_t>(size, 8));
  store_le<uint64_t>(v.data(), id);
  uint64_t x = id * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 8; i < v.size(); ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v[i] = static_cast<uint8_t>(x);
  }
  return Buf::take(std::move(v));
}

inline WalRecord make_record(uint64_t id, size_t size) {
  WalRecord r;
  r.stream = StreamId(id % 7);
  r.epoch = Epoch(static_cast<int64_t>(id % 3));
  r.base = Offset(static_cast<int64_t>(id * 10));
  r.count = static_cast<int32_t>(id % 100);
  r.payload = make_payload(id, size);
  return r;
}

inline uint64_t record_id(const WalRecord& r) {
  return load_le<uint64_t>(r.payload.data());
}

// True when r is exactly make_record(record_id(r), r.payload.size()).
inline bool record_intact(const WalRecord& r) {
  if (r.payload.size() < 8) return false;
  WalRecord want = make_record(record_id(r), r.payload.size());
  return r.payload == want.payload && r.stream == want.stream && r.epoch == want.epoch &&
         r.base == want.base && r.count == want.count;
}

struct Recovered {
  std::vector<WalPos> pos;
  std::vector<WalRecord> recs;
  std::vector<uint64_t> ids() const {
    std::vector<uint64_t> out;
    for (const auto& r : recs) out.push_back(record_id(r));
    return out;
  }
};

inline Status recover_into(FileWal& wal, Recovered* out) {
  return wal.recover([out](WalPos p, const WalRecord& r) {
    out->pos.push_back(p);
    out->recs.push_back(r);
  });
}

// Appends and waits for the callback.
inline Result<WalPos> append_sync(Wal& wal, WalRecord r) {
  std::promise<Result<WalPos>> pr;
  auto fut = pr.get_future();
  wal.append(std::move(r), [&pr](Result<WalPos> res) { pr.set_value(std::move(res)); });
  return fut.get();
}

// Counts completed callbacks; wait_for(n) blocks until n arrived.
class Completions {
 public:
  WalAppendCallback cb(uint64_t id) {
    return [this, id](Result<WalPos> r) {
      std::lock_guard<std::mutex> l(mu_);
      if (r.ok()) {
        acked_.push_back({id, r.value()});
      } else {
        failed_.push_back({id, r.error().code});
      }
      cv_.notify_all();
    };
  }
  void wait_for(size_t n) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return acked_.size() + failed_.size() >= n; });
  }
  bool wait_for(size_t n, std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, d, [&] { return acked_.size() + failed_.size() >= n; });
  }
  std::vector<std::pair<uint64_t, WalPos>> acked() const {
    std::lock_guard<std::mutex> l(mu_);
    return acked_;
  }
  std::vector<std::pair<uint64_t, Errc>> failed() const {
    std::lock_guard<std::mutex> l(mu_);
    return failed_;
  }
  size_t total() const {
    std::lock_guard<std::mutex> l(mu_);
    return acked_.size() + failed_.size();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<uint64_t, WalPos>> acked_;
  std::vector<std::pair<uint64_t, Errc>> failed_;
};

inline FileWalOptions small_options(const std::string& dir = "/wal") {
  FileWalOptions o;
  o.dir = dir;
  o.segment_size = 16 << 10;  // 12 KiB of data per segment
  o.max_total_size = 64 << 10;
  return o;
}

}  // namespace shale::wal::testing
