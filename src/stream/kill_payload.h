// Shared by stream_kill_writer and stream_kill_test: deterministic batch bytes per offset and
// the store options of the SIGKILL test (small thresholds so uploads, WAL trims and compactions
// happen many times per run).
#pragma once

#include <vector>

#include "base/buf.h"
#include "base/endian.h"
#include "stream/stream_store_impl.h"

namespace shale::stream {

inline Buf kill_payload(int64_t offset) {
  const size_t n = 61 + static_cast<size_t>((offset * 7919) % 3000);
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(offset * 31 + static_cast<int64_t>(i));
  store_be<int64_t>(v.data(), offset);
  v[16] = 2;
  return Buf::take(std::move(v));
}

inline StoreOptions kill_store_options() {
  StoreOptions so;
  so.node = NodeId(1);
  so.log_cache_bytes = 4 << 20;
  so.upload_threshold_bytes = 256 << 10;
  so.upload_interval_ms = 50;
  so.stream_object_bytes = 1 << 20;
  so.maintenance_interval_ms = 100;
  so.compact_min_objects = 4;
  so.compact_small_object_bytes = 1 << 20;
  so.delete_grace_ms = 200;
  return so;
}

}  // namespace shale::stream
