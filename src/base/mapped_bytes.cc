#include "base/mapped_bytes.h"

#include <sys/mman.h>

#include <cstdint>
#include <new>

namespace shale {
namespace {

constexpr size_t kPage = 4096;

size_t round_up(size_t n, size_t to) {
  return (n + to - 1) / to * to;
}

}  // namespace

size_t mapped_length(size_t n) {
  size_t len = round_up(n == 0 ? 1 : n, kPage);
  const size_t tail = len % kHugePageBytes;
  if (tail >= kHugePageBytes / 2) len = round_up(len, kHugePageBytes);
  return len;
}

MappedBytes map_bytes(size_t n) {
  const size_t len = mapped_length(n);
  // Over-map by 2 MiB less a page, then cut the unaligned head and the spare tail, so the
  // buffer starts on a 2 MiB boundary (huge pages only back whole aligned 2 MiB chunks).
  const size_t span = len + kHugePageBytes - kPage;
  void* p = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  auto* base = static_cast<uint8_t*>(p);
  const auto addr = reinterpret_cast<uintptr_t>(base);
  auto* start = reinterpret_cast<uint8_t*>(round_up(addr, kHugePageBytes));
  if (start > base) ::munmap(base, static_cast<size_t>(start - base));
  uint8_t* end = start + len;
  if (end < base + span) ::munmap(end, static_cast<size_t>(base + span - end));
  // Advice only: without THP (or without a free huge page) the kernel uses 4 KiB pages.
  (void)::madvise(start, len, MADV_HUGEPAGE);
  return MappedBytes{start, len};
}

void unmap_bytes(MappedBytes m) {
  if (m.data) ::munmap(m.data, m.length);
}

}  // namespace shale
