#include "objfmt/compact.h"

#include <algorithm>
#include <cstring>
#include <memory>

namespace shale::objfmt {
namespace {

// Adjacent live blocks of one stream in one source, fetched with one range GET.
struct Run {
  uint64_t begin = 0;
  uint64_t len = 0;
  std::vector<BlockIndexEntry> blocks;
};

// What to fetch and what to write, from the sources' indexes alone (no I/O).
struct Plan {
  std::map<StreamId, std::vector<std::vector<Run>>> runs;  // stream -> per source -> runs
  std::map<StreamId, uint64_t> live_bytes;                 // bytes of the live blocks
  std::vector<std::optional<StreamId>> outputs;  // stream objects by id, then the stream set
  uint64_t dropped_batches = 0;                  // in blocks that are never fetched
};

Plan make_plan(const std::vector<SourceObject>& sources, const std::map<StreamId, LiveRange>& live,
               const CompactOptions& opts) {
  Plan p;
  for (size_t s = 0; s < sources.size(); s++) {
    for (const BlockIndexEntry& e : sources[s].layout.index) {
      auto it = live.find(e.stream);
      if (it == live.end() || e.end <= it->second.start || e.start >= it->second.end) {
        p.dropped_batches += e.batch_count;  // dead block: never fetched
        continue;
      }
      auto& per_source = p.runs[e.stream];
      per_source.resize(sources.size());
      auto& runs = per_source[s];
      if (runs.empty() || runs.back().begin + runs.back().len != e.position ||
          runs.back().len + e.size > opts.fetch_bytes) {
        runs.push_back(Run{e.position, 0, {}});
      }
      runs.back().len += e.size;
      runs.back().blocks.push_back(e);
      p.live_bytes[e.stream] += e.size;
    }
  }
  bool shared = false;
  for (const auto& [stream, bytes] : p.live_bytes) {
    if (bytes > opts.split_threshold) {
      p.outputs.push_back(stream);
    } else {
      shared = true;
    }
  }
  if (shared) p.outputs.push_back(std::nullopt);
  return p;
}

// One output object being built.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual Status add(StreamId stream, const DecodedBatch& d) = 0;
  virtual Result<ObjectBuilder::Built> finish() = 0;
  virtual uint64_t pending() const = 0;  // bytes held, waiting to be written
  virtual void abort() {}
};

// compact(): the object stays in memory, referencing the fetched bytes.
class MemorySink final : public Sink {
 public:
  explicit MemorySink(size_t block_size) : b_(block_size) {}
  Status add(StreamId stream, const DecodedBatch& d) override {
    return b_.add(stream, d.base, d.count, d.max_timestamp, d.batch);
  }
  Result<ObjectBuilder::Built> finish() override { return b_.finish(); }
  uint64_t pending() const override { return 0; }

 private:
  ObjectBuilder b_;
};

// compact_to_store(): copies each kept batch (so fetched blocks can be released) and writes a
// multipart part whenever part_size bytes are waiting.
class UploadSink final : public Sink {
 public:
  UploadSink(objstore::ObjectStore& store, std::string key, const CompactOptions& opts)
      : store_(store),
        key_(std::move(key)),
        part_size_(opts.part_size),
        b_(opts.target_block_size) {}
  ~UploadSink() override { abort(); }

  Status add(StreamId stream, const DecodedBatch& d) override {
    SHALE_RETURN_IF_ERROR(
        b_.add(stream, d.base, d.count, d.max_timestamp, Buf::copy(d.batch.view())));
    pending_ += kRecordHeaderSize + d.batch.size();
    if (pending_ >= part_size_) return write_part(b_.take_parts());
    return Status();
  }
  Result<ObjectBuilder::Built> finish() override {
    ObjectBuilder::Built built = b_.finish();
    if (upload_id_.empty()) {
      SHALE_RETURN_IF_ERROR(store_.put(key_, built.parts));
    } else {
      SHALE_RETURN_IF_ERROR(write_part(std::move(built.parts)));
      SHALE_RETURN_IF_ERROR(store_.complete_multipart(key_, upload_id_, parts_));
      upload_id_.clear();
    }
    built.parts.clear();
    pending_ = 0;
    return built;
  }
  uint64_t pending() const override { return pending_; }
  void abort() override {
    if (!upload_id_.empty()) (void)store_.abort_multipart(key_, upload_id_);
    upload_id_.clear();
  }

 private:
  Status write_part(std::vector<Buf> parts) {
    size_t n = 0;
    for (const Buf& b : parts) n += b.size();
    std::vector<uint8_t> v(n);
    size_t at = 0;
    for (const Buf& b : parts) {
      std::memcpy(v.data() + at, b.data(), b.size());
      at += b.size();
    }
    parts.clear();
    pending_ = 0;
    if (upload_id_.empty()) {
      SHALE_ASSIGN_OR_RETURN(upload_id_, store_.begin_multipart(key_));
    }
    return store_.upload_part(key_, upload_id_, ++parts_, Buf::take(std::move(v)));
  }

  objstore::ObjectStore& store_;
  const std::string key_;
  const uint64_t part_size_;
  ObjectBuilder b_;
  uint64_t pending_ = 0;
  std::string upload_id_;
  int parts_ = 0;
};

// One source's runs of the stream being merged; holds one fetched run at a time.
struct Cursor {
  size_t source = 0;
  const std::vector<Run>* runs = nullptr;
  size_t next_run = 0;
  uint64_t held = 0;  // bytes of the fetched run
  std::vector<DecodedBatch> batches;
  size_t i = 0;
  bool exhausted() const { return i >= batches.size(); }
};

class Merger {
 public:
  Merger(objstore::ObjectStore& store, const std::vector<SourceObject>& sources, CompactResult& out)
      : store_(store), sources_(sources), out_(out) {}

  // Merges one stream's batches from every source into `sink`.
  Status merge(StreamId stream, const std::vector<std::vector<Run>>& per_source,
               const LiveRange& range, Sink& sink) {
    std::vector<Cursor> cursors;
    for (size_t s = 0; s < per_source.size(); s++) {
      if (!per_source[s].empty()) cursors.push_back(Cursor{s, &per_source[s]});
    }
    for (Cursor& c : cursors) SHALE_RETURN_IF_ERROR(advance(c));
    Offset covered(INT64_MIN);
    while (true) {
      Cursor* min = nullptr;  // smallest next base; ties: the earlier source
      for (Cursor& c : cursors) {
        if (!c.exhausted() && (!min || c.batches[c.i].base < min->batches[min->i].base)) min = &c;
      }
      if (!min) break;
      const DecodedBatch& d = min->batches[min->i];
      if (d.end() <= range.start || d.base >= range.end || d.base < covered) {
        out_.batches_dropped++;
      } else {
        covered = d.end();
        SHALE_RETURN_IF_ERROR(sink.add(stream, d));
        out_.batches_kept++;
        note(sink.pending());
      }
      min->i++;
      SHALE_RETURN_IF_ERROR(advance(*min));
    }
    return Status();
  }
  // Bytes waiting in other sinks count too.
  void set_other_pending(uint64_t n) { other_pending_ = n; }

 private:
  // Fetches the cursor's next run once its batches are used up (releasing the previous one).
  Status advance(Cursor& c) {
    while (c.exhausted() && c.next_run < c.runs->size()) {
      c.batches.clear();
      c.i = 0;
      held_ -= c.held;
      c.held = 0;
      const Run& run = (*c.runs)[c.next_run++];
      const std::string& key = sources_[c.source].key;
      SHALE_ASSIGN_OR_RETURN(objstore::GetResult got,
                             store_.get(key, objstore::ByteRange::at(run.begin, run.len)));
      if (got.data.size() != run.len) {
        return Error{Errc::kCorruption,
                     fmt::format("object {}: range GET at byte {} returned {} of {} bytes", key,
                                 run.begin, got.data.size(), run.len)};
      }
      out_.bytes_read += run.len;
      c.held = run.len;
      held_ += run.len;
      note(0);
      for (const BlockIndexEntry& e : run.blocks) {
        auto dec = decode_block(got.data.slice(e.position - run.begin, e.size), e);
        if (!dec.ok()) {
          return Error{Errc::kCorruption, fmt::format("object {}: {}", key, dec.error().message)};
        }
        for (DecodedBatch& d : *dec) c.batches.push_back(std::move(d));
      }
    }
    if (c.exhausted()) {  // done: release the last run
      c.batches.clear();
      held_ -= c.held;
      c.held = 0;
    }
    return Status();
  }
  void note(uint64_t sink_pending) {
    out_.peak_buffered_bytes =
        std::max(out_.peak_buffered_bytes, held_ + sink_pending + other_pending_);
  }

  objstore::ObjectStore& store_;
  const std::vector<SourceObject>& sources_;
  CompactResult& out_;
  uint64_t held_ = 0;
  uint64_t other_pending_ = 0;
};

Result<CompactResult> run_compaction(objstore::ObjectStore& store,
                                     const std::vector<SourceObject>& sources,
                                     const std::map<StreamId, LiveRange>& live,
                                     const CompactOptions& opts, const CompactKeys* keys) {
  const Plan plan = make_plan(sources, live, opts);
  CompactResult out;
  out.batches_dropped = plan.dropped_batches;
  if (plan.outputs.empty()) return out;
  std::vector<std::string> names(plan.outputs.size());
  if (keys) {
    SHALE_ASSIGN_OR_RETURN(names, (*keys)(plan.outputs.size()));
    if (names.size() != plan.outputs.size()) {
      return Status(Errc::kInvalidArgument, "compaction: wrong number of output keys");
    }
  }
  auto make_sink = [&](size_t i) -> std::unique_ptr<Sink> {
    if (keys) return std::make_unique<UploadSink>(store, names[i], opts);
    return std::make_unique<MemorySink>(opts.target_block_size);
  };
  out.objects.resize(plan.outputs.size());
  const bool has_shared = !plan.outputs.back().has_value();
  std::unique_ptr<Sink> shared = has_shared ? make_sink(plan.outputs.size() - 1) : nullptr;
  Merger merger(store, sources, out);
  size_t next_own = 0;  // stream objects come first, in stream order
  for (const auto& [stream, per_source] : plan.runs) {
    const bool own = plan.live_bytes.at(stream) > opts.split_threshold;
    std::unique_ptr<Sink> own_sink = own ? make_sink(next_own) : nullptr;
    Sink& sink = own ? *own_sink : *shared;
    merger.set_other_pending(own && shared ? shared->pending() : 0);
    SHALE_RETURN_IF_ERROR(merger.merge(stream, per_source, live.at(stream), sink));
    if (own) {
      SHALE_ASSIGN_OR_RETURN(ObjectBuilder::Built built, own_sink->finish());
      out.objects[next_own] = CompactedObject{stream, std::move(built), names[next_own]};
      next_own++;
    }
  }
  if (shared) {
    SHALE_ASSIGN_OR_RETURN(ObjectBuilder::Built built, shared->finish());
    out.objects.back() = CompactedObject{std::nullopt, std::move(built), names.back()};
  }
  return out;
}

}  // namespace

Result<CompactResult> compact(objstore::ObjectStore& store,
                              const std::vector<SourceObject>& sources,
                              const std::map<StreamId, LiveRange>& live,
                              const CompactOptions& opts) {
  return run_compaction(store, sources, live, opts, nullptr);
}

Result<CompactResult> compact_to_store(objstore::ObjectStore& store,
                                       const std::vector<SourceObject>& sources,
                                       const std::map<StreamId, LiveRange>& live,
                                       const CompactOptions& opts, const CompactKeys& keys) {
  return run_compaction(store, sources, live, opts, &keys);
}

}  // namespace shale::objfmt
