// Uuid: Kafka's 128-bit topic id. Zero is "no id" (Kafka's Uuid.ZERO_UUID).
// Text form: 32 lowercase hex digits (storage); to_base64() gives Kafka's display form.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace shale::broker {

struct Uuid {
  std::array<uint8_t, 16> bytes{};

  static Uuid random();
  static std::optional<Uuid> from_hex(const std::string& s);
  std::string to_hex() const;
  std::string to_base64() const;  // URL-safe, no padding, as Kafka prints topic ids
  bool is_zero() const;
  bool operator==(const Uuid&) const = default;
  auto operator<=>(const Uuid&) const = default;
};

struct UuidHash {
  size_t operator()(const Uuid& u) const noexcept;
};

}  // namespace shale::broker
