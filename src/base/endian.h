// Big-endian (network order) and little-endian fixed-width encoding helpers. Kafka's wire format
// is big-endian; Shale's own on-disk formats are little-endian (see docs/formats.md).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace shale {

template <typename T>
constexpr T byteswap_(T v) {
  if constexpr (sizeof(T) == 1) {
    return v;
  } else if constexpr (sizeof(T) == 2) {
    return static_cast<T>(__builtin_bswap16(static_cast<uint16_t>(v)));
  } else if constexpr (sizeof(T) == 4) {
    return static_cast<T>(__builtin_bswap32(static_cast<uint32_t>(v)));
  } else {
    return static_cast<T>(__builtin_bswap64(static_cast<uint64_t>(v)));
  }
}

template <typename T>
inline T load_be(const void* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  if constexpr (std::endian::native == std::endian::little) v = byteswap_(v);
  return v;
}
template <typename T>
inline void store_be(void* p, T v) {
  if constexpr (std::endian::native == std::endian::little) v = byteswap_(v);
  std::memcpy(p, &v, sizeof(T));
}
template <typename T>
inline T load_le(const void* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
template <typename T>
inline void store_le(void* p, T v) {
  std::memcpy(p, &v, sizeof(T));
}

}  // namespace shale
