// Shared by objfmt_bench's files (benchmarks, not tests).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "objfmt/catchup_reader.h"
#include "objstore/object_store.h"

namespace shale::objfmt {

// Reads all of `stream` in `slices`, in order, through `r`, 1 MiB per read (a Kafka consumer's
// default max.partition.fetch.bytes); returns the batch bytes read. Aborts on any error.
uint64_t read_stream(CatchUpReader& r, StreamId stream, const std::vector<ObjectSlice>& slices);

// Builds an object of `stream` from random `batch_bytes` batches of 10 offsets each, from *next
// on, until it holds `object_bytes`; PUTs it to `store` as `key` and returns its slice (bytes
// left 0), *next moved past it. Aborts on any error.
ObjectSlice put_random_object(objstore::ObjectStore& store, const std::string& key, StreamId stream,
                              Offset* next, std::mt19937_64& rng, size_t object_bytes,
                              size_t batch_bytes);

}  // namespace shale::objfmt
