// MemObjectStore: an ObjectStore in memory, for unit tests. Objects are Bufs in a sorted map;
// get() returns slices sharing the stored bytes. Nothing survives the object.
//
// Thread-safety: every method is thread-safe (one mutex). conditional_put is honoured.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "objstore/object_store.h"

namespace shale::objstore {

class MemObjectStore final : public ObjectStore {
 public:
  Capabilities capabilities() const override { return {.conditional_put = true}; }
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

  // For tests: number of objects, and of multipart uploads begun but not completed/aborted.
  size_t object_count() const;
  size_t pending_uploads() const;

 private:
  struct Object {
    Buf data;
    std::string etag;
  };
  struct Upload {
    std::string key;
    std::map<int, Buf> parts;
  };
  mutable std::mutex mu_;
  std::map<std::string, Object> objects_;
  std::map<std::string, Upload> uploads_;
  uint64_t next_upload_ = 1;
};

}  // namespace shale::objstore
