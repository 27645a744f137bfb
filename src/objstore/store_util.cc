#include "objstore/store_util.h"

#include <fmt/format.h>

namespace shale::objstore {

Result<ResolvedRange> resolve_range(const ByteRange& r, uint64_t size) {
  if (r.suffix) {
    uint64_t len = std::min(r.length, size);
    return ResolvedRange{size - len, len};
  }
  const bool all = r.offset == 0 && r.length == ByteRange::kToEnd;
  if (all) return ResolvedRange{0, size};
  if (r.length == 0 && r.offset <= size) return ResolvedRange{r.offset, 0};
  if (r.offset >= size) {
    return Status(Errc::kOutOfRange,
                  fmt::format("range offset {} past object size {}", r.offset, size));
  }
  uint64_t len = std::min(r.length, size - r.offset);
  return ResolvedRange{r.offset, len};
}

Status validate_key(const std::string& key) {
  if (key.empty()) return Status(Errc::kInvalidArgument, "empty object key");
  if (key.size() > kMaxKeyBytes) {
    return Status(Errc::kInvalidArgument, fmt::format("object key of {} bytes", key.size()));
  }
  return Status();
}

namespace {
bool plain(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}
int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string escape_key(const std::string& key) {
  const bool all_dots = key.find_first_not_of('.') == std::string::npos;
  std::string out;
  out.reserve(key.size());
  for (unsigned char c : key) {
    if (plain(c) && !(all_dots && c == '.')) {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::optional<std::string> unescape_key(const std::string& name) {
  std::string out;
  out.reserve(name.size());
  for (size_t i = 0; i < name.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    if (c == '%') {
      if (i + 2 >= name.size()) return std::nullopt;
      int hi = hexval(name[i + 1]), lo = hexval(name[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (plain(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      return std::nullopt;
    }
  }
  if (out.empty() || escape_key(out) != name) return std::nullopt;  // canonical form only
  return out;
}

Result<std::string> local_object_path(const std::string& key) {
  SHALE_RETURN_IF_ERROR(validate_key(key));
  std::string out;
  size_t start = 0;
  while (true) {
    const size_t slash = key.find('/', start);
    const bool leaf = slash == std::string::npos;
    std::string name;
    if (slash != start)
      name = escape_key(key.substr(start, leaf ? std::string::npos : slash - start));
    if (!leaf) {
      name.append(kDirSuffix.data(), kDirSuffix.size());
    } else if (name.empty()) {
      name.append(kEmptyLeaf.data(), kEmptyLeaf.size());
    }
    if (name.size() > kMaxFileNameBytes) {
      return Status(Errc::kInvalidArgument,
                    fmt::format("key component escapes to a {}-byte file name (max {})",
                                name.size(), kMaxFileNameBytes));
    }
    if (!out.empty()) out += '/';
    out += name;
    if (leaf) return out;
    start = slash + 1;
  }
}

std::string crc_etag(uint32_t crc) {
  return fmt::format("{:08x}", crc);
}

}  // namespace shale::objstore
