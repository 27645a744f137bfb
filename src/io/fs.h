// Filesystem: the seam for local disk I/O. The file WAL, the local object store and the embedded
// metadata journal do all their I/O through it, so tests can swap in an in-memory filesystem
// that simulates a power loss by dropping every byte that was not synced.
//
// Implementations: PosixFs (real disk, real fdatasync), MemFs (in memory; crash() drops unsynced
// data, see mem_fs.h), FaultyFs (wraps another Filesystem and injects errors, see faulty_fs.h).
//
// Durability contract (the POSIX one, which MemFs models exactly):
//  - bytes written to a File are durable only after File::sync() returns OK;
//  - a newly created, renamed or removed directory entry is durable only after sync_dir() of its
//    parent directory returns OK.
// Thread-safety: a Filesystem is safe to use from many threads. A File may be used from several
// threads for pread/pwrite at distinct ranges; sync() may run concurrently with writes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"

namespace shale::io {

class File {
 public:
  virtual ~File() = default;
  // Writes all n bytes at offset, or fails.
  virtual Status pwrite(uint64_t offset, const void* p, size_t n) = 0;
  // Reads up to n bytes at offset; returns the count read (short only at end of file).
  virtual Result<size_t> pread(uint64_t offset, void* p, size_t n) = 0;
  // fdatasync: makes written data (and the size, if it changed) durable.
  virtual Status sync() = 0;
  // Reserves space so later writes within [0, size) need no metadata update (fallocate).
  virtual Status allocate(uint64_t size) = 0;
  virtual Status truncate(uint64_t size) = 0;
  virtual Result<uint64_t> size() = 0;
  // Hint that this file's cached pages are not needed any more (posix_fadvise DONTNEED); only
  // pages already made durable by sync() are dropped. Added after the first version of this
  // seam; the default does nothing (MemFs, wrappers).
  virtual void drop_cache() {}
};

enum class OpenMode {
  kRead,             // existing file, read only
  kReadWrite,        // existing file
  kCreate,           // create if missing, read-write
  kCreateExclusive,  // fail with kAlreadyExists if it exists
};

class Filesystem {
 public:
  virtual ~Filesystem() = default;
  virtual Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) = 0;
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  virtual Status remove(const std::string& path) = 0;
  // Creates the directory and missing parents (mkdir -p). Not durable until sync_dir(parent).
  virtual Status mkdirs(const std::string& path) = 0;
  // Names (not paths) of the entries in a directory, sorted.
  virtual Result<std::vector<std::string>> list(const std::string& dir) = 0;
  virtual Result<bool> exists(const std::string& path) = 0;
  // fsync of a directory: makes entry creations, renames and removals in it durable.
  virtual Status sync_dir(const std::string& dir) = 0;
  // Atomic rename that fails with Errc::kAlreadyExists instead of replacing an existing `to`
  // (renameat2 RENAME_NOREPLACE). Used for conditional creates (object store if_none_match).
  // Added after the first version of this seam; the default says it is unsupported.
  virtual Status rename_noreplace(const std::string& from, const std::string& to) {
    (void)from;
    (void)to;
    return Status(Errc::kInvalidArgument, "rename_noreplace not supported by this filesystem");
  }
};

// The real disk. Singleton-free: construct one and pass it down.
std::unique_ptr<Filesystem> make_posix_fs();

}  // namespace shale::io
