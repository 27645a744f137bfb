#include "objstore/local_object_store.h"

#include <algorithm>
#include <random>

#include "base/log.h"
#include "io/file_util.h"
#include "io/path.h"
#include "objstore/store_util.h"

namespace shale::objstore {
namespace {

constexpr int kMaxPartNumber = 10000;   // S3's limit
constexpr size_t kCopyChunk = 4 << 20;  // complete_multipart copies parts in 4 MiB chunks

std::string random_hex(int bytes) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string s;
  for (int i = 0; i < bytes; ++i) s += fmt::format("{:02x}", static_cast<unsigned>(rng() & 0xff));
  return s;
}

std::string part_name(int n) {
  return fmt::format("part-{:05d}", n);
}

bool valid_upload_id(const std::string& id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-';
  });
}

}  // namespace

LocalObjectStore::LocalObjectStore(io::Filesystem& fs, std::string root)
    : fs_(fs),
      root_(std::move(root)),
      objects_dir_(io::join_path(root_, "objects")),
      tmp_dir_(io::join_path(root_, "tmp")),
      multipart_dir_(io::join_path(root_, "multipart")),
      instance_(random_hex(8)) {}

Result<std::unique_ptr<LocalObjectStore>> LocalObjectStore::open(io::Filesystem& fs,
                                                                 std::string root) {
  if (root.empty()) return Status(Errc::kInvalidArgument, "LocalObjectStore: empty root");
  std::unique_ptr<LocalObjectStore> s(new LocalObjectStore(fs, std::move(root)));
  for (const auto& d : {s->objects_dir_, s->tmp_dir_, s->multipart_dir_}) {
    SHALE_RETURN_IF_ERROR(fs.mkdirs(d));
  }
  // Make the layout durable all the way up: each new directory's entry lives in its parent.
  SHALE_RETURN_IF_ERROR(io::mkdirs_durable(fs, s->root_));
  SHALE_RETURN_IF_ERROR(s->migrate_flat_layout());
  return s;
}

Status LocalObjectStore::migrate_flat_layout() {
  SHALE_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_.list(objects_dir_));
  size_t moved = 0;
  for (const auto& name : names) {
    // A flat name of a key with a '/' has an escaped '/' inside; a tree directory ends in one.
    if (name.find(kDirSuffix) == std::string::npos || name.ends_with(kDirSuffix)) continue;
    auto key = unescape_key(name);
    if (!key) continue;
    SHALE_ASSIGN_OR_RETURN(std::string path, object_path(*key));
    SHALE_RETURN_IF_ERROR(ensure_parent(path));
    const std::string old_path = io::join_path(objects_dir_, name);
    Status st = fs_.rename_noreplace(old_path, path);
    if (st.code() == Errc::kAlreadyExists) st = fs_.remove(old_path);  // the tree copy is newer
    SHALE_RETURN_IF_ERROR(st);
    SHALE_RETURN_IF_ERROR(fs_.sync_dir(io::parent_dir(path)));
    ++moved;
  }
  if (moved == 0) return Status();
  SHALE_LOG_INFO("objstore", "{}: moved {} objects from the flat layout into the tree", root_,
                 moved);
  return fs_.sync_dir(objects_dir_);
}

Result<std::string> LocalObjectStore::object_path(const std::string& key) const {
  SHALE_ASSIGN_OR_RETURN(std::string rel, local_object_path(key));
  return io::join_path(objects_dir_, rel);
}

Status LocalObjectStore::ensure_parent(const std::string& path) {
  const std::string dir = io::parent_dir(path);
  if (dir == objects_dir_) return Status();
  {
    std::lock_guard<std::mutex> l(dirs_mu_);
    if (durable_dirs_.count(dir)) return Status();
  }
  SHALE_RETURN_IF_ERROR(fs_.mkdirs(dir));
  // Each directory's entry lives in its parent: sync the parents up to objects/.
  for (std::string d = dir; d != objects_dir_;) {
    const std::string parent = io::parent_dir(d);
    SHALE_RETURN_IF_ERROR(fs_.sync_dir(parent));
    d = parent;
  }
  std::lock_guard<std::mutex> l(dirs_mu_);
  for (std::string d = dir; d != objects_dir_; d = io::parent_dir(d)) durable_dirs_.insert(d);
  return Status();
}

std::string LocalObjectStore::new_temp_path() {
  return io::join_path(tmp_dir_, fmt::format("{}-{}.tmp", instance_, seq_.fetch_add(1)));
}

Status LocalObjectStore::publish(const std::string& tmp, const std::string& final_path,
                                 bool noreplace) {
  Status s = noreplace ? fs_.rename_noreplace(tmp, final_path) : fs_.rename(tmp, final_path);
  if (!s.ok()) {
    (void)fs_.remove(tmp);
    if (s.code() == Errc::kAlreadyExists) {
      return Status(Errc::kAlreadyExists, "object exists: " + io::base_name(final_path));
    }
    return s;
  }
  return fs_.sync_dir(io::parent_dir(final_path));
}

Status LocalObjectStore::put(const std::string& key, const std::vector<Buf>& parts,
                             const PutOptions& opts) {
  SHALE_ASSIGN_OR_RETURN(std::string path, object_path(key));
  SHALE_RETURN_IF_ERROR(ensure_parent(path));
  const std::string tmp = new_temp_path();
  Status st = [&]() -> Status {
    SHALE_ASSIGN_OR_RETURN(auto f, fs_.open(tmp, io::OpenMode::kCreateExclusive));
    uint64_t off = 0;
    for (const Buf& b : parts) {
      SHALE_RETURN_IF_ERROR(f->pwrite(off, b.data(), b.size()));
      off += b.size();
    }
    SHALE_RETURN_IF_ERROR(f->sync());
    // Durable now: let the kernel reuse these pages at once. Keeping every uploaded byte in the
    // page cache grows it by the ingest rate, and on the VM this was measured on, pages the
    // page cache newly takes cost ~2 CPU s per GB to first touch (bench/README.md, BENCHMARKS.md);
    // catch-up reads go through the store's block cache.
    f->drop_cache();
    return Status();
  }();
  if (!st.ok()) {
    (void)fs_.remove(tmp);
    return st;
  }
  return publish(tmp, path, opts.if_none_match);
}

Result<LocalObjectStore::OpenObject> LocalObjectStore::open_object(const std::string& key) {
  SHALE_ASSIGN_OR_RETURN(std::string path, object_path(key));
  auto f = fs_.open(path, io::OpenMode::kRead);
  if (!f.ok()) {
    if (f.code() == Errc::kNotFound) return Status(Errc::kNotFound, "no such object: " + key);
    return f.status();
  }
  SHALE_ASSIGN_OR_RETURN(uint64_t size, (*f)->size());
  return OpenObject{std::move(*f), size};
}

Result<GetResult> LocalObjectStore::get(const std::string& key, const ByteRange& range) {
  SHALE_ASSIGN_OR_RETURN(OpenObject o, open_object(key));
  auto& f = o.file;
  const uint64_t size = o.size;
  SHALE_ASSIGN_OR_RETURN(ResolvedRange r, resolve_range(range, size));
  // Not zero-filled: pread overwrites it, and a short read is an error.
  Buf v = Buf::uninitialized(r.length);
  SHALE_ASSIGN_OR_RETURN(size_t n, f->pread(r.offset, v.mutable_data(), v.size()));
  if (n != r.length) {
    return Status(Errc::kIoError, fmt::format("short read of {}: {} of {} bytes at {}", key, n,
                                              r.length, r.offset));
  }
  return GetResult{std::move(v), size};
}

Result<ObjectInfo> LocalObjectStore::head(const std::string& key) {
  SHALE_ASSIGN_OR_RETURN(OpenObject o, open_object(key));
  return ObjectInfo{key, o.size, ""};
}

struct LocalObjectStore::ListQuery {
  const std::string& prefix;
  const std::string& token;
  size_t max_keys;
  ListPage page;
  bool done = false;
};

Result<ListPage> LocalObjectStore::list(const std::string& prefix, const std::string& start_token,
                                        size_t max_keys) {
  // Start in the directory of the prefix's complete components: nothing outside it can match.
  std::string dir = objects_dir_, key_prefix;
  for (size_t start = 0, slash; (slash = prefix.find('/', start)) != std::string::npos;
       start = slash + 1) {
    const std::string comp = prefix.substr(start, slash - start);
    dir = io::join_path(
        dir, (comp.empty() ? std::string() : escape_key(comp)) + std::string(kDirSuffix));
    key_prefix = prefix.substr(0, slash + 1);
  }
  ListQuery q{prefix, start_token, max_keys, {}};
  SHALE_RETURN_IF_ERROR(walk(dir, key_prefix, q));
  return std::move(q.page);
}

Status LocalObjectStore::walk(const std::string& dir, const std::string& key_prefix, ListQuery& q) {
  auto names = fs_.list(dir);
  if (!names.ok()) return names.code() == Errc::kNotFound ? Status() : names.status();
  struct Entry {
    std::string key;  // for a directory: the prefix its keys share, ending in '/'
    std::string name;
    bool is_dir;
  };
  std::vector<Entry> entries;
  for (auto& name : *names) {
    const bool is_dir = name.ends_with(kDirSuffix);
    const std::string comp = is_dir ? name.substr(0, name.size() - kDirSuffix.size()) : name;
    std::string key = key_prefix;
    if (is_dir ? !comp.empty() : comp != kEmptyLeaf) {
      auto c = unescape_key(comp);
      if (!c) continue;  // not ours
      key += *c;
    }
    if (is_dir) key += '/';
    entries.push_back(Entry{std::move(key), std::move(name), is_dir});
  }
  // File names do not sort like keys (escaping does not preserve byte order).
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.key < b.key; });
  for (const Entry& e : entries) {
    if (q.done) break;
    const bool matches = e.key.starts_with(q.prefix);
    if (!matches && e.key > q.prefix) break;  // sorted: nothing later can match
    if (e.is_dir) {
      if (!matches && !q.prefix.starts_with(e.key)) continue;
      // Every key below starts with e.key: all at or before the token unless it is inside.
      if (!q.token.empty() && e.key < q.token && !q.token.starts_with(e.key)) continue;
      SHALE_RETURN_IF_ERROR(walk(io::join_path(dir, e.name), e.key, q));
      continue;
    }
    if (!matches || (!q.token.empty() && e.key <= q.token)) continue;
    if (q.max_keys > 0 && q.page.objects.size() == q.max_keys) {
      q.page.next_token = q.page.objects.back().key;
      q.done = true;
      break;
    }
    auto f = fs_.open(io::join_path(dir, e.name), io::OpenMode::kRead);
    if (!f.ok()) {
      if (f.code() == Errc::kNotFound) continue;  // removed concurrently
      return f.status();
    }
    SHALE_ASSIGN_OR_RETURN(uint64_t size, (*f)->size());
    q.page.objects.push_back(ObjectInfo{e.key, size, ""});
  }
  return Status();
}

Status LocalObjectStore::remove(const std::vector<std::string>& keys) {
  std::set<std::string> dirs;  // directories whose entries changed
  for (const auto& key : keys) {
    SHALE_ASSIGN_OR_RETURN(std::string path, object_path(key));
    Status s = fs_.remove(path);
    if (s.ok()) dirs.insert(io::parent_dir(path));
    if (!s.ok() && s.code() != Errc::kNotFound) return s;
  }
  for (const auto& d : dirs) SHALE_RETURN_IF_ERROR(fs_.sync_dir(d));
  return Status();
}

Result<std::string> LocalObjectStore::begin_multipart(const std::string& key) {
  SHALE_RETURN_IF_ERROR(object_path(key).status());
  const std::string id = fmt::format("{}-{}-{}", instance_, seq_.fetch_add(1), random_hex(4));
  const std::string dir = io::join_path(multipart_dir_, id);
  SHALE_RETURN_IF_ERROR(fs_.mkdirs(dir));
  SHALE_ASSIGN_OR_RETURN(auto f, fs_.open(io::join_path(dir, "key"), io::OpenMode::kCreate));
  SHALE_RETURN_IF_ERROR(f->pwrite(0, key.data(), key.size()));
  SHALE_RETURN_IF_ERROR(f->sync());
  SHALE_RETURN_IF_ERROR(fs_.sync_dir(dir));
  SHALE_RETURN_IF_ERROR(fs_.sync_dir(multipart_dir_));
  return id;
}

Result<std::string> LocalObjectStore::upload_dir(const std::string& key,
                                                 const std::string& upload_id) {
  if (!valid_upload_id(upload_id)) {
    return Status(Errc::kNotFound, "no such upload: " + upload_id);
  }
  const std::string dir = io::join_path(multipart_dir_, upload_id);
  auto f = fs_.open(io::join_path(dir, "key"), io::OpenMode::kRead);
  if (!f.ok()) {
    if (f.code() == Errc::kNotFound) return Status(Errc::kNotFound, "no such upload: " + upload_id);
    return f.status();
  }
  std::string stored(key.size() + 1, '\0');
  SHALE_ASSIGN_OR_RETURN(size_t n, (*f)->pread(0, stored.data(), stored.size()));
  stored.resize(n);
  if (stored != key) {
    return Status(Errc::kInvalidArgument, fmt::format("upload {} is for another key", upload_id));
  }
  return dir;
}

Status LocalObjectStore::upload_part(const std::string& key, const std::string& upload_id,
                                     int part_number, const Buf& data) {
  if (part_number < 1 || part_number > kMaxPartNumber) {
    return Status(Errc::kInvalidArgument, fmt::format("part number {}", part_number));
  }
  SHALE_ASSIGN_OR_RETURN(std::string dir, upload_dir(key, upload_id));
  const std::string tmp = new_temp_path();
  Status st = [&]() -> Status {
    SHALE_ASSIGN_OR_RETURN(auto f, fs_.open(tmp, io::OpenMode::kCreateExclusive));
    SHALE_RETURN_IF_ERROR(f->pwrite(0, data.data(), data.size()));
    return f->sync();
  }();
  if (st.ok()) st = fs_.rename(tmp, io::join_path(dir, part_name(part_number)));
  if (!st.ok()) {
    (void)fs_.remove(tmp);
    return st;
  }
  return fs_.sync_dir(dir);
}

Status LocalObjectStore::complete_multipart(const std::string& key, const std::string& upload_id,
                                            int part_count) {
  if (part_count < 1 || part_count > kMaxPartNumber) {
    return Status(Errc::kInvalidArgument, fmt::format("part count {}", part_count));
  }
  SHALE_ASSIGN_OR_RETURN(std::string path, object_path(key));
  SHALE_ASSIGN_OR_RETURN(std::string dir, upload_dir(key, upload_id));
  SHALE_RETURN_IF_ERROR(ensure_parent(path));
  const std::string tmp = new_temp_path();
  Status st = [&]() -> Status {
    SHALE_ASSIGN_OR_RETURN(auto out, fs_.open(tmp, io::OpenMode::kCreateExclusive));
    uint64_t off = 0;
    std::vector<uint8_t> chunk;
    for (int n = 1; n <= part_count; ++n) {
      auto in = fs_.open(io::join_path(dir, part_name(n)), io::OpenMode::kRead);
      if (!in.ok()) {
        if (in.code() == Errc::kNotFound) {
          return Status(Errc::kInvalidArgument,
                        fmt::format("upload {}: part {} missing", upload_id, n));
        }
        return in.status();
      }
      SHALE_ASSIGN_OR_RETURN(uint64_t size, (*in)->size());
      for (uint64_t pos = 0; pos < size;) {
        chunk.resize(std::min<uint64_t>(kCopyChunk, size - pos));
        SHALE_ASSIGN_OR_RETURN(size_t got, (*in)->pread(pos, chunk.data(), chunk.size()));
        if (got != chunk.size()) return Status(Errc::kIoError, "short read of part");
        SHALE_RETURN_IF_ERROR(out->pwrite(off, chunk.data(), got));
        pos += got;
        off += got;
      }
    }
    return out->sync();
  }();
  if (!st.ok()) {
    (void)fs_.remove(tmp);
    return st;
  }
  SHALE_RETURN_IF_ERROR(publish(tmp, path, false));
  // The object is durable; dropping the staging files is cleanup only.
  (void)abort_multipart(key, upload_id);
  return Status();
}

Status LocalObjectStore::abort_multipart(const std::string& key, const std::string& upload_id) {
  SHALE_ASSIGN_OR_RETURN(std::string dir, upload_dir(key, upload_id));
  SHALE_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_.list(dir));
  // Remove "key" last so a half-aborted upload can still be aborted again.
  std::stable_partition(names.begin(), names.end(),
                        [](const std::string& n) { return n != "key"; });
  for (const auto& n : names) {
    Status s = fs_.remove(io::join_path(dir, n));
    if (!s.ok() && s.code() != Errc::kNotFound) return s;
  }
  SHALE_RETURN_IF_ERROR(fs_.remove(dir));
  return fs_.sync_dir(multipart_dir_);
}

Status LocalObjectStore::remove_orphaned_temp_files() {
  SHALE_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_.list(tmp_dir_));
  for (const auto& n : names) {
    Status s = fs_.remove(io::join_path(tmp_dir_, n));
    if (!s.ok() && s.code() != Errc::kNotFound) return s;
  }
  return fs_.sync_dir(tmp_dir_);
}

}  // namespace shale::objstore
