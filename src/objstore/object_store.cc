#include "objstore/object_store.h"

#include "objstore/local_object_store.h"
#include "objstore/mem_object_store.h"

namespace shale::objstore {

Result<std::unique_ptr<ObjectStore>> open_object_store(const std::string& uri, io::Filesystem& fs) {
  constexpr std::string_view kFile = "file://";
  constexpr std::string_view kMem = "mem://";
  if (uri.compare(0, kFile.size(), kFile) == 0) {
    std::string dir = uri.substr(kFile.size());
    if (dir.empty() || dir[0] != '/') {
      return Status(Errc::kInvalidArgument, "object store URI needs an absolute path: " + uri);
    }
    SHALE_ASSIGN_OR_RETURN(auto s, LocalObjectStore::open(fs, std::move(dir)));
    return std::unique_ptr<ObjectStore>(std::move(s));
  }
  if (uri.compare(0, kMem.size(), kMem) == 0) {
    return std::unique_ptr<ObjectStore>(std::make_unique<MemObjectStore>());
  }
  return Status(Errc::kInvalidArgument, "unsupported object store URI: " + uri);
}

}  // namespace shale::objstore
