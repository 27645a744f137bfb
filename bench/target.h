// The broker under test. Two kinds stand behind one interface:
//   - MockTarget: librdkafka's in-process mock cluster (rdkafka_mock.h), the peer. It keeps
//     messages in memory, syncs nothing and retains only ~5 MiB per partition (librdkafka's
//     built-in mock limit), which the report states where it matters.
//   - ProcessTarget: an external `shale serve` started with a fresh --data-dir on a free port.
//
// Ownership: the caller owns the Target; stop() (or the destructor) ends the broker and, for a
// process, deletes its data directory. Thread contract: create_topic()/stop() from one thread;
// cpu_seconds() may be called from any thread.
#pragma once

#include <memory>
#include <string>

#include "base/result.h"

namespace shale::bench {

class Target {
 public:
  virtual ~Target() = default;
  virtual const char* label() const = 0;  // "shale" or "mock"
  virtual const std::string& bootstrap() const = 0;
  // Creates `name` with `partitions` partitions (replication factor 1) and waits until it can
  // be produced to.
  virtual Status create_topic(const std::string& name, int partitions) = 0;
  // CPU seconds (user + system) the broker has used so far.
  virtual double cpu_seconds() const = 0;
  // Where cpu_seconds() comes from, for the report.
  virtual std::string cpu_source() const = 0;
  // Drops the broker's files from the OS page cache (after syncing them) so a replay must read
  // the disk. No-op for the mock.
  virtual void evict_page_cache() {}
  virtual Status stop() = 0;
};

// Starts a one-broker mock cluster inside this process.
Result<std::unique_ptr<Target>> start_mock_target();

// Starts `shale_bin serve --data-dir <data_root>/<fresh> --listen 127.0.0.1:<free port>
// --http 127.0.0.1:0` and waits (up to 20 s) until the port accepts connections.
Result<std::unique_ptr<Target>> start_process_target(const std::string& shale_bin,
                                                     const std::string& data_root);

// CPU seconds (utime + stime) of a process or thread from a /proc/.../stat file; -1 on error.
double proc_stat_cpu_seconds(const std::string& stat_path);

// Monotonic clock in nanoseconds (CLOCK_MONOTONIC); every timestamp in the bench uses it.
int64_t mono_ns();

}  // namespace shale::bench
