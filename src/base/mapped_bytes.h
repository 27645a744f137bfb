// Large byte buffers mapped straight from the kernel, aligned to 2 MiB and advised for
// transparent huge pages (madvise(MADV_HUGEPAGE); Debian's default THP mode is "madvise").
//
// Why: a GET's body is large, written once front to back, and (in a catch-up reader's block
// cache) kept for a while, so it often lands in fresh memory. Filled page by page, every 4 KiB
// page is a fault; on our VMs a fault costs ~18 us, so a fresh 2 MiB buffer cost 9.4 ms in
// faults against 0.16 ms when one huge page backs it, and the broker's CPU per GiB of cold
// catch-up fell 35% (BENCHMARKS.md § 5p). Not for buffers freed and reused at once (produce
// frames): malloc already recycles those with their pages, and a mapping per request cost more.
//
// Layout: a mapping of `length` bytes (n rounded up to 4 KiB; a part of the last 2 MiB that is
// at least 1 MiB is rounded up to the whole 2 MiB, so it gets a huge page too). Whole 2 MiB
// chunks get huge pages when the kernel has them; the rest (and everything, if THP is off) gets
// 4 KiB pages, as malloc would. Thread-safe (mmap/munmap); throws std::bad_alloc when mmap fails.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shale {

// Below this, malloc's own arenas are cheaper than a mapping.
inline constexpr size_t kMappedMinBytes = size_t{1} << 20;
inline constexpr size_t kHugePageBytes = size_t{2} << 20;

struct MappedBytes {
  uint8_t* data = nullptr;
  size_t length = 0;  // >= the size asked for; pass back to unmap_bytes
};

// The mapping's length for n bytes (see Layout above).
size_t mapped_length(size_t n);
MappedBytes map_bytes(size_t n);
void unmap_bytes(MappedBytes m);

}  // namespace shale
