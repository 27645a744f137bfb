// AWS Signature Version 4 for S3 (header signing) and the hashing/encoding helpers it needs.
// Pure functions over strings; thread-safe. Secrets passed in are never logged or stored here.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shale::s3 {

struct Credentials {
  std::string access_key;
  std::string secret_key;
  std::string session_token;  // empty unless temporary credentials
  bool empty() const { return access_key.empty() || secret_key.empty(); }
};

// The payload hash S3 accepts instead of a SHA-256 of the body.
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

std::string sha256_hex(std::string_view data);
// SHA-256 of the concatenation of several byte ranges.
std::string sha256_hex(const std::vector<std::string_view>& parts);
std::string md5_base64(std::string_view data);
std::string hex(std::string_view bytes);

// RFC 3986 percent-encoding as SigV4 wants it: unreserved bytes [A-Za-z0-9-._~] stay, every other
// byte becomes %XX (upper-case). '/' stays when keep_slash (object key paths).
std::string uri_encode(std::string_view s, bool keep_slash);
// Inverse of uri_encode (also accepts '+' as-is). Malformed escapes are kept literally.
std::string uri_decode(std::string_view s);

struct SignRequest {
  std::string method;                                        // "GET", "PUT", ...
  std::string canonical_uri;                                 // already encoded, e.g. "/bkt/a%20b"
  std::vector<std::pair<std::string, std::string>> query;    // raw (unencoded) names and values
  std::vector<std::pair<std::string, std::string>> headers;  // must include host, x-amz-date
  std::string payload_hash;  // hex SHA-256 of the body or kUnsignedPayload
};

// The SigV4 pieces, exposed for tests against AWS's published vectors.
std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query);
std::string canonical_request(const SignRequest& req, std::string* signed_headers);
std::string string_to_sign(const std::string& amz_date, const std::string& scope,
                           const std::string& canonical_request);
// The Authorization header value. amz_date is "YYYYMMDDTHHMMSSZ"; service is "s3".
std::string authorization(const Credentials& creds, const std::string& region,
                          const std::string& service, const std::string& amz_date,
                          const SignRequest& req);
// "YYYYMMDDTHHMMSSZ" for the current UTC time.
std::string amz_date_now();

}  // namespace shale::s3
