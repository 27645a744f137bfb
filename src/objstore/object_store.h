// ObjectStore: the seam for object storage (S3-compatible stores, a local directory, memory).
// Objects are immutable once written; keys are '/'-separated strings.
//
// Implementations: LocalObjectStore (directory on a Filesystem: write temp, fsync, rename, fsync
// dir), MemObjectStore (unit tests), FaultyObjectStore (wraps another store; injects errors,
// latency, torn uploads and crash points), and later S3ObjectStore.
//
// Threading: all calls are blocking and thread-safe. They run on bounded executors (uploader,
// cold-read pool, compactor), never on an event-loop thread.
// Durability: when put() or complete_multipart() returns OK, the object is durable and visible
// to get/head/list from every thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/buf.h"
#include "base/result.h"

namespace shale::io {
class Filesystem;
}

namespace shale::objstore {

// A byte range of an object. Either [offset, offset+length) or, with suffix, the last `length`
// bytes. length == kToEnd reads to the end of the object.
struct ByteRange {
  static constexpr uint64_t kToEnd = UINT64_MAX;
  uint64_t offset = 0;
  uint64_t length = kToEnd;
  bool suffix = false;
  static ByteRange all() { return {}; }
  static ByteRange at(uint64_t off, uint64_t len) { return {off, len, false}; }
  static ByteRange last(uint64_t len) { return {0, len, true}; }
};

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  std::string etag;
};

struct PutOptions {
  // Fail with Errc::kAlreadyExists if the key exists (S3 If-None-Match: *). Backends that cannot
  // enforce it report so in capabilities().
  bool if_none_match = false;
};

struct ListPage {
  std::vector<ObjectInfo> objects;  // sorted by key
  std::string next_token;           // empty when the listing is complete
};

struct Capabilities {
  bool conditional_put = false;
};

// Result of get(): the bytes and the whole object's size (for suffix/tail reads).
struct GetResult {
  Buf data;
  uint64_t object_size = 0;
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  virtual Capabilities capabilities() const = 0;
  // Writes a whole object from the concatenation of parts.
  virtual Status put(const std::string& key, const std::vector<Buf>& parts,
                     const PutOptions& opts = {}) = 0;
  Status put(const std::string& key, const Buf& data, const PutOptions& opts = {}) {
    return put(key, std::vector<Buf>{data}, opts);
  }
  // Errc::kNotFound for a missing key; Errc::kOutOfRange for a range past the end.
  virtual Result<GetResult> get(const std::string& key, const ByteRange& range = {}) = 0;
  virtual Result<ObjectInfo> head(const std::string& key) = 0;
  // Keys starting with prefix, after start_token (the previous page's next_token).
  virtual Result<ListPage> list(const std::string& prefix, const std::string& start_token = {},
                                size_t max_keys = 1000) = 0;
  // Deletes keys; deleting a missing key is not an error.
  virtual Status remove(const std::vector<std::string>& keys) = 0;

  // Multipart upload for large objects. Parts are numbered from 1 and may be uploaded in
  // parallel; complete() assembles them in number order. abort() discards everything.
  virtual Result<std::string> begin_multipart(const std::string& key) = 0;
  virtual Status upload_part(const std::string& key, const std::string& upload_id, int part_number,
                             const Buf& data) = 0;
  virtual Status complete_multipart(const std::string& key, const std::string& upload_id,
                                    int part_count) = 0;
  virtual Status abort_multipart(const std::string& key, const std::string& upload_id) = 0;
};

// Opens a store from a URI (defined in object_store.cc, library shale::objstore):
//   file:///abs/dir  LocalObjectStore rooted at /abs/dir on `fs` (created if missing);
//   mem://           a new, empty MemObjectStore (every call returns a distinct store).
// Other schemes: Errc::kInvalidArgument. `fs` must outlive the returned store.
Result<std::unique_ptr<ObjectStore>> open_object_store(const std::string& uri, io::Filesystem& fs);

}  // namespace shale::objstore
