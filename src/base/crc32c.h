// CRC-32C (Castagnoli), as used by Kafka record batches and by Shale's own formats.
// Backed by ISA-L's crc32_iscsi (AVX-512/VPCLMULQDQ where available, ~65 GB/s here).
#pragma once

#include <cstddef>
#include <cstdint>

namespace shale {

// CRC-32C of [p, p+n). crc32c("123456789") == 0xE3069283.
uint32_t crc32c(const void* p, size_t n);
// Continue a CRC over more data: crc32c_extend(crc32c(a), b) == crc32c(a ++ b).
uint32_t crc32c_extend(uint32_t crc, const void* p, size_t n);

}  // namespace shale
