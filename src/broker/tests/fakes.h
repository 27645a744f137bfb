// In-memory fakes of the MetaStore and StreamStore seams, for the broker's unit tests only.
// FakeStreamStore runs append/read callbacks on its own thread, like the real store's WAL and
// cold-read threads, so the tests exercise the store-thread → event-loop bridge.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "base/endian.h"
#include "meta/meta_store.h"
#include "stream/stream_store.h"

namespace shale::broker::testing {

class FakeMetaStore final : public meta::MetaStore {
 public:
  Result<meta::RangeResult> get(const std::string& key, const std::string& range_end,
                                int64_t limit) override {
    std::lock_guard lk(mu_);
    return get_locked(key, range_end, limit);
  }
  Result<Revision> put(const std::string& key, const std::string& value, LeaseId) override {
    std::lock_guard lk(mu_);
    put_locked(key, value);
    return Revision(rev_);
  }
  Result<int64_t> del(const std::string& key, const std::string& range_end) override {
    std::lock_guard lk(mu_);
    return del_locked(key, range_end);
  }
  Result<meta::TxnResult> txn(const meta::Txn& t) override {
    std::lock_guard lk(mu_);
    ++txns;
    bool ok = true;
    for (const auto& c : t.compares) {
      auto it = kvs_.find(c.key);
      int64_t n = 0;
      std::string v;
      if (it != kvs_.end()) {
        v = it->second.value;
        n = c.target == meta::Compare::Target::kVersion       ? it->second.version
            : c.target == meta::Compare::Target::kModRevision ? it->second.mod_revision.value()
                                                              : it->second.create_revision.value();
      }
      bool eq = c.target == meta::Compare::Target::kValue ? v == c.value : n == c.number;
      bool holds = c.op == meta::Compare::Op::kEqual      ? eq
                   : c.op == meta::Compare::Op::kNotEqual ? !eq
                   : c.op == meta::Compare::Op::kGreater  ? n > c.number
                                                          : n < c.number;
      ok = ok && holds;
    }
    meta::TxnResult r;
    r.succeeded = ok;
    for (const auto& op : ok ? t.success : t.failure) {
      std::vector<meta::KeyValue> got;
      if (auto* p = std::get_if<meta::PutOp>(&op)) put_locked(p->key, p->value);
      if (auto* d = std::get_if<meta::DeleteOp>(&op)) del_locked(d->key, d->range_end);
      if (auto* g = std::get_if<meta::GetOp>(&op)) got = get_locked(g->key, g->range_end, 0).kvs;
      r.responses.push_back(std::move(got));
    }
    r.revision = Revision(rev_);
    return r;
  }
  Result<LeaseId> grant_lease(std::chrono::seconds) override {
    return Error{Errc::kInternal, "fake: no leases"};
  }
  Status keep_alive(LeaseId) override { return Status(Errc::kInternal, "fake"); }
  Status revoke_lease(LeaseId) override { return Status(Errc::kInternal, "fake"); }
  Result<meta::WatchId> watch(const std::string&, const std::string&, Revision,
                              meta::WatchCallback) override {
    return Error{Errc::kInternal, "fake: no watches"};
  }
  void cancel_watch(meta::WatchId) override {}

  int txns = 0;

 private:
  bool in_range(const std::string& k, const std::string& key, const std::string& end) const {
    if (end.empty()) return k == key;
    if (end == std::string(1, '\0')) return k >= key;
    return k >= key && k < end;
  }
  meta::RangeResult get_locked(const std::string& key, const std::string& end, int64_t) {
    meta::RangeResult r;
    for (const auto& [k, kv] : kvs_) {
      if (in_range(k, key, end)) r.kvs.push_back(kv);
    }
    r.revision = Revision(rev_);
    return r;
  }
  void put_locked(const std::string& key, const std::string& value) {
    ++rev_;
    auto& kv = kvs_[key];
    if (kv.version == 0) kv.create_revision = Revision(rev_);
    kv.key = key;
    kv.value = value;
    kv.mod_revision = Revision(rev_);
    kv.version++;
  }
  int64_t del_locked(const std::string& key, const std::string& end) {
    int64_t n = 0;
    for (auto it = kvs_.begin(); it != kvs_.end();) {
      if (in_range(it->first, key, end)) {
        it = kvs_.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    if (n) ++rev_;
    return n;
  }
  std::mutex mu_;
  std::map<std::string, meta::KeyValue> kvs_;
  int64_t rev_ = 1;
};

class FakeStreamStore final : public stream::StreamStore {
 public:
  FakeStreamStore() : worker_([this] { run(); }) {}
  ~FakeStreamStore() override {
    {
      std::lock_guard lk(qmu_);
      quit_ = true;
    }
    qcv_.notify_all();
    worker_.join();
  }

  Status start() override { return {}; }
  void stop() override {}
  Result<StreamId> create(const stream::RetentionPolicy& p) override {
    std::lock_guard lk(mu_);
    StreamId id(next_id_++);
    streams_[id.value()].retention = p;
    return id;
  }
  Result<stream::StreamInfo> open(StreamId id, Epoch epoch) override {
    std::lock_guard lk(mu_);
    auto* s = find(id);
    if (!s) return Error{Errc::kNotFound, "no stream"};
    if (epoch <= s->epoch) return Error{Errc::kFenced, "stale epoch"};
    s->epoch = epoch;
    s->open = true;
    return info_locked(id, *s);
  }
  Status close(StreamId id) override {
    std::lock_guard lk(mu_);
    auto* s = find(id);
    if (!s) return Status(Errc::kNotFound, "no stream");
    s->open = false;
    return {};
  }
  Status remove(StreamId id) override {
    std::lock_guard lk(mu_);
    return streams_.erase(id.value()) ? Status() : Status(Errc::kNotFound, "no stream");
  }
  Status trim(StreamId id, Offset new_start) override {
    std::lock_guard lk(mu_);
    auto* s = find(id);
    if (!s) return Status(Errc::kNotFound, "no stream");
    if (new_start > s->end) return Status(Errc::kOutOfRange, "beyond end");
    if (new_start > s->start) s->start = new_start;
    while (!s->batches.empty() && s->batches.front().end() <= s->start) s->batches.pop_front();
    return {};
  }
  Status set_retention(StreamId id, const stream::RetentionPolicy& p) override {
    std::lock_guard lk(mu_);
    auto* s = find(id);
    if (!s) return Status(Errc::kNotFound, "no stream");
    s->retention = p;
    return {};
  }
  Result<stream::StreamInfo> info(StreamId id) const override {
    std::lock_guard lk(mu_);
    auto it = streams_.find(id.value());
    if (it == streams_.end()) return Error{Errc::kNotFound, "no stream"};
    return info_locked(id, it->second);
  }
  void append(StreamId id, Epoch epoch, Buf batch, int32_t count,
              stream::AppendCallback cb) override {
    Result<stream::AppendResult> r = Status(Errc::kInternal, "unset");
    {
      std::lock_guard lk(mu_);
      auto* s = find(id);
      if (fail_appends) {
        r = Error{Errc::kIoError, "injected"};
      } else if (!s || !s->open) {
        r = Error{Errc::kNotFound, "not open"};
      } else if (epoch != s->epoch) {
        r = Error{Errc::kFenced, "fenced"};
      } else {
        store_be<int64_t>(batch.mutable_data(), s->end.value());
        s->batches.push_back({s->end, count, batch, load_be<int64_t>(batch.data() + 35)});
        stream::AppendResult a;
        a.base = s->end;
        s->end = s->end + count;
        a.end = s->end;
        r = a;
        ++appends;
      }
      if (stall_appends) {  // durable now, but the callback waits for release_stalled()
        stalled_.push_back([cb, r] { cb(r); });
        return;
      }
    }
    post([cb, r] { cb(r); });
  }
  // Delivers the callbacks of appends made while stall_appends was set.
  void release_stalled() {
    std::vector<std::function<void()>> fs;
    {
      std::lock_guard lk(mu_);
      fs.swap(stalled_);
    }
    for (auto& f : fs) post(std::move(f));
  }
  void read(StreamId id, Offset from, size_t max_bytes, stream::ReadCallback cb) override {
    auto r = read_now(id, from, max_bytes);
    ++cold_reads;
    post([cb, r] { cb(r); });
  }
  std::optional<Result<stream::ReadResult>> try_read_cached(StreamId id, Offset from,
                                                            size_t max_bytes) override {
    if (cache_misses) return std::nullopt;
    return read_now(id, from, max_bytes);
  }
  void offset_for_timestamp(StreamId id, int64_t ts,
                            std::function<void(Result<Offset>)> cb) override {
    Result<Offset> r = Status(Errc::kNotFound, "no stream");
    {
      std::lock_guard lk(mu_);
      if (auto* s = find(id)) {
        Offset found = s->end;
        for (const auto& b : s->batches) {
          if (b.end() > s->start && b.max_ts >= ts) {
            found = b.base;
            break;
          }
        }
        r = found;
      }
    }
    post([cb, r] { cb(r); });
  }
  Status flush_uploads() override { return {}; }

  std::atomic<bool> cache_misses{false};
  std::atomic<bool> fail_appends{false};
  std::atomic<bool> stall_appends{false};
  std::atomic<int> appends{0};
  std::atomic<int> cold_reads{0};

 private:
  struct Batch {
    Offset base;
    int32_t count;
    Buf data;
    int64_t max_ts;
    Offset end() const { return base + count; }
  };
  struct S {
    Epoch epoch{0};
    bool open = false;
    Offset start{0}, end{0};
    std::deque<Batch> batches;
    stream::RetentionPolicy retention;
  };
  std::vector<std::function<void()>> stalled_;  // guarded by mu_
  S* find(StreamId id) {
    auto it = streams_.find(id.value());
    return it == streams_.end() ? nullptr : &it->second;
  }
  stream::StreamInfo info_locked(StreamId id, const S& s) const {
    stream::StreamInfo i;
    i.id = id;
    i.epoch = s.epoch;
    i.start = s.start;
    i.end = s.end;
    i.last_stable = s.end;
    i.retention_ms = s.retention.retention_ms;
    i.retention_bytes = s.retention.retention_bytes;
    for (const auto& b : s.batches) {
      if (b.end() > s.start) i.size_bytes += b.data.size();
    }
    return i;
  }
  Result<stream::ReadResult> read_now(StreamId id, Offset from, size_t max_bytes) {
    std::lock_guard lk(mu_);
    auto* s = find(id);
    if (!s) return Error{Errc::kNotFound, "no stream"};
    if (from < s->start || from > s->end) return Error{Errc::kOutOfRange, "out of range"};
    stream::ReadResult r;
    r.start = s->start;
    r.end = s->end;
    size_t bytes = 0;
    for (const auto& b : s->batches) {
      if (b.end() <= from) continue;
      if (!r.batches.empty() && bytes + b.data.size() > max_bytes) break;
      bytes += b.data.size();
      r.batches.push_back(b.data);
    }
    return r;
  }
  void post(std::function<void()> f) {
    {
      std::lock_guard lk(qmu_);
      q_.push_back(std::move(f));
    }
    qcv_.notify_one();
  }
  void run() {
    std::unique_lock lk(qmu_);
    for (;;) {
      qcv_.wait(lk, [&] { return quit_ || !q_.empty(); });
      if (q_.empty()) return;
      auto f = std::move(q_.front());
      q_.pop_front();
      lk.unlock();
      f();
      lk.lock();
    }
  }

  mutable std::mutex mu_;
  std::map<uint64_t, S> streams_;
  uint64_t next_id_ = 1;
  std::mutex qmu_;
  std::condition_variable qcv_;
  std::deque<std::function<void()>> q_;
  bool quit_ = false;
  std::thread worker_;
};

}  // namespace shale::broker::testing
