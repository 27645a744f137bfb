#include "objfmt/catchup_reader.h"

namespace shale::objfmt {

struct CatchUpReader::Impl {};

CatchUpReader::CatchUpReader(objstore::ObjectStore&, BlockCache&, Options) {}
CatchUpReader::~CatchUpReader() = default;
Status CatchUpReader::read(StreamId, Offset, size_t, std::vector<ObjectSlice>, CatchUpCallback) {
  return Status(Errc::kInternal, "not implemented yet");
}
Status CatchUpReader::offset_for_timestamp(StreamId, int64_t, std::vector<ObjectSlice>,
                                           TimestampCallback) {
  return Status(Errc::kInternal, "not implemented yet");
}
void CatchUpReader::wait_idle() {}
void CatchUpReader::stop() {}
CatchUpStats CatchUpReader::stats() const {
  return {};
}
Result<std::shared_ptr<const ObjectLayout>> CatchUpReader::layout(const std::string&, uint64_t) {
  return Error{Errc::kInternal, "not implemented yet"};
}

}  // namespace shale::objfmt
