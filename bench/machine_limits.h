// This machine's physical limits, measured in the same run as the workloads:
//   - fdatasync latency of 4 KiB overwrites on a preallocated file in the data directory,
//   - sequential write bandwidth there (1 MiB writes, fdatasync every 64 MiB and at the end),
//   - loopback TCP bandwidth (one sender and one receiver thread over 127.0.0.1).
//
// Stateless functions; each creates and removes its own files/sockets. Not for concurrent use
// with a running workload (they would disturb each other's numbers).
#pragma once

#include <string>

#include "base/result.h"
#include "hdr_histogram.h"

namespace shale::bench {

struct Limits {
  HdrHistogram fdatasync_ns;  // one sample per 4 KiB write + fdatasync
  double seq_write_mb_s = 0;  // MB = 10^6 bytes
  double seq_write_bytes = 0;
  double loopback_mb_s = 0;
  std::string filesystem;  // e.g. "ext4 on /dev/vda"
};

Result<HdrHistogram> measure_fdatasync(const std::string& dir, double seconds);
// Writes until `max_bytes` or `seconds`, whichever comes first. Returns MB/s.
Result<double> measure_seq_write(const std::string& dir, double seconds, int64_t max_bytes,
                                 double* bytes_written = nullptr);
Result<double> measure_loopback_tcp(double seconds);
// Filesystem type and device holding `dir` (from /proc/self/mounts), for the report.
std::string describe_filesystem(const std::string& dir);

// All three; `scale` shrinks the durations (smoke runs use ~0.2).
Result<Limits> measure_limits(const std::string& dir, double scale);

}  // namespace shale::bench
