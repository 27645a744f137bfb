// MemFs: an in-memory Filesystem that models POSIX durability exactly, so tests can simulate a
// power loss with crash().
//
// Model:
//  - Every file (inode) has a durable image and a current image. Writes, truncate and allocate
//    change the current image; File::sync() copies the current image to the durable one.
//  - The namespace (directory entries, including directories themselves) also has a current and
//    a durable version. open(kCreate*), rename, remove and mkdirs change the current namespace;
//    sync_dir(d) makes the current entries *of directory d* durable (creations, removals and
//    renames into or out of d). A rename across directories needs sync_dir of both.
//  - crash() replaces the current state by the durable state: unsynced bytes and unsynced
//    directory entries vanish, entries under a directory that itself was not durable vanish, and
//    every File handle opened before the crash fails with Errc::kIoError from then on.
//  - CrashMode decides what happens to a file's unsynced bytes (its entry must be durable):
//      kDropUnsynced (default): all lost — the file is exactly its durable image;
//      kTornTail: for a file whose current image is longer than its durable one, a random-length
//        prefix of the unsynced appended bytes survives (a torn append);
//      kTornSectors: every 512-byte sector whose current content differs from the durable one
//        independently keeps either its old or its new content, and a grown file's size lands on
//        a random sector boundary between the old and new sizes (never-written bytes read as
//        zeros) — the worst a power loss can do to a disk with 512-byte atomic sectors.
//    Synced bytes are never affected.
//
// Paths are '/'-separated; a relative path is treated as if rooted at "/". The root always
// exists. Opening a file in a missing directory fails with kNotFound, as POSIX does.
// Thread-safety: fully thread-safe (one mutex).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "io/fs.h"

namespace shale::io {

class MemFs final : public Filesystem {
 public:
  explicit MemFs(uint64_t seed = 42);
  ~MemFs() override;

  Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status rename_noreplace(const std::string& from, const std::string& to) override;
  Status remove(const std::string& path) override;
  Status mkdirs(const std::string& path) override;
  Result<std::vector<std::string>> list(const std::string& dir) override;
  Result<bool> exists(const std::string& path) override;
  Status sync_dir(const std::string& dir) override;

  // Power loss: drop everything not durable (see above). Open handles become invalid.
  void crash();
  enum class CrashMode { kDropUnsynced, kTornTail, kTornSectors };
  static constexpr size_t kSectorSize = 512;
  void set_crash_mode(CrashMode m);
  // Shorthand for set_crash_mode(on ? kTornTail : kDropUnsynced).
  void set_crash_torn_tail(bool on);

  // Introspection for tests.
  uint64_t sync_count() const;      // File::sync() calls so far
  uint64_t sync_dir_count() const;  // sync_dir() calls so far

  struct Node;   // an inode (public so the File implementation can name it)
  struct State;  // shared with open File handles

 private:
  std::shared_ptr<State> st_;
};

}  // namespace shale::io
