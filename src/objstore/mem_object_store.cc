#include "objstore/mem_object_store.h"

#include <cstring>

#include "base/crc32c.h"
#include "objstore/store_util.h"

namespace shale::objstore {
namespace {

Buf concat(const std::vector<Buf>& parts) {
  size_t n = 0;
  for (const Buf& b : parts) n += b.size();
  if (parts.size() == 1) return parts[0];
  std::vector<uint8_t> v(n);
  size_t off = 0;
  for (const Buf& b : parts) {
    if (b.size() > 0) std::memcpy(v.data() + off, b.data(), b.size());
    off += b.size();
  }
  return Buf::take(std::move(v));
}

}  // namespace

Status MemObjectStore::put(const std::string& key, const std::vector<Buf>& parts,
                           const PutOptions& opts) {
  SHALE_RETURN_IF_ERROR(validate_key(key));
  Buf data = concat(parts);
  std::string etag = crc_etag(crc32c(data.data(), data.size()));
  std::lock_guard<std::mutex> l(mu_);
  if (opts.if_none_match && objects_.count(key)) {
    return Status(Errc::kAlreadyExists, "object exists: " + key);
  }
  objects_[key] = Object{std::move(data), std::move(etag)};
  return Status();
}

Result<GetResult> MemObjectStore::get(const std::string& key, const ByteRange& range) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return Status(Errc::kNotFound, "no such object: " + key);
  const Buf& b = it->second.data;
  SHALE_ASSIGN_OR_RETURN(ResolvedRange r, resolve_range(range, b.size()));
  return GetResult{b.slice(r.offset, r.length), b.size()};
}

Result<ObjectInfo> MemObjectStore::head(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return Status(Errc::kNotFound, "no such object: " + key);
  return ObjectInfo{key, it->second.data.size(), it->second.etag};
}

Result<ListPage> MemObjectStore::list(const std::string& prefix, const std::string& start_token,
                                      size_t max_keys) {
  std::lock_guard<std::mutex> l(mu_);
  ListPage page;
  auto it = start_token.empty() || start_token < prefix ? objects_.lower_bound(prefix)
                                                        : objects_.upper_bound(start_token);
  for (; it != objects_.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    if (max_keys > 0 && page.objects.size() == max_keys) {
      page.next_token = page.objects.back().key;
      break;
    }
    page.objects.push_back(ObjectInfo{it->first, it->second.data.size(), it->second.etag});
  }
  return page;
}

Status MemObjectStore::remove(const std::vector<std::string>& keys) {
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& k : keys) objects_.erase(k);
  return Status();
}

Result<std::string> MemObjectStore::begin_multipart(const std::string& key) {
  SHALE_RETURN_IF_ERROR(validate_key(key));
  std::lock_guard<std::mutex> l(mu_);
  std::string id = fmt::format("mem-upload-{}", next_upload_++);
  uploads_[id] = Upload{key, {}};
  return id;
}

Status MemObjectStore::upload_part(const std::string& key, const std::string& upload_id,
                                   int part_number, const Buf& data) {
  if (part_number < 1 || part_number > 10000) {
    return Status(Errc::kInvalidArgument, fmt::format("part number {}", part_number));
  }
  std::lock_guard<std::mutex> l(mu_);
  auto it = uploads_.find(upload_id);
  if (it == uploads_.end()) return Status(Errc::kNotFound, "no such upload: " + upload_id);
  if (it->second.key != key) return Status(Errc::kInvalidArgument, "upload is for another key");
  it->second.parts[part_number] = data;
  return Status();
}

Status MemObjectStore::complete_multipart(const std::string& key, const std::string& upload_id,
                                          int part_count) {
  if (part_count < 1 || part_count > 10000) {
    return Status(Errc::kInvalidArgument, fmt::format("part count {}", part_count));
  }
  std::lock_guard<std::mutex> l(mu_);
  auto it = uploads_.find(upload_id);
  if (it == uploads_.end()) return Status(Errc::kNotFound, "no such upload: " + upload_id);
  if (it->second.key != key) return Status(Errc::kInvalidArgument, "upload is for another key");
  std::vector<Buf> parts;
  for (int n = 1; n <= part_count; ++n) {
    auto p = it->second.parts.find(n);
    if (p == it->second.parts.end()) {
      return Status(Errc::kInvalidArgument,
                    fmt::format("upload {}: part {} missing", upload_id, n));
    }
    parts.push_back(p->second);
  }
  Buf data = concat(parts);
  objects_[key] = Object{data, crc_etag(crc32c(data.data(), data.size()))};
  uploads_.erase(it);
  return Status();
}

Status MemObjectStore::abort_multipart(const std::string& key, const std::string& upload_id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = uploads_.find(upload_id);
  if (it == uploads_.end()) return Status(Errc::kNotFound, "no such upload: " + upload_id);
  if (it->second.key != key) return Status(Errc::kInvalidArgument, "upload is for another key");
  uploads_.erase(it);
  return Status();
}

size_t MemObjectStore::object_count() const {
  std::lock_guard<std::mutex> l(mu_);
  return objects_.size();
}

size_t MemObjectStore::pending_uploads() const {
  std::lock_guard<std::mutex> l(mu_);
  return uploads_.size();
}

}  // namespace shale::objstore
