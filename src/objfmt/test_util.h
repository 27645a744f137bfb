// Test helpers for objfmt: a minimal in-memory ObjectStore (so these tests do not depend on the
// objstore implementations), a wrapper that counts GETs and the bytes they returned, and one that
// holds GETs until the test lets them go.
// Test-only; thread-safe.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <random>

#include "objfmt/object.h"
#include "objstore/object_store.h"

namespace shale::objfmt::testing {

class TestStore : public objstore::ObjectStore {
 public:
  objstore::Capabilities capabilities() const override { return {true}; }
  Status put(const std::string& key, const std::vector<Buf>& parts,
             const objstore::PutOptions& opts = {}) override {
    std::vector<uint8_t> v;
    for (const Buf& p : parts) v.insert(v.end(), p.data(), p.data() + p.size());
    std::lock_guard lk(mu_);
    if (opts.if_none_match && objects_.count(key)) return Status(Errc::kAlreadyExists, key);
    objects_[key] = Buf::take(std::move(v));
    return Status();
  }
  using objstore::ObjectStore::put;
  Result<objstore::GetResult> get(const std::string& key,
                                  const objstore::ByteRange& r = {}) override {
    std::lock_guard lk(mu_);
    auto it = objects_.find(key);
    if (it == objects_.end()) return Error{Errc::kNotFound, key};
    const Buf& b = it->second;
    uint64_t off = r.offset, len = r.length;
    if (r.suffix) {
      len = std::min<uint64_t>(len, b.size());
      off = b.size() - len;
    } else {
      if (off > b.size() || (off == b.size() && b.size() != 0)) {
        return Error{Errc::kOutOfRange, key};
      }
      len = std::min<uint64_t>(len, b.size() - off);
    }
    // Copy, as a real store would, so tests that corrupt stored bytes see fresh data.
    return objstore::GetResult{Buf::copy(b.data() + off, len), b.size()};
  }
  Result<objstore::ObjectInfo> head(const std::string& key) override {
    std::lock_guard lk(mu_);
    auto it = objects_.find(key);
    if (it == objects_.end()) return Error{Errc::kNotFound, key};
    return objstore::ObjectInfo{key, it->second.size(), ""};
  }
  Result<objstore::ListPage> list(const std::string&, const std::string& = {},
                                  size_t = 1000) override {
    return Error{Errc::kInternal, "unused"};
  }
  Status remove(const std::vector<std::string>& keys) override {
    std::lock_guard lk(mu_);
    for (const auto& k : keys) objects_.erase(k);
    return Status();
  }
  // Multipart: parts kept per upload id ("<n>:<key>"), assembled on complete.
  Result<std::string> begin_multipart(const std::string& key) override {
    std::lock_guard lk(mu_);
    std::string id = fmt::format("{}:{}", next_upload_++, key);
    uploads_[id];
    return id;
  }
  Status upload_part(const std::string&, const std::string& id, int n, const Buf& d) override {
    std::lock_guard lk(mu_);
    auto it = uploads_.find(id);
    if (it == uploads_.end()) return Status(Errc::kNotFound, id);
    it->second[n] = Buf::copy(d.data(), d.size());
    return Status();
  }
  Status complete_multipart(const std::string& key, const std::string& id, int count) override {
    std::vector<Buf> parts;
    {
      std::lock_guard lk(mu_);
      auto it = uploads_.find(id);
      if (it == uploads_.end()) return Status(Errc::kNotFound, id);
      for (int n = 1; n <= count; ++n) {
        if (!it->second.count(n)) return Status(Errc::kInvalidArgument, "part missing");
        parts.push_back(it->second[n]);
      }
      uploads_.erase(it);
    }
    return put(key, parts);
  }
  Status abort_multipart(const std::string&, const std::string& id) override {
    std::lock_guard lk(mu_);
    return uploads_.erase(id) ? Status() : Status(Errc::kNotFound, id);
  }
  size_t pending_uploads() {
    std::lock_guard lk(mu_);
    return uploads_.size();
  }

  // The stored bytes, for corruption tests.
  std::vector<uint8_t> bytes(const std::string& key) {
    std::lock_guard lk(mu_);
    const Buf& b = objects_.at(key);
    return {b.data(), b.data() + b.size()};
  }
  void set_bytes(const std::string& key, std::vector<uint8_t> v) {
    std::lock_guard lk(mu_);
    objects_[key] = Buf::take(std::move(v));
  }

 private:
  std::mutex mu_;
  std::map<std::string, Buf> objects_;
  std::map<std::string, std::map<int, Buf>> uploads_;
  int next_upload_ = 1;
};

// Forwards to another store and counts GETs.
class CountingStore : public objstore::ObjectStore {
 public:
  explicit CountingStore(objstore::ObjectStore& inner) : inner_(inner) {}
  objstore::Capabilities capabilities() const override { return inner_.capabilities(); }
  Status put(const std::string& key, const std::vector<Buf>& parts,
             const objstore::PutOptions& opts = {}) override {
    return inner_.put(key, parts, opts);
  }
  using objstore::ObjectStore::put;
  Result<objstore::GetResult> get(const std::string& key,
                                  const objstore::ByteRange& r = {}) override {
    gets++;
    auto res = inner_.get(key, r);
    if (res.ok()) get_bytes += res->data.size();
    return res;
  }
  Result<objstore::ObjectInfo> head(const std::string& key) override { return inner_.head(key); }
  Result<objstore::ListPage> list(const std::string& p, const std::string& t = {},
                                  size_t n = 1000) override {
    return inner_.list(p, t, n);
  }
  Status remove(const std::vector<std::string>& keys) override { return inner_.remove(keys); }
  Result<std::string> begin_multipart(const std::string& k) override {
    return inner_.begin_multipart(k);
  }
  Status upload_part(const std::string& k, const std::string& u, int n, const Buf& d) override {
    parts++;
    return inner_.upload_part(k, u, n, d);
  }
  Status complete_multipart(const std::string& k, const std::string& u, int n) override {
    return inner_.complete_multipart(k, u, n);
  }
  Status abort_multipart(const std::string& k, const std::string& u) override {
    return inner_.abort_multipart(k, u);
  }

  std::atomic<uint64_t> gets{0};
  std::atomic<uint64_t> get_bytes{0};
  std::atomic<uint64_t> parts{0};  // multipart parts uploaded

 private:
  objstore::ObjectStore& inner_;
};

// Holds every data GET at or past byte `gate_from` of its object (of `gate_key` only, when set;
// set it before gate_from) until open(); counts them per object while held.
class GatedStore : public CountingStore {
 public:
  using CountingStore::CountingStore;
  Result<objstore::GetResult> get(const std::string& key,
                                  const objstore::ByteRange& r = {}) override {
    if (!r.suffix && r.offset >= gate_from && (gate_key.empty() || key == gate_key)) {
      std::unique_lock lk(mu_);
      held_[key]++;
      cv_.notify_all();
      cv_.wait(lk, [&] { return open_; });
      held_[key]--;
    }
    return CountingStore::get(key, r);
  }
  void open() {
    std::lock_guard lk(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // Waits until `n` GETs are held in all (false after `timeout`); returns the count per object.
  bool wait_held(int n, std::chrono::milliseconds timeout, std::map<std::string, int>* held) {
    std::unique_lock lk(mu_);
    auto total = [&] {
      int t = 0;
      for (const auto& [k, c] : held_) t += c;
      return t;
    };
    const bool ok = cv_.wait_for(lk, timeout, [&] { return total() >= n; });
    *held = held_;
    return ok;
  }
  std::atomic<uint64_t> gate_from{UINT64_MAX};
  std::string gate_key;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, int> held_;
  bool open_ = false;
};

// A deterministic pseudo-batch: `size` bytes derived from (stream, base).
inline Buf make_batch(StreamId s, Offset base, size_t size) {
  std::vector<uint8_t> v(size);
  std::mt19937_64 rng(s.value() * 1000003 + static_cast<uint64_t>(base.value()));
  for (auto& c : v) c = static_cast<uint8_t>(rng());
  return Buf::take(std::move(v));
}

}  // namespace shale::objfmt::testing
