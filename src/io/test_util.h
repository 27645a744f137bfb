// Test helpers for code built on the Filesystem seam: a temporary directory on the real disk
// and short string read/write helpers. Header-only; for tests only.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "io/fs.h"

namespace shale::io {

// Creates a fresh directory under $TMPDIR (or /tmp) and removes it recursively on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/shale-test-XXXXXX";
    char* p = mkdtemp(tmpl.data());
    if (p != nullptr) path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline Status write_string(Filesystem& fs, const std::string& path, const std::string& s,
                           bool sync = false) {
  SHALE_ASSIGN_OR_RETURN(auto f, fs.open(path, OpenMode::kCreate));
  SHALE_RETURN_IF_ERROR(f->truncate(0));
  SHALE_RETURN_IF_ERROR(f->pwrite(0, s.data(), s.size()));
  if (sync) SHALE_RETURN_IF_ERROR(f->sync());
  return Status();
}

inline Result<std::string> read_string(Filesystem& fs, const std::string& path) {
  SHALE_ASSIGN_OR_RETURN(auto f, fs.open(path, OpenMode::kRead));
  SHALE_ASSIGN_OR_RETURN(uint64_t n, f->size());
  std::string s(n, '\0');
  SHALE_ASSIGN_OR_RETURN(size_t got, f->pread(0, s.data(), s.size()));
  s.resize(got);
  return s;
}

}  // namespace shale::io
