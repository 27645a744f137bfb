#include "s3/s3_store.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <chrono>
#include <thread>

#include "base/log.h"
#include "objstore/store_util.h"
#include "s3/s3_xml.h"

namespace shale::s3 {
namespace {

using objstore::ByteRange;

std::mt19937_64& thread_rng() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng;
}

std::string body_str(const HttpResponse& r) {
  return std::string(reinterpret_cast<const char*>(r.body.data()), r.body.size());
}

std::string md5_hex(const std::vector<Buf>& parts) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_md5(), nullptr);
  for (const auto& p : parts) EVP_DigestUpdate(ctx, p.data(), p.size());
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  return hex(std::string_view(reinterpret_cast<char*>(md), len));
}

// "bytes a-b/total" -> total.
std::optional<uint64_t> content_range_total(const std::string& cr) {
  size_t slash = cr.rfind('/');
  if (slash == std::string::npos || slash + 1 >= cr.size() || cr[slash + 1] == '*')
    return std::nullopt;
  return std::strtoull(cr.c_str() + slash + 1, nullptr, 10);
}

}  // namespace

S3ObjectStore::S3ObjectStore(S3Config cfg)
    : cfg_(std::move(cfg)), slots_(std::max(1, cfg_.max_inflight)) {
  size_t sep = cfg_.endpoint.find("://");
  scheme_ = cfg_.endpoint.substr(0, sep);
  host_ = cfg_.endpoint.substr(sep + 3);
  if (size_t slash = host_.find('/'); slash != std::string::npos) host_.resize(slash);
}

Result<std::unique_ptr<S3ObjectStore>> S3ObjectStore::open(S3Config cfg) {
  std::unique_ptr<S3ObjectStore> s(new S3ObjectStore(std::move(cfg)));
  if (s->cfg_.probe) SHALE_RETURN_IF_ERROR(s->probe_conditional_put());
  if (s->cfg_.prefault_get_buffer_bytes > 0) {
    // 4 MiB buffers take the catch-up reader's GETs of 2-4 MiB (kMaxGetBytes plus a block).
    constexpr size_t kPrefaultBufferBytes = size_t{4} << 20;
    const auto t0 = std::chrono::steady_clock::now();
    const size_t added =
        s->recv_pool_->prefault(s->cfg_.prefault_get_buffer_bytes, kPrefaultBufferBytes);
    SHALE_LOG_INFO(
        "s3", "pre-faulted {} MiB of GET buffers in {} ms", added >> 20,
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count());
  }
  SHALE_LOG_INFO("s3", "opened {} conditional_put={}", s->cfg_.describe(),
                 s->caps_.conditional_put);
  return s;
}

Result<std::unique_ptr<objstore::ObjectStore>> open_s3_store(const std::string& uri,
                                                             const CredentialSources& sources) {
  SHALE_ASSIGN_OR_RETURN(S3Config cfg, parse_s3_uri(uri, sources));
  SHALE_ASSIGN_OR_RETURN(auto store, S3ObjectStore::open(std::move(cfg)));
  return std::unique_ptr<objstore::ObjectStore>(std::move(store));
}

S3Stats S3ObjectStore::stats() const {
  return {requests_.load(), retries_.load(), errors_.load(), sent_.load(), received_.load()};
}

S3ObjectStore::Sent S3ObjectStore::send(const Call& call) {
  const std::string full_key = call.key.empty() ? "" : cfg_.prefix + call.key;
  std::string path, host;
  if (cfg_.path_style) {
    host = host_;
    path = fmt::format("/{}{}{}", cfg_.bucket, full_key.empty() ? "" : "/",
                       uri_encode(full_key, true));
  } else {
    host = cfg_.bucket + "." + host_;
    path = fmt::format("/{}", uri_encode(full_key, true));
  }
  const std::string query = canonical_query(call.query);
  HttpRequest req;
  req.method = call.method;
  req.url = scheme_ + "://" + host + path + (query.empty() ? "" : "?" + query);
  req.body = call.body;
  req.connect_timeout_ms = cfg_.connect_timeout_ms;
  req.timeout_ms = cfg_.request_timeout_ms;
  req.low_speed_secs = cfg_.low_speed_secs;
  if (call.method == "GET") req.body_pool = recv_pool_.get();
  uint64_t body_size = 0;
  std::vector<std::string_view> views;
  for (const auto& b : call.body) {
    body_size += b.size();
    views.push_back(b.view());
  }
  SignRequest sr;
  sr.method = call.method;
  sr.canonical_uri = path;
  sr.query = call.query;
  sr.payload_hash = cfg_.unsigned_payload && !call.body.empty() ? std::string(kUnsignedPayload)
                                                                : sha256_hex(views);
  Sent s;
  for (int attempt = 1;; ++attempt) {
    const std::string date = amz_date_now();
    sr.headers = call.headers;
    sr.headers.emplace_back("host", host);
    sr.headers.emplace_back("x-amz-date", date);
    sr.headers.emplace_back("x-amz-content-sha256", sr.payload_hash);
    if (!cfg_.creds.session_token.empty())
      sr.headers.emplace_back("x-amz-security-token", cfg_.creds.session_token);
    req.headers = sr.headers;
    req.headers.emplace_back("Authorization",
                             authorization(cfg_.creds, cfg_.region, "s3", date, sr));
    if (call.method == "PUT" || call.method == "POST")
      req.headers.emplace_back("Content-Length", std::to_string(body_size));
    slots_.acquire();
    s.resp = http_perform(req);
    slots_.release();
    s.attempts = attempt;
    ++requests_;
    sent_ += body_size;
    received_ += s.resp.body.size();
    if (!RetryPolicy::retryable_status(s.resp.status) || attempt >= cfg_.retry.max_attempts)
      return s;
    ++retries_;
    const uint32_t ms = cfg_.retry.backoff_ms(attempt, thread_rng());
    SHALE_LOG_INFO(
        "s3", "{} {} attempt {} failed ({}; request id {}), retrying in {} ms", call.method,
        full_key, attempt,
        s.resp.status ? fmt::format("HTTP {} {}", s.resp.status, parse_error(body_str(s.resp)).code)
                      : s.resp.curl_error,
        s.resp.header("x-amz-request-id"), ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
}

Error S3ObjectStore::fail(const Call& call, const Sent& s, Errc code, bool quiet) {
  std::string what;
  if (s.resp.status == 0) {
    what = "transport: " + s.resp.curl_error;
    if (code == Errc::kIoError) code = s.resp.timed_out ? Errc::kTimeout : Errc::kUnavailable;
  } else {
    S3Error e = parse_error(body_str(s.resp));
    std::string rid = s.resp.header("x-amz-request-id");
    if (rid.empty()) rid = e.request_id;
    what = fmt::format("HTTP {} {} (request id {}){}{}", s.resp.status, e.code, rid,
                       e.message.empty() ? "" : ": ", e.message);
    if (code == Errc::kIoError && s.resp.status >= 500) code = Errc::kUnavailable;
  }
  std::string msg = fmt::format("s3 {} {} after {} attempt(s): {}", call.method,
                                call.key.empty() ? cfg_.bucket : call.key, s.attempts, what);
  if (!quiet) {
    ++errors_;
    SHALE_LOG_WARN("s3", "{}", msg);
  }
  return Error{code, std::move(msg)};
}

Status S3ObjectStore::probe_conditional_put() {
  const std::string key =
      fmt::format(".shale-probe/{:016x}", static_cast<uint64_t>(thread_rng()()));
  Call c{"PUT", key, {}, {{"If-None-Match", "*"}}, {Buf::copy("probe")}};
  Sent first = send(c);
  // A 412 after a retry is our own earlier attempt that landed (the key is random), so the
  // server honours If-None-Match. (A store slower than the timeout used to fail startup here.)
  if (first.resp.status == 412 && first.attempts > 1) {
    caps_.conditional_put = true;
    return remove({key});
  }
  if (first.resp.status != 200) return fail(c, first, Errc::kIoError);
  Sent second = send(c);
  caps_.conditional_put = second.resp.status == 412;
  if (second.resp.status != 412 && second.resp.status != 200)
    return fail(c, second, Errc::kIoError);
  return remove({key});
}

Status S3ObjectStore::put(const std::string& key, const std::vector<Buf>& parts,
                          const objstore::PutOptions& opts) {
  SHALE_RETURN_IF_ERROR(objstore::validate_key(key));
  uint64_t size = 0;
  for (const auto& p : parts) size += p.size();
  // Conditional puts stay single-request: servers ignore If-None-Match on multipart completion.
  if (size > cfg_.multipart_threshold && !opts.if_none_match)
    return put_multipart(key, parts, size);
  Call c{"PUT", key, {}, {{"Content-Type", "application/octet-stream"}}, parts};
  if (opts.if_none_match) c.headers.emplace_back("If-None-Match", "*");
  Sent s = send(c);
  if (s.resp.status == 200) return Status();
  if (s.resp.status == 412 && opts.if_none_match) {
    // After a retry the 412 may be our own earlier attempt that landed: same bytes -> success.
    if (s.attempts > 1) {
      auto h = head(key);
      if (h.ok() && h->etag == md5_hex(parts)) return Status();
    }
    return fail(c, s, Errc::kAlreadyExists, true);
  }
  return fail(c, s, Errc::kIoError);
}

Result<objstore::GetResult> S3ObjectStore::get(const std::string& key, const ByteRange& range) {
  SHALE_RETURN_IF_ERROR(objstore::validate_key(key));
  const bool whole = !range.suffix && range.offset == 0 && range.length == ByteRange::kToEnd;
  if (!whole && range.length == 0) {  // not expressible as an HTTP range: resolve on the size
    SHALE_ASSIGN_OR_RETURN(auto info, head(key));
    SHALE_RETURN_IF_ERROR(objstore::resolve_range(range, info.size).status());
    return objstore::GetResult{Buf(), info.size};
  }
  Call c{"GET", key, {}, {}, {}};
  if (range.suffix) {
    c.headers.emplace_back("Range", fmt::format("bytes=-{}", range.length));
  } else if (!whole) {
    if (range.length == ByteRange::kToEnd || range.offset + range.length < range.offset)
      c.headers.emplace_back("Range", fmt::format("bytes={}-", range.offset));
    else
      c.headers.emplace_back(
          "Range", fmt::format("bytes={}-{}", range.offset, range.offset + range.length - 1));
  }
  Sent s = send(c);
  if (s.resp.status == 404) return fail(c, s, Errc::kNotFound, true);
  if (s.resp.status == 416) {
    if (range.suffix) {  // a suffix of an empty object
      auto info = head(key);
      if (info.ok() && info->size == 0) return objstore::GetResult{Buf(), 0};
    }
    return fail(c, s, Errc::kOutOfRange, true);
  }
  if (s.resp.status != 200 && s.resp.status != 206) return fail(c, s, Errc::kIoError);
  uint64_t total = s.resp.body.size();
  if (s.resp.status == 206) {
    auto t = content_range_total(s.resp.header("content-range"));
    if (!t) return fail(c, s, Errc::kCorruption);
    total = *t;
  }
  Buf data = recv_pool_->share(std::move(s.resp.body));
  if (s.resp.status == 200 && !whole) {  // the server ignored the range: cut it here
    SHALE_ASSIGN_OR_RETURN(auto rr, objstore::resolve_range(range, total));
    data = data.slice(rr.offset, rr.length);
  }
  return objstore::GetResult{std::move(data), total};
}

Result<objstore::ObjectInfo> S3ObjectStore::head(const std::string& key) {
  SHALE_RETURN_IF_ERROR(objstore::validate_key(key));
  Call c{"HEAD", key, {}, {}, {}};
  Sent s = send(c);
  if (s.resp.status == 404) return fail(c, s, Errc::kNotFound, true);
  if (s.resp.status != 200) return fail(c, s, Errc::kIoError);
  return objstore::ObjectInfo{key,
                              std::strtoull(s.resp.header("content-length").c_str(), nullptr, 10),
                              unquote_etag(s.resp.header("etag"))};
}

Result<objstore::ListPage> S3ObjectStore::list(const std::string& prefix,
                                               const std::string& start_token, size_t max_keys) {
  // Pages are exact: gather max_keys + 1 keys (following continuation tokens) to know whether
  // more exist; our token is the last key returned, resumed with start-after.
  max_keys = std::clamp<size_t>(max_keys, 1, 1000);
  objstore::ListPage page;
  std::string continuation;
  bool more = false;
  while (true) {
    Call c{"GET",
           "",
           {{"list-type", "2"},
            {"prefix", cfg_.prefix + prefix},
            {"encoding-type", "url"},
            {"max-keys", std::to_string(max_keys + 1 - page.objects.size())}},
           {},
           {}};
    if (!continuation.empty())
      c.query.emplace_back("continuation-token", continuation);
    else if (!start_token.empty())
      c.query.emplace_back("start-after", cfg_.prefix + start_token);
    Sent s = send(c);
    if (s.resp.status != 200) return fail(c, s, Errc::kIoError);
    ListV2Result r = parse_list_v2(body_str(s.resp));
    if (!r.ok) return fail(c, s, Errc::kCorruption);
    for (auto& o : r.objects) {
      if (!o.key.starts_with(cfg_.prefix)) continue;
      if (page.objects.size() == max_keys) {
        more = true;
        break;
      }
      page.objects.push_back({o.key.substr(cfg_.prefix.size()), o.size, std::move(o.etag)});
    }
    if (more || !r.truncated || r.next_token.empty()) break;
    continuation = r.next_token;
  }
  if (more) page.next_token = page.objects.back().key;
  return page;
}

Status S3ObjectStore::remove(const std::vector<std::string>& keys) {
  for (size_t i = 0; i < keys.size(); i += 1000) {
    std::string xml = "<Delete><Quiet>true</Quiet>";
    for (size_t j = i; j < std::min(keys.size(), i + 1000); ++j) {
      SHALE_RETURN_IF_ERROR(objstore::validate_key(keys[j]));
      xml += "<Object><Key>" + xml_escape(cfg_.prefix + keys[j]) + "</Key></Object>";
    }
    xml += "</Delete>";
    Call c{"POST",
           "",
           {{"delete", ""}},
           {{"Content-MD5", md5_base64(xml)}, {"Content-Type", "application/xml"}},
           {Buf::copy(xml)}};
    Sent s = send(c);
    if (s.resp.status != 200) return fail(c, s, Errc::kIoError);
    for (const auto& [key, code] : parse_delete_errors(body_str(s.resp))) {
      if (code == "NoSuchKey") continue;
      ++errors_;
      SHALE_LOG_WARN("s3", "DeleteObjects {}: {} (request id {})", key, code,
                     s.resp.header("x-amz-request-id"));
      return Error{Errc::kIoError, fmt::format("s3 delete {}: {}", key, code)};
    }
  }
  return Status();
}

Result<std::string> S3ObjectStore::begin_multipart(const std::string& key) {
  SHALE_RETURN_IF_ERROR(objstore::validate_key(key));
  Call c{"POST", key, {{"uploads", ""}}, {{"Content-Type", "application/octet-stream"}}, {}};
  Sent s = send(c);
  if (s.resp.status != 200) return fail(c, s, Errc::kIoError);
  auto id = parse_upload_id(body_str(s.resp));
  if (!id) return fail(c, s, Errc::kCorruption);
  return *id;
}

Result<std::string> S3ObjectStore::upload_part_impl(const std::string& key,
                                                    const std::string& upload_id, int part_number,
                                                    std::vector<Buf> data) {
  if (part_number < 1 || part_number > 10000)
    return Error{Errc::kInvalidArgument, fmt::format("s3 part number {}", part_number)};
  Call c{"PUT",
         key,
         {{"partNumber", std::to_string(part_number)}, {"uploadId", upload_id}},
         {},
         std::move(data)};
  Sent s = send(c);
  if (s.resp.status == 404) return fail(c, s, Errc::kNotFound, true);
  if (s.resp.status != 200) return fail(c, s, Errc::kIoError);
  return s.resp.header("etag");
}

Status S3ObjectStore::upload_part(const std::string& key, const std::string& upload_id,
                                  int part_number, const Buf& data) {
  SHALE_RETURN_IF_ERROR(objstore::validate_key(key));
  return upload_part_impl(key, upload_id, part_number, {data}).status();
}

Status S3ObjectStore::complete_impl(const std::string& key, const std::string& upload_id,
                                    const std::vector<std::string>& etags) {
  std::string xml = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < etags.size(); ++i)
    xml += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", i + 1,
                       xml_escape(etags[i]));
  xml += "</CompleteMultipartUpload>";
  Call c{"POST",
         key,
         {{"uploadId", upload_id}},
         {{"Content-Type", "application/xml"}},
         {Buf::copy(xml)}};
  Sent s = send(c);
  if (s.resp.status == 404) return fail(c, s, Errc::kNotFound, true);
  if (s.resp.status == 400) return fail(c, s, Errc::kInvalidArgument);
  // S3 may answer 200 with an <Error> body when completion fails late.
  if (s.resp.status != 200 || !xml_elements(body_str(s.resp), "Error").empty())
    return fail(c, s, Errc::kIoError);
  return Status();
}

Status S3ObjectStore::complete_multipart(const std::string& key, const std::string& upload_id,
                                         int part_count) {
  SHALE_RETURN_IF_ERROR(objstore::validate_key(key));
  if (part_count < 1) return Error{Errc::kInvalidArgument, "s3 complete with no parts"};
  std::vector<std::string> etags(static_cast<size_t>(part_count));
  std::string marker;
  while (true) {
    Call c{"GET", key, {{"uploadId", upload_id}}, {}, {}};
    if (!marker.empty()) c.query.emplace_back("part-number-marker", marker);
    Sent s = send(c);
    if (s.resp.status == 404) return fail(c, s, Errc::kNotFound, true);
    if (s.resp.status != 200) return fail(c, s, Errc::kIoError);
    ListPartsResult r = parse_list_parts(body_str(s.resp));
    if (!r.ok) return fail(c, s, Errc::kCorruption);
    for (auto& p : r.parts)
      if (p.number >= 1 && p.number <= part_count) etags[p.number - 1] = std::move(p.etag);
    if (!r.truncated || r.next_marker.empty() || r.next_marker == marker) break;
    marker = r.next_marker;
  }
  for (size_t i = 0; i < etags.size(); ++i)
    if (etags[i].empty())
      return Error{Errc::kInvalidArgument,
                   fmt::format("s3 complete {}: part {} missing", key, i + 1)};
  return complete_impl(key, upload_id, etags);
}

Status S3ObjectStore::abort_multipart(const std::string& key, const std::string& upload_id) {
  SHALE_RETURN_IF_ERROR(objstore::validate_key(key));
  Call c{"DELETE", key, {{"uploadId", upload_id}}, {}, {}};
  Sent s = send(c);
  if (s.resp.status == 404) return fail(c, s, Errc::kNotFound, true);
  if (s.resp.status != 204 && s.resp.status != 200) return fail(c, s, Errc::kIoError);
  return Status();
}

Status S3ObjectStore::put_multipart(const std::string& key, const std::vector<Buf>& parts,
                                    uint64_t size) {
  // Split the concatenated input into part_size chunks of slices (no copies).
  std::vector<std::vector<Buf>> chunks;
  uint64_t in_chunk = cfg_.part_size;
  for (const Buf& b : parts) {
    size_t off = 0;
    while (off < b.size()) {
      if (in_chunk == cfg_.part_size) chunks.emplace_back(), in_chunk = 0;
      size_t n = static_cast<size_t>(std::min<uint64_t>(b.size() - off, cfg_.part_size - in_chunk));
      chunks.back().push_back(b.slice(off, n));
      off += n;
      in_chunk += n;
    }
  }
  (void)size;
  SHALE_ASSIGN_OR_RETURN(std::string id, begin_multipart(key));
  std::vector<std::string> etags(chunks.size());
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  Status first_error;
  std::mutex mu;
  auto worker = [&] {
    for (size_t i; !failed && (i = next++) < chunks.size();) {
      auto r = upload_part_impl(key, id, static_cast<int>(i + 1), chunks[i]);
      if (r.ok()) {
        etags[i] = std::move(*r);
        continue;
      }
      std::lock_guard lk(mu);
      if (!failed.exchange(true)) first_error = r.status();
    }
  };
  std::vector<std::thread> ts;
  size_t n =
      std::min<size_t>(chunks.size(), static_cast<size_t>(std::max(1, cfg_.upload_parallelism)));
  for (size_t t = 1; t < n; ++t) ts.emplace_back(worker);
  worker();
  for (auto& t : ts) t.join();
  Status st = failed ? first_error : complete_impl(key, id, etags);
  if (!st.ok()) {
    Status ab = abort_multipart(key, id);
    if (!ab.ok())
      SHALE_LOG_WARN("s3", "abort of failed multipart {} left upload {}: {}", key, id,
                     ab.to_string());
  }
  return st;
}

}  // namespace shale::s3
