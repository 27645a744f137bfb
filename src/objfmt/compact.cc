#include "objfmt/compact.h"

#include <algorithm>

namespace shale::objfmt {
namespace {

struct Wanted {
  size_t source;
  BlockIndexEntry entry;
};

}  // namespace

Result<CompactResult> compact(objstore::ObjectStore& store,
                              const std::vector<SourceObject>& sources,
                              const std::map<StreamId, LiveRange>& live,
                              const CompactOptions& opts) {
  CompactResult out;
  // 1. The blocks that hold live data, per source in position order (as the index lists them).
  std::map<StreamId, std::vector<DecodedBatch>> per_stream;
  for (size_t s = 0; s < sources.size(); s++) {
    const SourceObject& src = sources[s];
    std::vector<BlockIndexEntry> wanted;
    for (const BlockIndexEntry& e : src.layout.index) {
      auto it = live.find(e.stream);
      if (it == live.end() || e.end <= it->second.start || e.start >= it->second.end) {
        out.batches_dropped += e.batch_count;  // dead block: never fetched
        continue;
      }
      wanted.push_back(e);
    }
    // 2. Fetch adjacent wanted blocks with one range GET each, decode them.
    for (size_t i = 0; i < wanted.size();) {
      size_t j = i + 1;
      while (j < wanted.size() &&
             wanted[j].position == wanted[j - 1].position + wanted[j - 1].size) {
        j++;
      }
      const uint64_t begin = wanted[i].position;
      const uint64_t len = wanted[j - 1].position + wanted[j - 1].size - begin;
      SHALE_ASSIGN_OR_RETURN(objstore::GetResult got,
                             store.get(src.key, objstore::ByteRange::at(begin, len)));
      if (got.data.size() != len) {
        return Error{Errc::kCorruption,
                     fmt::format("object {}: range GET at byte {} returned {} of {} bytes", src.key,
                                 begin, got.data.size(), len)};
      }
      out.bytes_read += len;
      for (size_t k = i; k < j; k++) {
        const BlockIndexEntry& e = wanted[k];
        auto dec = decode_block(got.data.slice(e.position - begin, e.size), e);
        if (!dec.ok()) {
          return Error{Errc::kCorruption,
                       fmt::format("object {}: {}", src.key, dec.error().message)};
        }
        auto& dst = per_stream[e.stream];
        for (DecodedBatch& d : *dec) dst.push_back(std::move(d));
      }
      i = j;
    }
  }

  // 3. Per stream: offset order, keep batches overlapping the live range, drop overlaps.
  struct Kept {
    StreamId stream;
    std::vector<DecodedBatch> batches;
    uint64_t bytes = 0;
  };
  std::vector<Kept> kept;
  for (auto& [stream, batches] : per_stream) {
    const LiveRange& range = live.at(stream);
    std::stable_sort(batches.begin(), batches.end(),
                     [](const DecodedBatch& a, const DecodedBatch& b) { return a.base < b.base; });
    Kept k{stream, {}, 0};
    Offset covered(INT64_MIN);
    for (DecodedBatch& d : batches) {
      if (d.end() <= range.start || d.base >= range.end || d.base < covered) {
        out.batches_dropped++;
        continue;
      }
      covered = d.end();
      k.bytes += d.batch.size();
      k.batches.push_back(std::move(d));
    }
    if (!k.batches.empty()) kept.push_back(std::move(k));
  }

  // 4. Build: big streams get stream objects, the rest share one stream-set object.
  ObjectBuilder shared(opts.target_block_size);
  for (const Kept& k : kept) {
    const bool split = k.bytes > opts.split_threshold;
    ObjectBuilder own(opts.target_block_size);
    ObjectBuilder& b = split ? own : shared;
    for (const DecodedBatch& d : k.batches) {
      SHALE_RETURN_IF_ERROR(b.add(k.stream, d.base, d.count, d.max_timestamp, d.batch));
      out.batches_kept++;
    }
    if (split) out.objects.push_back(CompactedObject{k.stream, own.finish()});
  }
  if (!shared.empty()) out.objects.push_back(CompactedObject{std::nullopt, shared.finish()});
  return out;
}

}  // namespace shale::objfmt
