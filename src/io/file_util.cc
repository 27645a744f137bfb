#include "io/file_util.h"

#include <algorithm>
#include <vector>

#include "io/path.h"

namespace shale::io {

std::string parent_dir(const std::string& path) {
  size_t end = path.size();
  while (end > 1 && path[end - 1] == '/') --end;
  size_t slash = path.rfind('/', end - (end > 0 ? 1 : 0));
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  size_t e = slash;
  while (e > 1 && path[e - 1] == '/') --e;
  return path.substr(0, e);
}

std::string base_name(const std::string& path) {
  size_t end = path.size();
  while (end > 0 && path[end - 1] == '/') --end;
  size_t slash = path.rfind('/', end == 0 ? 0 : end - 1);
  if (slash == std::string::npos) return path.substr(0, end);
  return path.substr(slash + 1, end - slash - 1);
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

Status mkdirs_durable(Filesystem& fs, const std::string& path) {
  SHALE_RETURN_IF_ERROR(fs.mkdirs(path));
  std::string d = path;
  while (!d.empty()) {
    SHALE_RETURN_IF_ERROR(fs.sync_dir(d));
    std::string parent = parent_dir(d);
    if (parent == d) break;
    d = parent;
  }
  return Status();
}

Result<Buf> read_file(Filesystem& fs, const std::string& path) {
  SHALE_ASSIGN_OR_RETURN(auto f, fs.open(path, OpenMode::kRead));
  SHALE_ASSIGN_OR_RETURN(uint64_t size, f->size());
  std::vector<uint8_t> v(size);
  SHALE_ASSIGN_OR_RETURN(size_t n, f->pread(0, v.data(), v.size()));
  v.resize(n);
  return Buf::take(std::move(v));
}

Status write_file_atomic(Filesystem& fs, const std::string& path, const void* p, size_t n) {
  const std::string tmp = path + ".tmp";
  {
    SHALE_ASSIGN_OR_RETURN(auto f, fs.open(tmp, OpenMode::kCreate));
    SHALE_RETURN_IF_ERROR(f->truncate(0));
    SHALE_RETURN_IF_ERROR(f->pwrite(0, p, n));
    SHALE_RETURN_IF_ERROR(f->sync());
  }
  SHALE_RETURN_IF_ERROR(fs.rename(tmp, path));
  return fs.sync_dir(parent_dir(path));
}

Status File::write_zeros(uint64_t offset, uint64_t n) {
  std::vector<uint8_t> zeros(std::min<uint64_t>(n, 1 << 20));
  for (uint64_t o = 0; o < n; o += zeros.size()) {
    SHALE_RETURN_IF_ERROR(
        pwrite(offset + o, zeros.data(), std::min<uint64_t>(zeros.size(), n - o)));
  }
  return Status();
}

}  // namespace shale::io
