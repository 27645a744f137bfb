// Minimal, namespace-agnostic XML reading for S3 responses, and the typed parsers the store uses.
// Elements are matched by local name (any "ns:" prefix and xmlns attributes are ignored), entity
// references (&amp; &lt; &gt; &quot; &apos; &#N; &#xN;) are decoded, CDATA is not expected.
// Malformed input yields empty/absent results, never a crash. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shale::s3 {

// The raw (still escaped) inner content of every element named `name`, in document order.
// Elements of that name nested in one another are not supported (S3 never does that).
std::vector<std::string_view> xml_elements(std::string_view doc, std::string_view name);
// Decoded text of the first element named `name`, or nullopt if absent.
std::optional<std::string> xml_text(std::string_view doc, std::string_view name);
std::string xml_unescape(std::string_view s);
std::string xml_escape(std::string_view s);

struct S3Error {
  std::string code;  // e.g. "NoSuchKey", "SlowDown"
  std::string message;
  std::string request_id;
};
S3Error parse_error(std::string_view body);

struct ListedObject {
  std::string key;  // decoded (EncodingType=url honoured when the server says it used it)
  uint64_t size = 0;
  std::string etag;  // unquoted
};
struct ListV2Result {
  std::vector<ListedObject> objects;
  bool truncated = false;
  std::string next_token;
  bool ok = false;  // the body was a ListBucketResult
};
ListV2Result parse_list_v2(std::string_view body);

std::optional<std::string> parse_upload_id(std::string_view body);

struct ListedPart {
  int number = 0;
  std::string etag;  // as returned (quoted)
  uint64_t size = 0;
};
struct ListPartsResult {
  std::vector<ListedPart> parts;
  bool truncated = false;
  std::string next_marker;
  bool ok = false;
};
ListPartsResult parse_list_parts(std::string_view body);

// DeleteObjects result: the per-key errors (key, code).
std::vector<std::pair<std::string, std::string>> parse_delete_errors(std::string_view body);

std::string unquote_etag(std::string_view etag);

}  // namespace shale::s3
