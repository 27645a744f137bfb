// FaultyObjectStore: wraps another ObjectStore and injects failures, latency, torn uploads and
// crash points, so uploaders, readers and GC can be tested against an unreliable store.
//
// Fault rules (add_fault) select operation kinds (a bit mask of StoreOp) and optionally keys
// containing a substring, and fire on the Nth matching call (optionally every call after it) or
// with a probability drawn from a seeded RNG. A firing rule does one of:
//   kFailBefore  return `code` without calling the wrapped store (nothing happened);
//   kFailAfter   call the wrapped store, then return `code` even though the call took effect
//                (an S3 timeout after the object was written: the caller must cope with an
//                object it thinks it failed to write);
//   kTornUpload  put/complete only: upload a random prefix of the data as an unfinished
//                multipart upload of the wrapped store, then return `code`. Like an upload cut
//                off mid-stream, it leaves no visible object (only a pending upload).
// Latency (set_latency) sleeps before every call of the selected kinds.
// Crash points (set_crash_point) call a test callback at "<op>:before" / "<op>:after" of each
// operation, with the key; the callback typically throws CrashSignal to abandon the operation
// at that point (e.g. "put:after": the object is durable but the caller never learns it).
// Operation names: put, get, head, list, remove, begin_multipart, upload_part,
// complete_multipart, abort_multipart.
//
// Ownership: borrows the wrapped store, which must outlive this. Thread-safety: thread-safe;
// rules may change while calls run. Crash-point callbacks run on the calling thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "io/fault_rules.h"
#include "objstore/object_store.h"

namespace shale::objstore {

enum class StoreOp : uint32_t {
  kPut = 1u << 0,
  kGet = 1u << 1,
  kHead = 1u << 2,
  kList = 1u << 3,
  kRemove = 1u << 4,
  kBeginMultipart = 1u << 5,
  kUploadPart = 1u << 6,
  kCompleteMultipart = 1u << 7,
  kAbortMultipart = 1u << 8,
};
using StoreOpMask = uint32_t;
constexpr StoreOpMask operator|(StoreOp a, StoreOp b) {
  return static_cast<uint32_t>(a) | static_cast<uint32_t>(b);
}
constexpr StoreOpMask operator|(StoreOpMask a, StoreOp b) {
  return a | static_cast<uint32_t>(b);
}
constexpr int kStoreOpKinds = 9;
constexpr StoreOpMask kAllStoreOps = (1u << kStoreOpKinds) - 1;

struct StoreFault {
  enum class Action { kFailBefore, kFailAfter, kTornUpload };
  StoreOpMask ops = 0;
  std::string key_contains;  // empty = every key
  int64_t nth = 0;           // 1-based; 0 = not count-based
  bool and_after = false;
  double probability = 0.0;
  Action action = Action::kFailBefore;
  Errc code = Errc::kIoError;
};

// Thrown by test callbacks to abandon an operation at a crash point.
struct CrashSignal {
  std::string point;
  std::string key;
};

class FaultyObjectStore final : public ObjectStore {
 public:
  using CrashCallback = std::function<void(const std::string& point, const std::string& key)>;

  explicit FaultyObjectStore(ObjectStore& base, uint64_t seed = 1);

  int add_fault(StoreFault f);
  void remove_fault(int id);
  void clear_faults();
  void set_latency(StoreOpMask ops, std::chrono::milliseconds d);
  // Registers (or, with an empty callback, removes) the callback for a named point.
  void set_crash_point(const std::string& point, CrashCallback cb);
  uint64_t injected() const;

  Capabilities capabilities() const override { return base_.capabilities(); }
  using ObjectStore::put;
  Status put(const std::string& key, const std::vector<Buf>& parts,
             const PutOptions& opts = {}) override;
  Result<GetResult> get(const std::string& key, const ByteRange& range = {}) override;
  Result<ObjectInfo> head(const std::string& key) override;
  Result<ListPage> list(const std::string& prefix, const std::string& start_token = {},
                        size_t max_keys = 1000) override;
  Status remove(const std::vector<std::string>& keys) override;
  Result<std::string> begin_multipart(const std::string& key) override;
  Status upload_part(const std::string& key, const std::string& upload_id, int part_number,
                     const Buf& data) override;
  Status complete_multipart(const std::string& key, const std::string& upload_id,
                            int part_count) override;
  Status abort_multipart(const std::string& key, const std::string& upload_id) override;

 private:
  // Applies latency and picks the firing fault, if any.
  std::optional<StoreFault> enter(StoreOp op, const std::string& key);
  void point(const char* op, const char* when, const std::string& key);
  // Torn upload: a random prefix of `data` as an unfinished multipart upload.
  Status tear(const std::string& key, const Buf& data, Errc code);
  template <typename Fn>
  auto run(StoreOp op, const char* name, const std::string& key, Fn fn) -> decltype(fn());

  ObjectStore& base_;
  io::FaultRules<StoreFault, kStoreOpKinds> rules_;
  mutable std::mutex mu_;  // guards points_
  std::map<std::string, CrashCallback> points_;
};

}  // namespace shale::objstore
