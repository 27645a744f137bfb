#include "objfmt/compact.h"

namespace shale::objfmt {

Result<CompactResult> compact(objstore::ObjectStore&, const std::vector<SourceObject>&,
                              const std::map<StreamId, LiveRange>&, const CompactOptions&) {
  return Error{Errc::kInternal, "not implemented yet"};
}

}  // namespace shale::objfmt
