#include "broker/uuid.h"

#include <random>

namespace shale::broker {

Uuid Uuid::random() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  Uuid u;
  do {
    for (int i = 0; i < 2; ++i) {
      uint64_t v = rng();
      for (int j = 0; j < 8; ++j) u.bytes[i * 8 + j] = static_cast<uint8_t>(v >> (8 * j));
    }
    u.bytes[6] = static_cast<uint8_t>((u.bytes[6] & 0x0f) | 0x40);  // version 4
    u.bytes[8] = static_cast<uint8_t>((u.bytes[8] & 0x3f) | 0x80);  // IETF variant
    // Kafka avoids ids whose base64 form starts with '-' (they look like CLI flags) and the
    // reserved ids 0 and 1.
  } while (u.to_base64()[0] == '-' || u.is_zero());
  return u;
}

std::optional<Uuid> Uuid::from_hex(const std::string& s) {
  if (s.size() != 32) return std::nullopt;
  Uuid u;
  for (size_t i = 0; i < 16; ++i) {
    int v = 0;
    for (int k = 0; k < 2; ++k) {
      char c = s[2 * i + k];
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) return std::nullopt;
      v = v * 16 + d;
    }
    u.bytes[i] = static_cast<uint8_t>(v);
  }
  return u;
}

std::string Uuid::to_hex() const {
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (uint8_t b : bytes) {
    s += kHex[b >> 4];
    s += kHex[b & 15];
  }
  return s;
}

std::string Uuid::to_base64() const {
  static const char* kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string s;
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      s += kB64[(acc >> (bits - 6)) & 63];
      bits -= 6;
    }
  }
  if (bits > 0) s += kB64[(acc << (6 - bits)) & 63];
  return s;  // 22 chars, no padding
}

bool Uuid::is_zero() const {
  for (uint8_t b : bytes) {
    if (b) return false;
  }
  return true;
}

size_t UuidHash::operator()(const Uuid& u) const noexcept {
  uint64_t h = 1469598103934665603ull;
  for (uint8_t b : u.bytes) h = (h ^ b) * 1099511628211ull;
  return static_cast<size_t>(h);
}

}  // namespace shale::broker
