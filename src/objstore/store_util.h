// Helpers shared by the ObjectStore implementations: range resolution, key validation, and the
// key <-> file name escaping of LocalObjectStore. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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

// LocalObjectStore's path of a key below objects/ (the tree layout): every '/'-separated
// component but the last is a directory named escape_key(component) + "%2F" ("%2F" alone for an
// empty component); the last is a file named escape_key(component) ("%" for an empty one). So a
// directory name always ends in "%2F" and a file name never does, "p/a" and "p/a/b" can both
// exist, and a listing with a prefix reads only the directories under it.
// Errc::kInvalidArgument if a name would exceed kMaxFileNameBytes.
constexpr size_t kMaxFileNameBytes = 255;
constexpr std::string_view kDirSuffix = "%2F";  // escape_key("/")
constexpr std::string_view kEmptyLeaf = "%";    // not a well-formed escape, so never a key's name
Result<std::string> local_object_path(const std::string& key);

// The etag the in-memory and local stores report: CRC-32C of the content, 8 hex digits.
std::string crc_etag(uint32_t crc);

}  // namespace shale::objstore
