// Buf: an immutable, reference-counted byte slice. Copying a Buf copies a pointer, never the
// bytes; slices share the storage of their parent. This is how record data travels from a
// produce request through the WAL and the log cache to a fetch response without copies.
//
// Thread-safety: a Buf may be read from any thread. mutable_data() is only for the creator of
// the storage, before the Buf is shared with anyone else (e.g. to patch a batch's base offset).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace shale {

class Buf {
 public:
  Buf() = default;

  static Buf copy(const void* p, size_t n) {
    auto v = std::make_shared<std::vector<uint8_t>>(static_cast<const uint8_t*>(p),
                                                    static_cast<const uint8_t*>(p) + n);
    return Buf(std::move(v));
  }
  static Buf copy(std::string_view s) { return copy(s.data(), s.size()); }
  static Buf take(std::vector<uint8_t>&& v) {
    return Buf(std::make_shared<std::vector<uint8_t>>(std::move(v)));
  }
  // Adopts storage that `owner` keeps alive, e.g. a receive buffer whose deleter recycles it
  // (s3::RecvBufferPool). `storage_bytes` is what the storage holds (for memory accounting).
  static Buf adopt(std::shared_ptr<const void> owner, const uint8_t* data, size_t n,
                   size_t storage_bytes) {
    Buf b;
    b.data_ = data;
    b.size_ = n;
    b.storage_bytes_ = storage_bytes;
    b.storage_ = std::move(owner);
    return b;
  }
  static Buf zeros(size_t n) { return take(std::vector<uint8_t>(n)); }
  // n bytes that are NOT initialised: the creator must fill all of them (mutable_data()) before
  // anyone reads the Buf. For receive buffers, where zero-filling cost as much as the recv.
  // (Always from the heap: for produce frames and WAL objects, malloc recycles freed chunks
  // with their pages, and a fresh huge-page mapping per request cost more CPU, BENCHMARKS.md
  // § 5p; the S3 receive path maps its pooled buffers, s3/recv_pool.h.)
  static Buf uninitialized(size_t n) {
    std::shared_ptr<uint8_t[]> p = std::make_shared_for_overwrite<uint8_t[]>(n);
    const uint8_t* data = p.get();
    return adopt(std::move(p), data, n, n);
  }

  const uint8_t* data() const { return data_; }
  uint8_t* mutable_data() { return const_cast<uint8_t*>(data_); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<const uint8_t> span() const { return {data_, size_}; }
  std::string_view view() const { return {reinterpret_cast<const char*>(data_), size_}; }
  uint8_t operator[](size_t i) const { return data_[i]; }

  // A sub-slice sharing this Buf's storage. Requires off + n <= size().
  Buf slice(size_t off, size_t n) const {
    Buf b = *this;
    b.data_ += off;
    b.size_ = n;
    return b;
  }
  Buf slice(size_t off) const { return slice(off, size_ - off); }

  // Bytes of the whole storage this slice keeps alive (for memory accounting).
  size_t storage_size() const { return storage_bytes_; }

  bool operator==(const Buf& o) const {
    return size_ == o.size_ && (size_ == 0 || std::memcmp(data_, o.data_, size_) == 0);
  }

 private:
  explicit Buf(std::shared_ptr<std::vector<uint8_t>> v)
      : data_(v->data()), size_(v->size()), storage_bytes_(v->size()), storage_(std::move(v)) {}

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t storage_bytes_ = 0;             // bytes of the whole storage (slices share it)
  std::shared_ptr<const void> storage_;  // whatever owns the bytes; keeps data_ alive
};

}  // namespace shale
