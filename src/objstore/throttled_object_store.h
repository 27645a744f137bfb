// Byte-rate limits for background object I/O, so catch-up reads and compaction cannot starve the
// appends' uploads and the tail reads that share the store's bandwidth.
//
// TokenBucket: a token bucket in bytes. Tokens accrue at `bytes_per_sec` up to `burst_bytes`;
// take(n) removes n tokens and returns how long the caller must wait before doing its I/O (zero
// while tokens remain). A take larger than what is left drives the bucket into debt, so a single
// request bigger than the burst is allowed but delays the ones after it: over any interval T,
// the bytes taken are at most burst + rate * T plus one request. Time comes from a Clock, so tests
// drive it by hand (ManualClock).
//
// ThrottledObjectStore: wraps an ObjectStore and charges the bytes of put/upload_part to a bucket
// before the call, and the bytes a get returned after it (a full-object get's size is only known
// then), sleeping for the wait the bucket names via `sleep` (default: the thread sleeps). Other
// calls pass straight through. The broker gives its cold-read pool and its compactor a
// ThrottledObjectStore each (StoreOptions::cold_read_bytes_per_sec / compaction_bytes_per_sec);
// the uploader and tail reads use the store directly.
//
// Ownership: ThrottledObjectStore borrows the wrapped store, the bucket and nothing else.
// Thread-safety: both classes are thread-safe; concurrent callers share one bucket, so their
// total is limited.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>

#include "base/clock.h"
#include "objstore/object_store.h"

namespace shale::objstore {

class TokenBucket {
 public:
  // bytes_per_sec == 0: unlimited (take() always returns zero).
  TokenBucket(Clock& clock, uint64_t bytes_per_sec, uint64_t burst_bytes);

  std::chrono::nanoseconds take(uint64_t bytes);
  uint64_t bytes_per_sec() const { return rate_; }
  // Bytes taken so far.
  uint64_t taken() const;

 private:
  Clock& clock_;
  const uint64_t rate_;
  const double burst_;
  mutable std::mutex mu_;
  double tokens_;  // may be negative (debt); guarded by mu_
  std::chrono::steady_clock::time_point last_;
  uint64_t taken_ = 0;
};

class ThrottledObjectStore final : public ObjectStore {
 public:
  using Sleep = std::function<void(std::chrono::nanoseconds)>;
  ThrottledObjectStore(ObjectStore& base, TokenBucket& bucket, Sleep sleep = {});

  Capabilities capabilities() const override { return base_.capabilities(); }
  using ObjectStore::put;
  Status put(const std::string& key, const std::vector<Buf>& parts,
             const PutOptions& opts = {}) override;
  Result<GetResult> get(const std::string& key, const ByteRange& range = {}) override;
  Result<ObjectInfo> head(const std::string& key) override { return base_.head(key); }
  Result<ListPage> list(const std::string& prefix, const std::string& start_token = {},
                        size_t max_keys = 1000) override {
    return base_.list(prefix, start_token, max_keys);
  }
  Status remove(const std::vector<std::string>& keys) override { return base_.remove(keys); }
  Result<std::string> begin_multipart(const std::string& key) override {
    return base_.begin_multipart(key);
  }
  Status upload_part(const std::string& key, const std::string& upload_id, int part_number,
                     const Buf& data) override;
  Status complete_multipart(const std::string& key, const std::string& upload_id,
                            int part_count) override {
    return base_.complete_multipart(key, upload_id, part_count);
  }
  Status abort_multipart(const std::string& key, const std::string& upload_id) override {
    return base_.abort_multipart(key, upload_id);
  }

 private:
  void charge(uint64_t bytes);

  ObjectStore& base_;
  TokenBucket& bucket_;
  const Sleep sleep_;
};

}  // namespace shale::objstore
