#include "objstore/faulty_object_store.h"

namespace shale::objstore {

FaultyObjectStore::FaultyObjectStore(ObjectStore& base, uint64_t seed)
    : base_(base), rules_(seed) {}

int FaultyObjectStore::add_fault(StoreFault f) {
  return rules_.add(std::move(f));
}
void FaultyObjectStore::remove_fault(int id) {
  rules_.remove(id);
}
void FaultyObjectStore::clear_faults() {
  rules_.clear();
}
void FaultyObjectStore::set_latency(StoreOpMask ops, std::chrono::milliseconds d) {
  rules_.set_latency(ops, d);
}
void FaultyObjectStore::set_crash_point(const std::string& point, CrashCallback cb) {
  std::lock_guard<std::mutex> l(mu_);
  if (cb) {
    points_[point] = std::move(cb);
  } else {
    points_.erase(point);
  }
}
uint64_t FaultyObjectStore::injected() const {
  return rules_.injected();
}

std::optional<StoreFault> FaultyObjectStore::enter(StoreOp op, const std::string& key) {
  return rules_.check(static_cast<uint32_t>(op), [&](const StoreFault& f) {
    return f.key_contains.empty() || key.find(f.key_contains) != std::string::npos;
  });
}

void FaultyObjectStore::point(const char* op, const char* when, const std::string& key) {
  const std::string name = std::string(op) + ":" + when;
  CrashCallback cb;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = points_.find(name);
    if (it == points_.end()) return;
    cb = it->second;
  }
  cb(name, key);
}

Status FaultyObjectStore::tear(const std::string& key, const Buf& data, Errc code) {
  const size_t keep = rules_.random_below(data.size());
  auto id = base_.begin_multipart(key);
  if (id.ok()) (void)base_.upload_part(key, *id, 1, data.slice(0, keep));
  return Status(code, fmt::format("injected torn upload of {} after {} bytes", key, keep));
}

namespace {
template <typename T>
T injected_error(Errc code, const char* name, const std::string& key) {
  return T(Status(code, fmt::format("injected fault: {} {}", name, key)));
}
}  // namespace

template <typename Fn>
auto FaultyObjectStore::run(StoreOp op, const char* name, const std::string& key, Fn fn)
    -> decltype(fn()) {
  using R = decltype(fn());
  auto fault = enter(op, key);
  point(name, "before", key);
  if (fault && fault->action == StoreFault::Action::kFailBefore) {
    return injected_error<R>(fault->code, name, key);
  }
  R r = fn();
  point(name, "after", key);
  if (fault && fault->action == StoreFault::Action::kFailAfter && r.ok()) {
    return injected_error<R>(fault->code, name, key);
  }
  return r;
}

Status FaultyObjectStore::put(const std::string& key, const std::vector<Buf>& parts,
                              const PutOptions& opts) {
  auto fault = enter(StoreOp::kPut, key);
  point("put", "before", key);
  if (fault) {
    switch (fault->action) {
      case StoreFault::Action::kFailBefore:
        return injected_error<Status>(fault->code, "put", key);
      case StoreFault::Action::kTornUpload: {
        std::string all;
        for (const Buf& b : parts) all.append(b.view());
        return tear(key, Buf::copy(all), fault->code);
      }
      case StoreFault::Action::kFailAfter:
        break;
    }
  }
  Status s = base_.put(key, parts, opts);
  point("put", "after", key);
  if (fault && s.ok()) return injected_error<Status>(fault->code, "put", key);
  return s;
}

Result<GetResult> FaultyObjectStore::get(const std::string& key, const ByteRange& range) {
  return run(StoreOp::kGet, "get", key, [&] { return base_.get(key, range); });
}
Result<ObjectInfo> FaultyObjectStore::head(const std::string& key) {
  return run(StoreOp::kHead, "head", key, [&] { return base_.head(key); });
}
Result<ListPage> FaultyObjectStore::list(const std::string& prefix, const std::string& start_token,
                                         size_t max_keys) {
  return run(StoreOp::kList, "list", prefix,
             [&] { return base_.list(prefix, start_token, max_keys); });
}
Status FaultyObjectStore::remove(const std::vector<std::string>& keys) {
  const std::string first = keys.empty() ? std::string() : keys.front();
  return run(StoreOp::kRemove, "remove", first, [&] { return base_.remove(keys); });
}
Result<std::string> FaultyObjectStore::begin_multipart(const std::string& key) {
  return run(StoreOp::kBeginMultipart, "begin_multipart", key,
             [&] { return base_.begin_multipart(key); });
}
Status FaultyObjectStore::upload_part(const std::string& key, const std::string& upload_id,
                                      int part_number, const Buf& data) {
  return run(StoreOp::kUploadPart, "upload_part", key,
             [&] { return base_.upload_part(key, upload_id, part_number, data); });
}
Status FaultyObjectStore::complete_multipart(const std::string& key, const std::string& upload_id,
                                             int part_count) {
  auto fault = enter(StoreOp::kCompleteMultipart, key);
  point("complete_multipart", "before", key);
  if (fault && fault->action != StoreFault::Action::kFailAfter) {
    // A torn complete leaves the upload unfinished, exactly like failing before it.
    return injected_error<Status>(fault->code, "complete_multipart", key);
  }
  Status s = base_.complete_multipart(key, upload_id, part_count);
  point("complete_multipart", "after", key);
  if (fault && s.ok()) return injected_error<Status>(fault->code, "complete_multipart", key);
  return s;
}
Status FaultyObjectStore::abort_multipart(const std::string& key, const std::string& upload_id) {
  return run(StoreOp::kAbortMultipart, "abort_multipart", key,
             [&] { return base_.abort_multipart(key, upload_id); });
}

}  // namespace shale::objstore
