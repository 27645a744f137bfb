#include "io/mem_fs.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "io/path.h"

namespace shale::io {

struct MemFs::Node {
  std::vector<uint8_t> cur;  // what reads see
  std::vector<uint8_t> dur;  // what survives crash()
};

struct MemFs::State {
  std::mutex mu;
  // Current and durable namespaces. Directories are kept as a set of normalized paths; "/" is
  // always present in both.
  std::map<std::string, std::shared_ptr<Node>> files;
  std::set<std::string> dirs{"/"};
  std::map<std::string, std::shared_ptr<Node>> dfiles;
  std::set<std::string> ddirs{"/"};
  MemFs::CrashMode mode = MemFs::CrashMode::kDropUnsynced;
  std::mt19937_64 rng;
  uint64_t syncs = 0;
  uint64_t dir_syncs = 0;
  uint64_t epoch = 0;  // bumped by crash(); handles from an older epoch fail
};

namespace {

using NodeP = std::shared_ptr<MemFs::Node>;

// "/a//b/./c/" -> "/a/b/c"; "" -> "/".
std::string norm(const std::string& p) {
  std::string out;
  size_t i = 0;
  while (i < p.size()) {
    while (i < p.size() && p[i] == '/') ++i;
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    if (j > i) {
      std::string comp = p.substr(i, j - i);
      if (comp != ".") out += "/" + comp;
    }
    i = j;
  }
  return out.empty() ? "/" : out;
}

std::string parent_of(const std::string& normalized) {
  std::string par = parent_dir(normalized);
  return par.empty() ? "/" : par;
}

// Visits keys of `m` whose parent directory is exactly `dir`.
template <typename Container, typename Fn>
void for_children(const Container& m, const std::string& dir, Fn fn) {
  const std::string lo = dir == "/" ? "/" : dir + "/";
  for (auto it = m.lower_bound(lo); it != m.end(); ++it) {
    const std::string& k = [&]() -> const std::string& {
      if constexpr (std::is_same_v<typename Container::value_type, std::string>) {
        return *it;
      } else {
        return it->first;
      }
    }();
    if (k.compare(0, lo.size(), lo) != 0) break;
    if (k.size() == lo.size()) continue;  // the root itself
    if (k.find('/', lo.size()) != std::string::npos) continue;
    fn(k);
  }
}

bool has_children(const MemFs::State& s, const std::string& dir) {
  bool any = false;
  for_children(s.files, dir, [&](const std::string&) { any = true; });
  for_children(s.dirs, dir, [&](const std::string&) { any = true; });
  return any;
}

// What a power loss leaves of one file, per MemFs::CrashMode.
std::vector<uint8_t> survivor(const MemFs::Node& node, MemFs::CrashMode mode, std::mt19937_64& rng);

Status dead_status() {
  return Status(Errc::kIoError, "file handle invalidated by crash");
}

class MemFile final : public File {
 public:
  MemFile(std::shared_ptr<MemFs::State> st, NodeP node, bool writable, std::string path)
      : st_(std::move(st)),
        node_(std::move(node)),
        writable_(writable),
        path_(std::move(path)),
        epoch_(st_->epoch) {}

  Status pwrite(uint64_t offset, const void* p, size_t n) override {
    std::lock_guard<std::mutex> l(st_->mu);
    if (st_->epoch != epoch_) return dead_status();
    if (!writable_) return Status(Errc::kIoError, "pwrite on read-only file " + path_);
    if (node_->cur.size() < offset + n) node_->cur.resize(offset + n);
    if (n > 0) std::memcpy(node_->cur.data() + offset, p, n);
    return Status();
  }
  Result<size_t> pread(uint64_t offset, void* p, size_t n) override {
    std::lock_guard<std::mutex> l(st_->mu);
    if (st_->epoch != epoch_) return dead_status();
    if (offset >= node_->cur.size()) return size_t{0};
    size_t k = std::min<uint64_t>(n, node_->cur.size() - offset);
    if (k > 0) std::memcpy(p, node_->cur.data() + offset, k);
    return k;
  }
  Status sync() override {
    std::lock_guard<std::mutex> l(st_->mu);
    if (st_->epoch != epoch_) return dead_status();
    node_->dur = node_->cur;
    ++st_->syncs;
    return Status();
  }
  Status allocate(uint64_t size) override {
    std::lock_guard<std::mutex> l(st_->mu);
    if (st_->epoch != epoch_) return dead_status();
    if (!writable_) return Status(Errc::kIoError, "allocate on read-only file " + path_);
    if (node_->cur.size() < size) node_->cur.resize(size);
    return Status();
  }
  Status truncate(uint64_t size) override {
    std::lock_guard<std::mutex> l(st_->mu);
    if (st_->epoch != epoch_) return dead_status();
    if (!writable_) return Status(Errc::kIoError, "truncate on read-only file " + path_);
    node_->cur.resize(size);
    return Status();
  }
  Result<uint64_t> size() override {
    std::lock_guard<std::mutex> l(st_->mu);
    if (st_->epoch != epoch_) return dead_status();
    return static_cast<uint64_t>(node_->cur.size());
  }

 private:
  const std::shared_ptr<MemFs::State> st_;
  const NodeP node_;
  const bool writable_;
  const std::string path_;
  const uint64_t epoch_;
};

}  // namespace

namespace {

std::vector<uint8_t> survivor(const MemFs::Node& node, MemFs::CrashMode mode,
                              std::mt19937_64& rng) {
  const std::vector<uint8_t>& cur = node.cur;
  std::vector<uint8_t> out = node.dur;
  switch (mode) {
    case MemFs::CrashMode::kDropUnsynced:
      break;
    case MemFs::CrashMode::kTornTail:
      if (cur.size() > out.size()) {
        const size_t extra = cur.size() - out.size();
        const size_t keep = static_cast<size_t>(rng() % (extra + 1));
        out.insert(out.end(), cur.begin() + out.size(), cur.begin() + out.size() + keep);
      }
      break;
    case MemFs::CrashMode::kTornSectors: {
      constexpr size_t kS = MemFs::kSectorSize;
      size_t size = out.size();
      if (cur.size() > size) {
        // A sector boundary in (old size, new size], or the new size itself.
        const size_t first = (size / kS + 1) * kS;
        std::vector<size_t> choices{size};
        for (size_t b = first; b < cur.size(); b += kS) choices.push_back(b);
        choices.push_back(cur.size());
        size = choices[rng() % choices.size()];
      } else if (cur.size() < size && rng() % 2) {
        size = cur.size();  // the unsynced truncate reached the disk
      }
      out.resize(size);
      for (size_t off = 0; off < size; off += kS) {
        const size_t end = std::min(size, off + kS);
        if (off >= cur.size()) break;  // beyond the current image: old bytes or zeros stay
        const size_t cend = std::min(end, cur.size());
        const bool differs =
            cend > node.dur.size() || end > node.dur.size() ||
            !std::equal(cur.begin() + off, cur.begin() + cend, node.dur.begin() + off);
        if (differs && rng() % 2)
          std::copy(cur.begin() + off, cur.begin() + cend, out.begin() + off);
      }
      break;
    }
  }
  return out;
}

}  // namespace

MemFs::MemFs(uint64_t seed) : st_(std::make_shared<State>()) {
  st_->rng.seed(seed);
}
MemFs::~MemFs() = default;

Result<std::unique_ptr<File>> MemFs::open(const std::string& path, OpenMode mode) {
  const std::string p = norm(path);
  std::lock_guard<std::mutex> l(st_->mu);
  State& s = *st_;
  if (s.dirs.count(p)) return Status(Errc::kInvalidArgument, "open: is a directory: " + p);
  auto it = s.files.find(p);
  NodeP node;
  if (it != s.files.end()) {
    if (mode == OpenMode::kCreateExclusive) return Status(Errc::kAlreadyExists, "open: " + p);
    node = it->second;
  } else {
    if (mode == OpenMode::kRead || mode == OpenMode::kReadWrite) {
      return Status(Errc::kNotFound, "open: no such file: " + p);
    }
    if (!s.dirs.count(parent_of(p))) {
      return Status(Errc::kNotFound, "open: no such directory: " + parent_of(p));
    }
    node = std::make_shared<Node>();
    s.files[p] = node;
  }
  return std::unique_ptr<File>(
      std::make_unique<MemFile>(st_, std::move(node), mode != OpenMode::kRead, p));
}

static Status do_rename(MemFs::State& s, const std::string& from, const std::string& to,
                        bool noreplace) {
  auto it = s.files.find(from);
  if (it == s.files.end()) {
    if (s.dirs.count(from)) return Status(Errc::kInvalidArgument, "MemFs renames files only");
    return Status(Errc::kNotFound, "rename: no such file: " + from);
  }
  if (s.dirs.count(to)) return Status(Errc::kIoError, "rename: target is a directory: " + to);
  if (!s.dirs.count(parent_of(to))) return Status(Errc::kNotFound, "rename: no dir for " + to);
  if (noreplace && s.files.count(to)) return Status(Errc::kAlreadyExists, "rename: " + to);
  if (from == to) return Status();
  NodeP node = it->second;
  s.files.erase(it);
  s.files[to] = std::move(node);
  return Status();
}

Status MemFs::rename(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> l(st_->mu);
  return do_rename(*st_, norm(from), norm(to), false);
}

Status MemFs::rename_noreplace(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> l(st_->mu);
  return do_rename(*st_, norm(from), norm(to), true);
}

Status MemFs::remove(const std::string& path) {
  const std::string p = norm(path);
  std::lock_guard<std::mutex> l(st_->mu);
  State& s = *st_;
  if (s.files.erase(p)) return Status();
  if (s.dirs.count(p)) {
    if (p == "/") return Status(Errc::kInvalidArgument, "remove: root");
    if (has_children(s, p)) return Status(Errc::kIoError, "remove: directory not empty: " + p);
    s.dirs.erase(p);
    return Status();
  }
  return Status(Errc::kNotFound, "remove: no such file: " + p);
}

Status MemFs::mkdirs(const std::string& path) {
  const std::string p = norm(path);
  std::lock_guard<std::mutex> l(st_->mu);
  State& s = *st_;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = p.find('/', pos + 1);
    std::string prefix = p.substr(0, pos);
    if (s.files.count(prefix)) return Status(Errc::kAlreadyExists, "mkdirs: is a file: " + prefix);
    s.dirs.insert(prefix);
  }
  return Status();
}

Result<std::vector<std::string>> MemFs::list(const std::string& dir) {
  const std::string d = norm(dir);
  std::lock_guard<std::mutex> l(st_->mu);
  State& s = *st_;
  if (!s.dirs.count(d)) return Status(Errc::kNotFound, "list: no such directory: " + d);
  std::vector<std::string> names;
  auto add = [&](const std::string& k) { names.push_back(base_name(k)); };
  for_children(s.files, d, add);
  for_children(s.dirs, d, add);
  std::sort(names.begin(), names.end());
  return names;
}

Result<bool> MemFs::exists(const std::string& path) {
  const std::string p = norm(path);
  std::lock_guard<std::mutex> l(st_->mu);
  return st_->files.count(p) > 0 || st_->dirs.count(p) > 0;
}

Status MemFs::sync_dir(const std::string& dir) {
  const std::string d = norm(dir);
  std::lock_guard<std::mutex> l(st_->mu);
  State& s = *st_;
  if (!s.dirs.count(d)) return Status(Errc::kNotFound, "sync_dir: no such directory: " + d);
  std::vector<std::string> gone;
  for_children(s.dfiles, d, [&](const std::string& k) { gone.push_back(k); });
  for (const auto& k : gone) s.dfiles.erase(k);
  for_children(s.files, d, [&](const std::string& k) { s.dfiles[k] = s.files[k]; });
  gone.clear();
  for_children(s.ddirs, d, [&](const std::string& k) { gone.push_back(k); });
  for (const auto& k : gone) s.ddirs.erase(k);
  for_children(s.dirs, d, [&](const std::string& k) { s.ddirs.insert(k); });
  ++s.dir_syncs;
  return Status();
}

void MemFs::crash() {
  std::lock_guard<std::mutex> l(st_->mu);
  State& s = *st_;
  // A durable entry survives only if every ancestor directory's entry is durable too. The set
  // is ordered so parents come before children.
  std::set<std::string> dirs{"/"};
  for (const auto& d : s.ddirs) {
    if (d != "/" && dirs.count(parent_of(d))) dirs.insert(d);
  }
  std::unordered_map<Node*, NodeP> fresh;  // old inode -> its post-crash inode (keeps links)
  std::map<std::string, NodeP> files;
  for (const auto& [path, node] : s.dfiles) {
    if (!dirs.count(parent_of(path))) continue;
    NodeP& n = fresh[node.get()];
    if (!n) {
      n = std::make_shared<Node>();
      n->dur = survivor(*node, s.mode, s.rng);
      n->cur = n->dur;
    }
    files[path] = n;
  }
  ++s.epoch;
  s.files = files;
  s.dfiles = std::move(files);
  s.dirs = dirs;
  s.ddirs = std::move(dirs);
}

void MemFs::set_crash_mode(CrashMode m) {
  std::lock_guard<std::mutex> l(st_->mu);
  st_->mode = m;
}

void MemFs::set_crash_torn_tail(bool on) {
  set_crash_mode(on ? CrashMode::kTornTail : CrashMode::kDropUnsynced);
}

uint64_t MemFs::sync_count() const {
  std::lock_guard<std::mutex> l(st_->mu);
  return st_->syncs;
}

uint64_t MemFs::sync_dir_count() const {
  std::lock_guard<std::mutex> l(st_->mu);
  return st_->dir_syncs;
}

}  // namespace shale::io
