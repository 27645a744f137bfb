#include "broker/fetch_session.h"

#include <fmt/format.h>

#include <limits>

namespace shale::broker {

namespace {
int32_t next_epoch(int32_t e) {
  return e == std::numeric_limits<int32_t>::max() ? 1 : e + 1;
}
}  // namespace

FetchSessionCache::FetchSessionCache(Options opts) : opts_(opts), rng_(std::random_device{}()) {}

size_t FetchSessionCache::size() const {
  std::lock_guard lk(mu_);
  return sessions_.size();
}

int32_t FetchSessionCache::new_id_locked() {
  std::uniform_int_distribution<int32_t> d(1, std::numeric_limits<int32_t>::max());
  int32_t id;
  do {
    id = d(rng_);
  } while (sessions_.count(id));
  return id;
}

bool FetchSessionCache::make_room_locked(std::chrono::steady_clock::time_point now) {
  if (sessions_.size() < opts_.max_sessions) return true;
  auto lru = sessions_.end();
  for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
    if (lru == sessions_.end() || it->second.last_used < lru->second.last_used) lru = it;
  }
  if (lru == sessions_.end() || now - lru->second.last_used < opts_.eviction_ms) return false;
  sessions_.erase(lru);
  return true;
}

FetchSessionCache::Context FetchSessionCache::begin(int32_t session_id, int32_t epoch,
                                                    bool uses_topic_ids,
                                                    std::vector<FetchPartitionRequest> requested,
                                                    const std::vector<FetchKey>& forgotten,
                                                    std::chrono::steady_clock::time_point now) {
  Context ctx;
  ctx.epoch = epoch;
  std::lock_guard lk(mu_);
  if (epoch == kFinalEpoch || epoch == kInitialEpoch) {
    if (session_id != 0) sessions_.erase(session_id);
    ctx.partitions = std::move(requested);
    if (epoch == kInitialEpoch && !ctx.partitions.empty() && make_room_locked(now)) {
      Session s;
      s.id = new_id_locked();
      s.next_epoch = 1;
      s.uses_topic_ids = uses_topic_ids;
      s.last_used = now;
      for (const auto& p : ctx.partitions) {
        if (s.index.count(p.key)) continue;
        s.order.push_back(CachedPartition{p});
        s.index[p.key] = std::prev(s.order.end());
      }
      ctx.session_id = s.id;
      sessions_.emplace(s.id, std::move(s));
    }
    return ctx;
  }
  if (epoch < 0) {
    ctx.error = {kerr::kInvalidFetchSessionEpoch, fmt::format("invalid fetch epoch {}", epoch)};
    return ctx;
  }
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) {
    ctx.error = {kerr::kFetchSessionIdNotFound,
                 fmt::format("fetch session {} not found", session_id)};
    return ctx;
  }
  Session& s = it->second;
  if (epoch != s.next_epoch) {
    ctx.error = {
        kerr::kInvalidFetchSessionEpoch,
        fmt::format("fetch session {} expected epoch {}, got {}", session_id, s.next_epoch, epoch)};
    return ctx;
  }
  if (s.uses_topic_ids != uses_topic_ids) {
    ctx.error = {kerr::kFetchSessionTopicIdError,
                 "fetch session topic id usage changed between requests"};
    return ctx;
  }
  for (const auto& f : forgotten) {
    auto pos = s.index.find(f);
    if (pos == s.index.end()) continue;
    s.order.erase(pos->second);
    s.index.erase(pos);
  }
  for (auto& p : requested) {
    auto pos = s.index.find(p.key);
    if (pos != s.index.end()) {
      pos->second->req = p;
    } else {
      s.order.push_back(CachedPartition{p});
      s.index[p.key] = std::prev(s.order.end());
    }
  }
  s.next_epoch = next_epoch(epoch);
  s.last_used = now;
  ctx.session_id = s.id;
  ctx.incremental = true;
  for (const auto& cp : s.order) ctx.partitions.push_back(cp.req);
  return ctx;
}

std::vector<bool> FetchSessionCache::finish(const Context& ctx,
                                            const std::vector<FetchPartitionSummary>& results) {
  std::vector<bool> include(ctx.partitions.size(), !ctx.incremental);
  if (ctx.session_id == 0 || !ctx.error.ok()) return include;
  std::lock_guard lk(mu_);
  auto it = sessions_.find(ctx.session_id);
  if (it == sessions_.end()) return std::vector<bool>(ctx.partitions.size(), true);
  Session& s = it->second;
  std::vector<std::list<CachedPartition>::iterator> to_back;
  for (size_t i = 0; i < ctx.partitions.size() && i < results.size(); ++i) {
    auto pos = s.index.find(ctx.partitions[i].key);
    if (pos == s.index.end()) continue;
    CachedPartition& cp = *pos->second;
    const FetchPartitionSummary& r = results[i];
    bool must = r.bytes > 0 || r.error != kerr::kNone || r.high_watermark != cp.high_watermark ||
                r.log_start_offset != cp.log_start_offset;
    cp.high_watermark = r.error != kerr::kNone ? -1 : r.high_watermark;
    cp.log_start_offset = r.log_start_offset;
    if (ctx.incremental) include[i] = must;
    if (r.bytes > 0) to_back.push_back(pos->second);
  }
  // Partitions that returned data go to the back, so the next response starts with the others.
  for (auto pos : to_back) s.order.splice(s.order.end(), s.order, pos);
  return include;
}

}  // namespace shale::broker
