// Distinct types for every id and offset, so that a stream id can never be passed where an
// offset is expected. StrongInt<Tag, Rep> is a thin wrapper with ordering and arithmetic only
// where it makes sense (offsets advance; ids do not).
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <limits>

#include <fmt/format.h>

namespace shale {

template <typename Tag, typename Rep>
class StrongInt {
 public:
  using rep = Rep;
  constexpr StrongInt() = default;
  constexpr explicit StrongInt(Rep v) : v_(v) {}
  constexpr Rep value() const { return v_; }
  constexpr auto operator<=>(const StrongInt&) const = default;
  static constexpr StrongInt max() { return StrongInt(std::numeric_limits<Rep>::max()); }

 private:
  Rep v_ = 0;
};

// Offsets are positions in a stream; they support advancing and distances.
template <typename Tag>
class OffsetT : public StrongInt<Tag, int64_t> {
 public:
  using StrongInt<Tag, int64_t>::StrongInt;
  constexpr OffsetT operator+(int64_t d) const { return OffsetT(this->value() + d); }
  constexpr OffsetT operator-(int64_t d) const { return OffsetT(this->value() - d); }
  constexpr int64_t operator-(OffsetT o) const { return this->value() - o.value(); }
  static constexpr OffsetT max() { return OffsetT(std::numeric_limits<int64_t>::max()); }
};

using StreamId = StrongInt<struct StreamIdTag, uint64_t>;    // one per partition/internal stream
using ObjectId = StrongInt<struct ObjectIdTag, uint64_t>;    // one per object in object storage
using NodeId = StrongInt<struct NodeIdTag, int32_t>;         // broker id
using Epoch = StrongInt<struct EpochTag, int64_t>;           // owner epoch of a stream
using PartitionId = StrongInt<struct PartitionIdTag, int32_t>;
using LeaseId = StrongInt<struct LeaseIdTag, int64_t>;       // metadata-store lease
using Revision = StrongInt<struct RevisionTag, int64_t>;     // metadata-store revision
using ProducerId = StrongInt<struct ProducerIdTag, int64_t>;
using ProducerEpoch = StrongInt<struct ProducerEpochTag, int16_t>;
using GenerationId = StrongInt<struct GenerationIdTag, int32_t>;
using Offset = OffsetT<struct OffsetTag>;                    // Kafka/stream record offset
using WalPos = OffsetT<struct WalPosTag>;                    // logical byte position in a WAL

}  // namespace shale

template <typename Tag, typename Rep>
struct std::hash<shale::StrongInt<Tag, Rep>> {
  size_t operator()(const shale::StrongInt<Tag, Rep>& v) const noexcept {
    return std::hash<Rep>()(v.value());
  }
};
template <typename Tag>
struct std::hash<shale::OffsetT<Tag>> {
  size_t operator()(const shale::OffsetT<Tag>& v) const noexcept {
    return std::hash<int64_t>()(v.value());
  }
};
template <typename Tag, typename Rep>
struct fmt::formatter<shale::StrongInt<Tag, Rep>> : fmt::formatter<Rep> {
  auto format(const shale::StrongInt<Tag, Rep>& v, fmt::format_context& ctx) const {
    return fmt::formatter<Rep>::format(v.value(), ctx);
  }
};
template <typename Tag>
struct fmt::formatter<shale::OffsetT<Tag>> : fmt::formatter<int64_t> {
  auto format(const shale::OffsetT<Tag>& v, fmt::format_context& ctx) const {
    return fmt::formatter<int64_t>::format(v.value(), ctx);
  }
};
