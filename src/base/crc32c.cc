#include "base/crc32c.h"

#include <isa-l/crc.h>

namespace shale {

// ISA-L's crc32_iscsi takes and returns the raw (non-inverted) register; the standard CRC-32C
// inverts on entry and exit.
uint32_t crc32c_extend(uint32_t crc, const void* p, size_t n) {
  return ~crc32_iscsi(static_cast<unsigned char*>(const_cast<void*>(p)), static_cast<int>(n),
                      ~crc);
}

uint32_t crc32c(const void* p, size_t n) { return crc32c_extend(0, p, n); }

}  // namespace shale
