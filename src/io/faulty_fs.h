// FaultyFs: wraps another Filesystem and injects failures, for testing error paths (failed or
// short writes, failed fsyncs, failed renames, ...).
//
// A fault rule names the operation kinds it applies to (a bit mask of FsOp), an optional path
// substring filter, and when it fires: on the Nth matching operation (counted from when the rule
// was added; optionally every matching one after it too) and/or with a probability per matching
// operation drawn from a seeded RNG, so a failing run replays exactly with the same seed.
// A firing rule makes the operation return `code` without calling the wrapped filesystem, except
// for pwrite with short_write=true, which first writes a random strict prefix of the bytes (what
// a crash or ENOSPC in the middle of a write leaves behind) and then fails.
//
// Ownership: does not own the wrapped filesystem, which must outlive it and its Files.
// Thread-safety: fully thread-safe; rules may be added and cleared while I/O runs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "io/fault_rules.h"
#include "io/fs.h"

namespace shale::io {

enum class FsOp : uint32_t {
  kOpen = 1u << 0,
  kPwrite = 1u << 1,
  kPread = 1u << 2,
  kSync = 1u << 3,
  kAllocate = 1u << 4,
  kTruncate = 1u << 5,
  kSize = 1u << 6,
  kRename = 1u << 7,  // rename and rename_noreplace
  kRemove = 1u << 8,
  kMkdirs = 1u << 9,
  kList = 1u << 10,
  kExists = 1u << 11,
  kSyncDir = 1u << 12,
};
using FsOpMask = uint32_t;
constexpr FsOpMask operator|(FsOp a, FsOp b) {
  return static_cast<uint32_t>(a) | static_cast<uint32_t>(b);
}
constexpr FsOpMask operator|(FsOpMask a, FsOp b) {
  return a | static_cast<uint32_t>(b);
}
constexpr int kFsOpKinds = 13;
constexpr FsOpMask kAllFsOps = (1u << kFsOpKinds) - 1;
constexpr FsOpMask kFsWriteOps = FsOp::kPwrite | FsOp::kSync | FsOp::kAllocate | FsOp::kTruncate |
                                 FsOp::kRename | FsOp::kRemove | FsOp::kMkdirs | FsOp::kSyncDir;

struct FsFault {
  FsOpMask ops = 0;           // operation kinds this rule applies to
  std::string path_contains;  // only paths containing this (empty = every path)
  int64_t nth = 0;            // fire on the nth matching op (1-based); 0 = not count-based
  bool and_after = false;     // with nth: also fire on every matching op after the nth
  double probability = 0.0;   // fire on each matching op with this probability
  Errc code = Errc::kIoError;
  bool short_write = false;  // pwrite: write a random strict prefix before failing
};

class FaultyFs final : public Filesystem {
 public:
  explicit FaultyFs(Filesystem& base, uint64_t seed = 1);
  ~FaultyFs() override;

  // Adds a rule; returns its id for remove_fault().
  int add_fault(FsFault f);
  void remove_fault(int id);
  void clear_faults();
  // Number of operations failed by injection so far.
  uint64_t injected() const;
  // Number of operations of this kind seen so far (failed or not).
  uint64_t op_count(FsOp op) const;

  Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status rename_noreplace(const std::string& from, const std::string& to) override;
  Status remove(const std::string& path) override;
  Status mkdirs(const std::string& path) override;
  Result<std::vector<std::string>> list(const std::string& dir) override;
  Result<bool> exists(const std::string& path) override;
  Status sync_dir(const std::string& dir) override;

  struct Injector;  // shared with open Files

 private:
  Filesystem& base_;
  std::shared_ptr<Injector> inj_;
};

}  // namespace shale::io
