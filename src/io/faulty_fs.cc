#include "io/faulty_fs.h"

namespace shale::io {

struct FaultyFs::Injector : FaultRules<FsFault, kFsOpKinds> {
  using FaultRules::FaultRules;
  std::optional<FsFault> check(FsOp op, const std::string& path) {
    return FaultRules::check(static_cast<uint32_t>(op), [&](const FsFault& f) {
      return f.path_contains.empty() || path.find(f.path_contains) != std::string::npos;
    });
  }
};

namespace {

Status injected_status(const FsFault& f, const char* what, const std::string& path) {
  return Status(f.code, fmt::format("injected fault: {} {}", what, path));
}

class FaultyFile final : public File {
 public:
  FaultyFile(std::unique_ptr<File> base, std::shared_ptr<FaultyFs::Injector> inj, std::string path)
      : base_(std::move(base)), inj_(std::move(inj)), path_(std::move(path)) {}

  Status pwrite(uint64_t offset, const void* p, size_t n) override {
    if (auto f = inj_->check(FsOp::kPwrite, path_)) {
      if (f->short_write && n > 0) {
        size_t k = inj_->random_below(n);
        SHALE_RETURN_IF_ERROR(base_->pwrite(offset, p, k));
      }
      return injected_status(*f, "pwrite", path_);
    }
    return base_->pwrite(offset, p, n);
  }
  Result<size_t> pread(uint64_t offset, void* p, size_t n) override {
    if (auto f = inj_->check(FsOp::kPread, path_)) return injected_status(*f, "pread", path_);
    return base_->pread(offset, p, n);
  }
  Status sync() override {
    if (auto f = inj_->check(FsOp::kSync, path_)) return injected_status(*f, "sync", path_);
    return base_->sync();
  }
  Status allocate(uint64_t size) override {
    if (auto f = inj_->check(FsOp::kAllocate, path_)) {
      return injected_status(*f, "allocate", path_);
    }
    return base_->allocate(size);
  }
  Status truncate(uint64_t size) override {
    if (auto f = inj_->check(FsOp::kTruncate, path_)) {
      return injected_status(*f, "truncate", path_);
    }
    return base_->truncate(size);
  }
  Result<uint64_t> size() override {
    if (auto f = inj_->check(FsOp::kSize, path_)) return injected_status(*f, "size", path_);
    return base_->size();
  }

 private:
  std::unique_ptr<File> base_;
  std::shared_ptr<FaultyFs::Injector> inj_;
  const std::string path_;
};

}  // namespace

FaultyFs::FaultyFs(Filesystem& base, uint64_t seed)
    : base_(base), inj_(std::make_shared<Injector>(seed)) {}
FaultyFs::~FaultyFs() = default;

int FaultyFs::add_fault(FsFault f) {
  return inj_->add(std::move(f));
}
void FaultyFs::remove_fault(int id) {
  inj_->remove(id);
}
void FaultyFs::clear_faults() {
  inj_->clear();
}
uint64_t FaultyFs::injected() const {
  return inj_->injected();
}
uint64_t FaultyFs::op_count(FsOp op) const {
  return inj_->op_count(static_cast<uint32_t>(op));
}

Result<std::unique_ptr<File>> FaultyFs::open(const std::string& path, OpenMode mode) {
  if (auto f = inj_->check(FsOp::kOpen, path)) return injected_status(*f, "open", path);
  SHALE_ASSIGN_OR_RETURN(auto file, base_.open(path, mode));
  return std::unique_ptr<File>(std::make_unique<FaultyFile>(std::move(file), inj_, path));
}
Status FaultyFs::rename(const std::string& from, const std::string& to) {
  if (auto f = inj_->check(FsOp::kRename, from + " -> " + to)) {
    return injected_status(*f, "rename", from);
  }
  return base_.rename(from, to);
}
Status FaultyFs::rename_noreplace(const std::string& from, const std::string& to) {
  if (auto f = inj_->check(FsOp::kRename, from + " -> " + to)) {
    return injected_status(*f, "rename_noreplace", from);
  }
  return base_.rename_noreplace(from, to);
}
Status FaultyFs::remove(const std::string& path) {
  if (auto f = inj_->check(FsOp::kRemove, path)) return injected_status(*f, "remove", path);
  return base_.remove(path);
}
Status FaultyFs::mkdirs(const std::string& path) {
  if (auto f = inj_->check(FsOp::kMkdirs, path)) return injected_status(*f, "mkdirs", path);
  return base_.mkdirs(path);
}
Result<std::vector<std::string>> FaultyFs::list(const std::string& dir) {
  if (auto f = inj_->check(FsOp::kList, dir)) return injected_status(*f, "list", dir);
  return base_.list(dir);
}
Result<bool> FaultyFs::exists(const std::string& path) {
  if (auto f = inj_->check(FsOp::kExists, path)) return injected_status(*f, "exists", path);
  return base_.exists(path);
}
Status FaultyFs::sync_dir(const std::string& dir) {
  if (auto f = inj_->check(FsOp::kSyncDir, dir)) return injected_status(*f, "sync_dir", dir);
  return base_.sync_dir(dir);
}

}  // namespace shale::io
