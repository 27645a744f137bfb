// Shared by objfmt_bench's files (benchmarks, not tests).
#pragma once

#include <cstdint>
#include <vector>

#include "objfmt/catchup_reader.h"

namespace shale::objfmt {

// Reads all of `stream` in `slices`, in order, through `r`, 1 MiB per read (a Kafka consumer's
// default max.partition.fetch.bytes); returns the batch bytes read. Aborts on any error.
uint64_t read_stream(CatchUpReader& r, StreamId stream, const std::vector<ObjectSlice>& slices);

}  // namespace shale::objfmt
