// PosixFs: the Filesystem seam on the real disk. See fs.h for the contract.
//
// Every descriptor is opened with O_CLOEXEC. pwrite/pread loop over short transfers and EINTR;
// File::sync() is fdatasync(); sync_dir() opens the directory O_RDONLY|O_DIRECTORY and fsyncs it.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "io/fs.h"
#include "io/path.h"

namespace shale::io {
namespace {

Status errno_status(int err, const std::string& what) {
  Errc c = Errc::kIoError;
  if (err == ENOENT || err == ENOTDIR) c = Errc::kNotFound;
  if (err == EEXIST) c = Errc::kAlreadyExists;
  if (err == ENOSPC || err == EDQUOT) c = Errc::kResourceExhausted;
  return Status(c, fmt::format("{}: {}", what, std::strerror(err)));
}

class PosixFile final : public File {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override { ::close(fd_); }

  Status pwrite(uint64_t offset, const void* p, size_t n) override {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
      ssize_t w = ::pwrite(fd_, c, n, static_cast<off_t>(offset));
      if (w < 0) {
        if (errno == EINTR) continue;
        return errno_status(errno, fmt::format("pwrite {} at {}", path_, offset));
      }
      c += w;
      n -= static_cast<size_t>(w);
      offset += static_cast<uint64_t>(w);
    }
    return Status();
  }

  Result<size_t> pread(uint64_t offset, void* p, size_t n) override {
    char* c = static_cast<char*>(p);
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, c + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return errno_status(errno, fmt::format("pread {} at {}", path_, offset + done));
      }
      if (r == 0) break;  // end of file
      done += static_cast<size_t>(r);
    }
    return done;
  }

  Status sync() override {
    while (::fdatasync(fd_) != 0) {
      if (errno != EINTR) return errno_status(errno, fmt::format("fdatasync {}", path_));
    }
    return Status();
  }

  Status allocate(uint64_t size) override {
    int rc;
    do {
      rc = ::fallocate(fd_, 0, 0, static_cast<off_t>(size));
    } while (rc != 0 && errno == EINTR);
    if (rc == 0) return Status();
    if (errno != EOPNOTSUPP) return errno_status(errno, fmt::format("fallocate {}", path_));
    // Filesystems without fallocate: extend the size at least, so the contract "size covers
    // [0, size)" holds.
    SHALE_ASSIGN_OR_RETURN(uint64_t cur, this->size());
    if (cur >= size) return Status();
    return truncate(size);
  }

  Status truncate(uint64_t size) override {
    while (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      if (errno != EINTR) return errno_status(errno, fmt::format("ftruncate {}", path_));
    }
    return Status();
  }

  void drop_cache() override { (void)::posix_fadvise(fd_, 0, 0, POSIX_FADV_DONTNEED); }

  Result<uint64_t> size() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return errno_status(errno, fmt::format("fstat {}", path_));
    return static_cast<uint64_t>(st.st_size);
  }

 private:
  const int fd_;
  const std::string path_;
};

class PosixFs final : public Filesystem {
 public:
  Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) override {
    int flags = O_CLOEXEC;
    switch (mode) {
      case OpenMode::kRead:
        flags |= O_RDONLY;
        break;
      case OpenMode::kReadWrite:
        flags |= O_RDWR;
        break;
      case OpenMode::kCreate:
        flags |= O_RDWR | O_CREAT;
        break;
      case OpenMode::kCreateExclusive:
        flags |= O_RDWR | O_CREAT | O_EXCL;
        break;
    }
    int fd;
    do {
      fd = ::open(path.c_str(), flags, 0644);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return errno_status(errno, fmt::format("open {}", path));
    return std::unique_ptr<File>(std::make_unique<PosixFile>(fd, path));
  }

  Status rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return errno_status(errno, fmt::format("rename {} -> {}", from, to));
    }
    return Status();
  }

  Status rename_noreplace(const std::string& from, const std::string& to) override {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
      return Status();
    }
    if (errno != EINVAL && errno != ENOSYS) {
      return errno_status(errno, fmt::format("rename_noreplace {} -> {}", from, to));
    }
    // The filesystem lacks RENAME_NOREPLACE: link() fails atomically if `to` exists.
    if (::link(from.c_str(), to.c_str()) != 0) {
      return errno_status(errno, fmt::format("link {} -> {}", from, to));
    }
    if (::unlink(from.c_str()) != 0) return errno_status(errno, fmt::format("unlink {}", from));
    return Status();
  }

  Status remove(const std::string& path) override {
    if (::remove(path.c_str()) != 0) return errno_status(errno, fmt::format("remove {}", path));
    return Status();
  }

  Status mkdirs(const std::string& path) override {
    if (path.empty()) return Status();
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) return Status();
      return Status(Errc::kAlreadyExists, fmt::format("mkdirs {}: not a directory", path));
    }
    std::string parent = parent_dir(path);
    if (parent != path) SHALE_RETURN_IF_ERROR(mkdirs(parent));
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
      return errno_status(errno, fmt::format("mkdir {}", path));
    }
    return Status();
  }

  Result<std::vector<std::string>> list(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return errno_status(errno, fmt::format("opendir {}", dir));
    std::vector<std::string> names;
    errno = 0;
    while (struct dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      names.emplace_back(e->d_name);
    }
    int err = errno;
    ::closedir(d);
    if (err != 0) return errno_status(err, fmt::format("readdir {}", dir));
    std::sort(names.begin(), names.end());
    return names;
  }

  Result<bool> exists(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) return true;
    if (errno == ENOENT || errno == ENOTDIR) return false;
    return errno_status(errno, fmt::format("stat {}", path));
  }

  Status sync_dir(const std::string& dir) override {
    const std::string d = dir.empty() ? "." : dir;
    int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno_status(errno, fmt::format("open dir {}", d));
    int rc;
    do {
      rc = ::fsync(fd);
    } while (rc != 0 && errno == EINTR);
    int err = errno;
    ::close(fd);
    if (rc != 0) return errno_status(err, fmt::format("fsync dir {}", d));
    return Status();
  }
};

}  // namespace

std::unique_ptr<Filesystem> make_posix_fs() {
  return std::make_unique<PosixFs>();
}

}  // namespace shale::io
