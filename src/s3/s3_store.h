// S3ObjectStore: objstore::ObjectStore on an S3-compatible server (AWS S3, Ceph RGW, ...).
//
// Ownership: owns its config (credentials included); the HTTP connections belong to the calling
// threads (one keep-alive curl handle per thread, see http.h).
// Threading: every method is blocking and thread-safe; at most config.max_inflight HTTP requests
// run at once per store (callers beyond that wait). Each request has connect/total/stall
// timeouts, and is retried per config.retry on connection errors, timeouts, 5xx and SlowDown,
// so a misbehaving server yields an error Status, never a hang or a crash.
// Durability: as S3's: put()/complete_multipart() returning OK means the server acknowledged
// the object (200) — durable and visible per the server's guarantees.
// Errors: logged (never with credentials) with the server's x-amz-request-id; counted in stats().
#pragma once

#include <atomic>
#include <memory>
#include <random>
#include <semaphore>
#include <string>
#include <vector>

#include "objstore/object_store.h"
#include "s3/http.h"
#include "s3/recv_pool.h"
#include "s3/s3_config.h"

namespace shale::s3 {

struct S3Stats {
  uint64_t requests = 0;  // HTTP attempts sent
  uint64_t retries = 0;
  uint64_t errors = 0;  // operations that failed (other than NotFound / precondition outcomes)
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
};

class S3ObjectStore final : public objstore::ObjectStore {
 public:
  // Runs the capability probe when cfg.probe (a failing probe fails open: wrong bucket, keys,
  // endpoint surface at startup).
  static Result<std::unique_ptr<S3ObjectStore>> open(S3Config cfg);

  objstore::Capabilities capabilities() const override { return caps_; }
  Status put(const std::string& key, const std::vector<Buf>& parts,
             const objstore::PutOptions& opts = {}) override;
  using objstore::ObjectStore::put;
  Result<objstore::GetResult> get(const std::string& key,
                                  const objstore::ByteRange& range = {}) override;
  Result<objstore::ObjectInfo> head(const std::string& key) override;
  Result<objstore::ListPage> list(const std::string& prefix, const std::string& start_token = {},
                                  size_t max_keys = 1000) override;
  Status remove(const std::vector<std::string>& keys) override;
  Result<std::string> begin_multipart(const std::string& key) override;
  Status upload_part(const std::string& key, const std::string& upload_id, int part_number,
                     const Buf& data) override;
  Status complete_multipart(const std::string& key, const std::string& upload_id,
                            int part_count) override;
  Status abort_multipart(const std::string& key, const std::string& upload_id) override;

  S3Stats stats() const;
  const S3Config& config() const { return cfg_; }

 private:
  explicit S3ObjectStore(S3Config cfg);

  struct Call {
    std::string method;
    std::string key;  // user key ("" for bucket-level requests)
    std::vector<std::pair<std::string, std::string>> query;
    std::vector<std::pair<std::string, std::string>> headers;
    std::vector<Buf> body;
  };
  struct Sent {
    HttpResponse resp;
    int attempts = 0;
  };
  // Signs and sends with retries; returns the last response (status 0 on transport failure).
  Sent send(const Call& call);
  // An error Status for a failed response, logged and counted unless `quiet`.
  Error fail(const Call& call, const Sent& s, Errc code, bool quiet = false);
  Status probe_conditional_put();
  Result<std::string> upload_part_impl(const std::string& key, const std::string& upload_id,
                                       int part_number, std::vector<Buf> data);
  Status complete_impl(const std::string& key, const std::string& upload_id,
                       const std::vector<std::string>& etags);
  Status put_multipart(const std::string& key, const std::vector<Buf>& parts, uint64_t size);

  S3Config cfg_;
  std::string scheme_, host_;  // from the endpoint
  objstore::Capabilities caps_;
  std::counting_semaphore<1 << 16> slots_;
  // GET bodies are received into recycled buffers (recv_pool.h): 64 MiB idle at most.
  std::shared_ptr<RecvBufferPool> recv_pool_ = RecvBufferPool::create(64 << 20);
  std::atomic<uint64_t> requests_{0}, retries_{0}, errors_{0}, sent_{0}, received_{0};
};

// open_s3_store("s3://BUCKET/PREFIX?endpoint=http://127.0.0.1:7480&region=us-east-1&path_style=true")
// See parse_s3_uri() for every parameter and where credentials come from.
Result<std::unique_ptr<objstore::ObjectStore>> open_s3_store(const std::string& uri,
                                                             const CredentialSources& sources = {});

}  // namespace shale::s3
