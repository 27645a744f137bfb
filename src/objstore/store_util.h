// Helpers shared by the ObjectStore implementations: range resolution, key validation, and the
// key <-> file name escaping of LocalObjectStore. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/result.h"
#include "objstore/object_store.h"

namespace shale::objstore {

struct ResolvedRange {
  uint64_t offset = 0;
  uint64_t length = 0;
};

// Maps a ByteRange onto an object of `size` bytes with S3 semantics: ranges reaching past the end
// are cut at the end; a suffix longer than the object returns the whole object; a range starting
// past the end (or at the end, unless the range is ByteRange::all() or has length 0) is
// Errc::kOutOfRange.
Result<ResolvedRange> resolve_range(const ByteRange& r, uint64_t size);

// Keys must be non-empty and at most kMaxKeyBytes bytes (S3's limit).
constexpr size_t kMaxKeyBytes = 1024;
Status validate_key(const std::string& key);

// LocalObjectStore file names: bytes [A-Za-z0-9._-] stay as they are, every other byte
// (including '/' and '%') becomes %XX (upper-case hex). A name made only of dots ("." / "..")
// has its dots escaped too. The mapping is injective and its inverse is unescape_key().
std::string escape_key(const std::string& key);
// nullopt if `name` is not a well-formed escaped key.
std::optional<std::string> unescape_key(const std::string& name);

// The etag the in-memory and local stores report: CRC-32C of the content, 8 hex digits.
std::string crc_etag(uint32_t crc);

}  // namespace shale::objstore
