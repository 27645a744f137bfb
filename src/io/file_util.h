// Whole-file helpers on top of the Filesystem seam.
//
// write_file_atomic() is the standard durable-replace dance: write `path`.tmp, sync it, rename
// over `path`, sync_dir(parent). When it returns OK the new content is durable under `path`;
// after a crash at any point `path` holds either the old or the new content, never a mix.
#pragma once

#include <string>

#include "base/buf.h"
#include "base/result.h"
#include "io/fs.h"

namespace shale::io {

// mkdirs(path), then sync_dir() of path and of each ancestor, so that the directory chain
// itself survives a crash (a new directory's entry lives in its parent).
Status mkdirs_durable(Filesystem& fs, const std::string& path);
// Reads the whole file.
Result<Buf> read_file(Filesystem& fs, const std::string& path);
// Writes data to path durably and atomically (see above).
Status write_file_atomic(Filesystem& fs, const std::string& path, const void* p, size_t n);
inline Status write_file_atomic(Filesystem& fs, const std::string& path, const Buf& b) {
  return write_file_atomic(fs, path, b.data(), b.size());
}

}  // namespace shale::io
