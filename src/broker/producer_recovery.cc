#include "broker/producer_recovery.h"

#include <fmt/format.h>

#include <future>
#include <nlohmann/json.hpp>

#include "base/log.h"
#include "kafka/records/record_batch.h"

namespace shale::broker {

namespace {
constexpr size_t kScanReadBytes = 4 << 20;  // per store read while scanning the tail
}  // namespace

std::string producer_snapshot_key(StreamId stream) {
  return fmt::format("shale/producer-state/{}", stream.value());
}

Status save_producer_snapshot(meta::MetaStore& meta, StreamId stream, int64_t offset,
                              const std::string& table_json) {
  std::string v = fmt::format(R"({{"version":1,"offset":{},"table":{}}})", offset, table_json);
  auto r = meta.put(producer_snapshot_key(stream), v);
  if (!r.ok()) return r.error();
  return {};
}

Result<ProducerRecovery> recover_producer_state(meta::MetaStore& meta, stream::StreamStore& store,
                                                StreamId stream, const stream::StreamInfo& opened) {
  ProducerRecovery out;
  SHALE_ASSIGN_OR_RETURN(meta::RangeResult snap, meta.get(producer_snapshot_key(stream)));
  if (!snap.kvs.empty()) {
    auto j = nlohmann::json::parse(snap.kvs[0].value, nullptr, false);
    Result<ProducerStateTable> t = Status(Errc::kCorruption, "not a version 1 object");
    if (!j.is_discarded() && j.is_object() && j.value("version", 0) == 1 && j.contains("offset") &&
        j["offset"].is_number_integer() && j.contains("table")) {
      t = ProducerStateTable::decode(j["table"].dump());
    }
    if (t.ok()) {
      out.table = std::move(*t);
      out.snapshot_offset = j["offset"].get<int64_t>();
    } else {
      SHALE_LOG_WARN("broker", "stream {}: ignoring producer snapshot: {}; scanning the log",
                     stream, t.error().to_string());
    }
  }
  int64_t from = std::max(out.snapshot_offset, opened.start.value());
  out.scanned_from = from;
  const int64_t end = opened.end.value();
  while (from < end) {
    std::promise<Result<stream::ReadResult>> done;
    auto f = done.get_future();
    store.read(stream, Offset(from), kScanReadBytes,
               [&done](Result<stream::ReadResult> r) { done.set_value(std::move(r)); });
    SHALE_ASSIGN_OR_RETURN(stream::ReadResult rr, f.get());
    if (rr.batches.empty()) break;
    const int64_t before = from;
    for (const Buf& b : rr.batches) {
      auto h = kafka::records::read_header(b.span());
      if (!h.ok()) {
        return Status(Errc::kCorruption,
                      fmt::format("stream {}: unreadable batch header at {}", stream, from));
      }
      if (h->last_offset() < from) continue;
      from = h->last_offset() + 1;
      ++out.scanned_batches;
      out.scanned_bytes += static_cast<int64_t>(b.size());
      if (h->has_producer_id() && !h->is_control()) {
        out.table.replay({h->producer_id, h->producer_epoch, h->base_sequence, h->last_offset_delta,
                          h->max_timestamp},
                         h->base_offset, h->last_offset());
      }
    }
    if (from == before) break;  // no progress: do not spin
  }
  return out;
}

}  // namespace shale::broker
