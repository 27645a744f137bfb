// Fetch (key 1), v4-16.
//
//   * Incremental fetch sessions (KIP-227, v7+): broker/fetch_session.h holds the rules.
//   * Topic ids (v13+): partitions are looked up by id; an unknown id is UNKNOWN_TOPIC_ID.
//   * Sizes (KIP-74): partition_max_bytes per partition, max_bytes for the response; the first
//     batch of the first partition with data is returned even if larger than either limit.
//   * Long poll: if fewer than min_bytes are ready, the handler registers a DataWaiter on every
//     partition it reads and sleeps until one of them grows or max_wait_ms passes; no polling.
//   * isolation_level: read_committed == read_uncommitted until transactions exist (LSO = HW).
//   * current_leader_epoch (v9+) is checked: FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH.
//
// The response is encoded here rather than through the generated FetchResponse because the
// generated `records` field is one Buf: writing each partition's batches as separate parts keeps
// the log cache's Bufs going to the socket without a copy. The bytes are identical to what the
// generated encoder produces (the handler test decodes them with FetchResponse::decode).
#include "kafka/protocol/gen/fetch.h"

#include <asio/this_coro.hpp>
#include <chrono>

#include "broker/broker.h"
#include "kafka/protocol/errors.h"
#include "kafka/server/handler.h"
#include "kafka/server/topic_metrics.h"

namespace shale::kafka {
namespace {

namespace kerr = broker::kerr;
static_assert(kerr::kFetchSessionIdNotFound == to_wire(ErrorCode::kFetchSessionIdNotFound));
static_assert(kerr::kInvalidFetchSessionEpoch == to_wire(ErrorCode::kInvalidFetchSessionEpoch));
static_assert(kerr::kFetchSessionTopicIdError == to_wire(ErrorCode::kFetchSessionTopicIdError));
static_assert(kerr::kUnknownTopicId == to_wire(ErrorCode::kUnknownTopicId));
static_assert(kerr::kOffsetOutOfRange == to_wire(ErrorCode::kOffsetOutOfRange));
static_assert(kerr::kFencedLeaderEpoch == to_wire(ErrorCode::kFencedLeaderEpoch));

broker::Uuid to_broker(const Uuid& u) {
  return broker::Uuid{u.bytes};
}
Uuid to_wire_uuid(const broker::Uuid& u) {
  return Uuid{u.bytes};
}

struct PartOut {
  const broker::FetchPartitionRequest* req = nullptr;
  broker::FetchResult res;
};

// Reads every partition once, in order, sharing the response budget.
asio::awaitable<std::vector<PartOut>> read_all(broker::Broker& b,
                                               const std::vector<broker::FetchPartitionRequest>& ps,
                                               bool by_id, int16_t version, int64_t max_bytes,
                                               size_t* total) {
  std::vector<PartOut> out(ps.size());
  *total = 0;
  for (size_t i = 0; i < ps.size(); ++i) {
    const auto& pr = ps[i];
    PartOut& o = out[i];
    o.req = &pr;
    auto part = by_id ? b.topics().partition(pr.key.topic_id, pr.key.partition)
                      : b.topics().partition(pr.key.topic, pr.key.partition);
    if (!part) {
      auto t = by_id ? b.topics().find(pr.key.topic_id) : b.topics().find(pr.key.topic);
      o.res.error.code = by_id && !t ? kerr::kUnknownTopicId : kerr::kUnknownTopicOrPartition;
      // Known partition owned by another broker (cluster): the client refreshes its leader.
      if (t && pr.key.partition >= 0 && pr.key.partition < t->partitions) {
        o.res.error.code = kerr::kNotLeaderOrFollower;
      }
      continue;
    }
    if (version >= 9) {
      if (auto e = part->check_leader_epoch(pr.current_leader_epoch); !e.ok()) {
        o.res.error = e;
        o.res.high_watermark = part->high_watermark();
        o.res.last_stable_offset = o.res.high_watermark;
        o.res.log_start_offset = part->log_start_offset();
        continue;
      }
    }
    const int64_t left = max_bytes - static_cast<int64_t>(*total);
    const bool first = *total == 0;
    if (left <= 0 && !first) {  // budget spent: report offsets only
      o.res.high_watermark = part->high_watermark();
      o.res.last_stable_offset = o.res.high_watermark;
      o.res.log_start_offset = part->log_start_offset();
      continue;
    }
    int64_t limit =
        std::min<int64_t>(std::max<int32_t>(pr.max_bytes, 0), std::max<int64_t>(left, 0));
    o.res = co_await part->read(pr.fetch_offset, static_cast<size_t>(limit), first);
    *total += o.res.bytes;
  }
  co_return out;
}

void write_response(Writer& w, int16_t v, int16_t error, int32_t session_id, bool by_id,
                    bool read_committed, const std::vector<PartOut>& parts,
                    const std::vector<bool>& include) {
  const bool flex = v >= 12;
  // Group included partitions by topic, keeping first-appearance order.
  std::vector<std::vector<size_t>> groups;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!include[i]) continue;
    const auto& k = parts[i].req->key;
    bool placed = false;
    if (!groups.empty()) {
      const auto& last = parts[groups.back().front()].req->key;
      if (last.topic_id == k.topic_id && last.topic == k.topic) {
        groups.back().push_back(i);
        placed = true;
      }
    }
    if (!placed) groups.push_back({i});
  }
  w.write_int32(0);  // throttle_time_ms
  if (v >= 7) {
    w.write_int16(error);
    w.write_int32(session_id);
  }
  w.write_array_len(groups.size(), flex);
  for (const auto& g : groups) {
    const auto& key = parts[g.front()].req->key;
    if (by_id) {
      w.write_uuid(to_wire_uuid(key.topic_id));
    } else {
      w.write_string(key.topic, flex);
    }
    w.write_array_len(g.size(), flex);
    for (size_t i : g) {
      const auto& p = parts[i];
      w.write_int32(p.req->key.partition);
      w.write_int16(p.res.error.code);
      w.write_int64(p.res.high_watermark);
      w.write_int64(p.res.last_stable_offset);  // v4+
      if (v >= 5) w.write_int64(p.res.log_start_offset);
      if (read_committed) {
        w.write_array_len(0, flex);  // no aborted transactions
      } else {
        w.write_null_array(flex);
      }
      if (v >= 11) w.write_int32(-1);  // preferred_read_replica
      size_t n = 0;
      for (const Buf& b : p.res.batches) n += b.size();
      if (flex) {
        w.write_uvarint(static_cast<uint32_t>(n + 1));
      } else {
        w.write_int32(static_cast<int32_t>(n));
      }
      for (const Buf& b : p.res.batches) w.append(b);
      if (flex) w.write_uvarint(0);  // partition tagged fields
    }
    if (flex) w.write_uvarint(0);  // topic tagged fields
  }
  if (flex) w.write_uvarint(0);  // response tagged fields
}

// Per-topic metrics (kafka/server/topic_metrics.h): one request per topic named, the bytes
// returned, and each partition error ("(unknown)" for an unknown topic or partition: names
// chosen by clients must not create series). No lookups: the read result tells.
void count_fetch(RequestContext& ctx, const std::vector<PartOut>& parts) {
  if (!ctx.topic_metrics) return;
  const std::string* last = nullptr;
  for (const auto& p : parts) {
    const std::string& name = p.req->key.topic;
    const int16_t code = p.res.error.code;
    const bool known =
        !name.empty() && code != kerr::kUnknownTopicOrPartition && code != kerr::kUnknownTopicId;
    if (!known) {
      if (!p.res.error.ok()) ctx.topic_metrics->error("(unknown)", "Fetch", p.res.error.code);
      continue;
    }
    const auto& t = ctx.topic_metrics->topic(name);
    if (!last || *last != name) t.fetch_requests->inc();
    last = &name;
    t.bytes_out->inc(p.res.bytes);
    if (!p.res.error.ok()) ctx.topic_metrics->error(name, "Fetch", p.res.error.code);
  }
}

asio::awaitable<Result<ResponseBody>> handle_fetch(RequestContext& ctx) {
  auto req = decode_request<FetchRequest>(ctx);
  if (!req.ok()) co_return req.error();
  const int16_t v = ctx.header.request_api_version;
  const bool by_id = v >= 13;
  auto& b = ctx.broker;
  auto resolve = [&](const std::string& name, const Uuid& id, int32_t partition) {
    broker::FetchKey k;
    k.partition = partition;
    if (by_id) {
      k.topic_id = to_broker(id);
      if (auto t = b.topics().find(k.topic_id)) k.topic = t->name;
    } else {
      k.topic = name;
    }
    return k;
  };
  std::vector<broker::FetchPartitionRequest> requested;
  for (const auto& t : req->topics) {
    for (const auto& p : t.partitions) {
      broker::FetchPartitionRequest r;
      r.key = resolve(t.topic, t.topic_id, p.partition);
      r.fetch_offset = p.fetch_offset;
      r.log_start_offset = p.log_start_offset;
      r.max_bytes = p.partition_max_bytes;
      r.current_leader_epoch = p.current_leader_epoch;
      r.last_fetched_epoch = p.last_fetched_epoch;
      requested.push_back(std::move(r));
    }
  }
  std::vector<broker::FetchKey> forgotten;
  for (const auto& f : req->forgotten_topics_data) {
    for (int32_t p : f.partitions) forgotten.push_back(resolve(f.topic, f.topic_id, p));
  }
  const auto now = std::chrono::steady_clock::now();
  broker::FetchSessionCache::Context sc =
      v >= 7 ? b.fetch_sessions().begin(req->session_id, req->session_epoch, by_id,
                                        std::move(requested), forgotten, now)
             : broker::FetchSessionCache::Context{
                   {}, 0, false, broker::kFinalEpoch, std::move(requested)};
  const bool read_committed = req->isolation_level == 1;
  Writer w;
  if (!sc.error.ok()) {
    write_response(w, v, sc.error.code, 0, by_id, read_committed, {}, {});
    co_return ResponseBody{w.finish_parts(), false};
  }

  const int64_t max_bytes = req->max_bytes > 0 ? req->max_bytes : 0;
  const auto deadline = now + std::chrono::milliseconds(std::max(req->max_wait_ms, 0));
  size_t total = 0;
  std::vector<PartOut> parts;
  for (;;) {
    parts = co_await read_all(b, sc.partitions, by_id, v, max_bytes, &total);
    bool error = false;
    for (const auto& p : parts) error = error || !p.res.error.ok();
    if (error || static_cast<int64_t>(total) >= req->min_bytes || parts.empty() ||
        std::chrono::steady_clock::now() >= deadline) {
      break;
    }
    // Long poll: wake when any partition grows past its fetch offset, or at the deadline.
    auto waiter = std::make_shared<broker::DataWaiter>(co_await asio::this_coro::executor);
    std::vector<std::shared_ptr<broker::Partition>> watched;
    for (const auto& p : sc.partitions) {
      auto part = by_id ? b.topics().partition(p.key.topic_id, p.key.partition)
                        : b.topics().partition(p.key.topic, p.key.partition);
      if (!part) continue;
      part->add_waiter(waiter, p.fetch_offset);
      watched.push_back(std::move(part));
    }
    bool woke = co_await waiter->wait_until(deadline);
    for (auto& part : watched) part->remove_waiter(waiter.get());
    if (!woke) {
      parts = co_await read_all(b, sc.partitions, by_id, v, max_bytes, &total);
      break;
    }
  }
  std::vector<broker::FetchPartitionSummary> summary(parts.size());
  for (size_t i = 0; i < parts.size(); ++i) {
    summary[i] = {parts[i].res.error.code, parts[i].res.high_watermark,
                  parts[i].res.log_start_offset, parts[i].res.bytes};
  }
  std::vector<bool> include = b.fetch_sessions().finish(sc, summary);
  count_fetch(ctx, parts);
  write_response(w, v, kerr::kNone, sc.session_id, by_id, read_committed, parts, include);
  co_return ResponseBody{w.finish_parts(), false};
}

}  // namespace

SHALE_KAFKA_HANDLER(kFetch, handle_fetch, 4, 16);

}  // namespace shale::kafka
