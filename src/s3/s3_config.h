// S3 store configuration: parsing of s3:// URIs, credential discovery and the retry policy.
// Secrets live only in Credentials; S3Config::describe() never prints them.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "base/result.h"
#include "s3/sigv4.h"

namespace shale::s3 {

// Retries with "full jitter" exponential back-off: attempt n (1-based, n >= 1 retries done)
// sleeps uniform[0, min(cap, base * 2^(n-1))]. Retried: connection errors, timeouts, 5xx
// (incl. 503 SlowDown), 429 and 408. Never retried: other 4xx.
struct RetryPolicy {
  int max_attempts = 6;  // total tries per request
  uint32_t base_ms = 50;
  uint32_t cap_ms = 5000;
  uint32_t backoff_ms(int retries_done, std::mt19937_64& rng) const;
  static bool retryable_status(long status) {
    return status == 0 || status == 408 || status == 429 || status >= 500;
  }
};

struct S3Config {
  std::string bucket;
  std::string prefix;         // "" or ends with '/'; prepended to every key
  std::string endpoint = "";  // scheme://host[:port]; default https://s3.<region>.amazonaws.com
  std::string region = "us-east-1";
  bool path_style = true;
  bool unsigned_payload = false;  // true: x-amz-content-sha256 UNSIGNED-PAYLOAD (no hashing)
  Credentials creds;
  RetryPolicy retry;
  int max_inflight = 32;       // concurrent HTTP requests per store (bounded concurrency)
  int upload_parallelism = 4;  // parallel parts of one multipart put()
  uint64_t multipart_threshold = 64ull << 20;  // put() larger than this goes multipart
  uint64_t part_size = 16ull << 20;            // >= 5 MiB (S3 minimum for non-last parts)
  long connect_timeout_ms = 5000;
  long request_timeout_ms = 120000;
  long low_speed_secs = 15;  // abort a transfer slower than 1 KiB/s for this long
  bool probe = true;         // probe conditional-PUT support (writes and deletes one key)
  // GET receive buffers written once at open (RecvBufferPool::prefault), up to the pool's idle
  // bound: the broker sets it (--s3-prefault-get-buffers-mib); 0 leaves them to the first GETs.
  uint64_t prefault_get_buffer_bytes = 0;

  // For logs: everything except the secret and session token.
  std::string describe() const;
};

// Credentials a caller (the broker's config) supplies besides the URI and the environment.
struct CredentialSources {
  Credentials configured;        // used when the URI has none; wins over the environment
  std::string credentials_file;  // used instead of AWS_SHARED_CREDENTIALS_FILE / ~/.aws/...
};

// Parses s3://BUCKET[/PREFIX][?k=v&...]. Keys: endpoint, region, path_style, access_key,
// secret_key (discouraged: only for tests; prefer the environment or a credentials file),
// profile, unsigned_payload, max_inflight, max_attempts, timeout_ms, multipart_threshold,
// part_size, probe.
// Credentials when not in the URI: `sources.configured`, else AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, else the profile (URI `profile`, AWS_PROFILE, or
// "default") of sources.credentials_file, AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials.
Result<S3Config> parse_s3_uri(const std::string& uri, const CredentialSources& sources = {});

// Reads one profile of an AWS credentials file (INI). kNotFound if the file or profile is absent.
Result<Credentials> read_credentials_file(const std::string& path, const std::string& profile);

}  // namespace shale::s3
