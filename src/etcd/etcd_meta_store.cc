#include "etcd/etcd_meta_store.h"

#include <curl/curl.h>

#include "base/log.h"
#include "meta/txn_rules.h"

namespace shale::etcd {
namespace {

using Clk = std::chrono::steady_clock;

size_t append_stream(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

Status check_key(const std::string& key, const std::string& range_end) {
  if (key.empty() && range_end.empty()) return Status(Errc::kInvalidArgument, "empty key");
  return Status();
}

}  // namespace

struct EtcdMetaStore::Watch {
  meta::WatchId id = 0;
  std::string key, range_end;
  Revision next_rev{0};  // first revision not yet delivered
  meta::WatchCallback cb;
  bool cancelled = false;  // by cancel_watch
  bool ended = false;      // compacted: no more callbacks
  // Watch-thread only:
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string request;
  std::string buf;   // bytes received, not yet split into lines
  std::string base;  // endpoint of the current stream
  Clk::time_point retry_at{};
  std::chrono::milliseconds backoff{0};
  bool got_data = false;
};

EtcdMetaStore::EtcdMetaStore(std::vector<std::string> endpoints, EtcdOptions opts, Clock& clock)
    : http_(std::move(endpoints), opts), clock_(clock) {
  multi_ = curl_multi_init();
  watch_thread_ = std::thread([this] { watch_loop(); });
}

EtcdMetaStore::~EtcdMetaStore() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
  watch_thread_.join();
  for (auto& [id, w] : watches_) close_stream(*w);
  curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

Result<meta::RangeResult> EtcdMetaStore::get(const std::string& key, const std::string& range_end,
                                             int64_t limit) {
  SHALE_RETURN_IF_ERROR(check_key(key, range_end));
  Json req = {{"key", base64_encode(wire_key(key, range_end))}};
  if (!range_end.empty()) req["range_end"] = base64_encode(range_end);
  if (limit > 0) req["limit"] = std::to_string(limit);
  SHALE_ASSIGN_OR_RETURN(Json resp, http_.post("/v3/kv/range", req, /*idempotent=*/true));
  return decode_range(resp);
}

Result<Revision> EtcdMetaStore::put(const std::string& key, const std::string& value,
                                    LeaseId lease) {
  SHALE_RETURN_IF_ERROR(check_key(key, {}));
  Json req = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease.value() != 0) req["lease"] = std::to_string(lease.value());
  // Retried after an ambiguous failure: the state is the same either way (see etcd_http.h).
  SHALE_ASSIGN_OR_RETURN(Json resp, http_.post("/v3/kv/put", req, /*idempotent=*/true));
  return Revision(json_int(resp.value("header", Json::object()), "revision"));
}

Result<int64_t> EtcdMetaStore::del(const std::string& key, const std::string& range_end) {
  SHALE_RETURN_IF_ERROR(check_key(key, range_end));
  Json req = {{"key", base64_encode(wire_key(key, range_end))}};
  if (!range_end.empty()) req["range_end"] = base64_encode(range_end);
  // Retried after an ambiguous failure; the count is then that of the last attempt.
  SHALE_ASSIGN_OR_RETURN(Json resp, http_.post("/v3/kv/deleterange", req, /*idempotent=*/true));
  return json_int(resp, "deleted");
}

Result<meta::TxnResult> EtcdMetaStore::txn(const meta::Txn& t) {
  bool read_only = true;
  for (const auto* ops : {&t.success, &t.failure}) {
    for (const auto& op : *ops) {
      if (!std::holds_alternative<meta::GetOp>(op)) read_only = false;
      if (const auto* p = std::get_if<meta::PutOp>(&op))
        SHALE_RETURN_IF_ERROR(check_key(p->key, {}));
    }
  }
  const std::vector<const meta::PutOp*> fencing =
      read_only || !t.repeat_if_lost ? std::vector<const meta::PutOp*>{} : meta::fencing_puts(t);
  if (fencing.empty() || t.failure.size() + fencing.size() > meta::kMaxTxnOps) {
    // Reads are repeated; other writes get one ambiguous attempt (meta_store.h).
    SHALE_ASSIGN_OR_RETURN(Json resp, http_.post("/v3/kv/txn", encode_txn(t), read_only));
    return decode_txn(resp);
  }
  // Self-fencing: repeated after a lost answer. The failure branch reads the fencing keys back,
  // in the same revision as the compares, to tell "an earlier attempt applied" from "lost".
  meta::Txn sent = t;
  for (const meta::PutOp* p : fencing) sent.failure.push_back(meta::GetOp{p->key, {}});
  bool maybe_applied = false;
  SHALE_ASSIGN_OR_RETURN(
      Json resp, http_.post("/v3/kv/txn", encode_txn(sent), /*idempotent=*/true, &maybe_applied));
  SHALE_ASSIGN_OR_RETURN(meta::TxnResult r, decode_txn(resp));
  if (r.succeeded) return r;
  std::vector<meta::KeyValue> now;
  while (r.responses.size() > t.failure.size()) {
    for (auto& kv : r.responses.back()) now.push_back(std::move(kv));
    r.responses.pop_back();
  }
  Revision at{0};
  if (maybe_applied && meta::landed(t, fencing, now, &at)) {
    SHALE_LOG_INFO("etcd", "txn on {}: an earlier attempt applied at revision {} (answer lost)",
                   fencing[0]->key, at.value());
    r.succeeded = true;
    r.revision = at;
    r.responses.assign(t.success.size(), {});
  }
  return r;
}

Result<LeaseId> EtcdMetaStore::grant_lease(std::chrono::seconds ttl) {
  if (ttl.count() <= 0) return Error{Errc::kInvalidArgument, "lease ttl must be > 0"};
  // Retrying a grant at worst leaks a lease that expires after ttl.
  SHALE_ASSIGN_OR_RETURN(
      Json resp, http_.post("/v3/lease/grant", Json{{"TTL", ttl.count()}}, /*idempotent=*/true));
  const int64_t id = json_int(resp, "ID");
  if (id == 0) return Error{Errc::kIoError, fmt::format("etcd lease grant: {}", resp.dump())};
  return LeaseId(id);
}

Status EtcdMetaStore::keep_alive(LeaseId id) {
  SHALE_ASSIGN_OR_RETURN(Json resp,
                         http_.post("/v3/lease/keepalive", Json{{"ID", std::to_string(id.value())}},
                                    /*idempotent=*/true));
  // etcd answers a keep-alive of an unknown/expired lease with TTL 0 (omitted), not an error.
  if (json_int(resp.value("result", Json::object()), "TTL") <= 0) {
    return Status(Errc::kNotFound, fmt::format("lease {} expired or unknown", id.value()));
  }
  return Status();
}

Status EtcdMetaStore::revoke_lease(LeaseId id) {
  return http_
      .post("/v3/lease/revoke", Json{{"ID", std::to_string(id.value())}},
            /*idempotent=*/false)
      .status();
}

Status EtcdMetaStore::compact(Revision rev) {
  return http_
      .post("/v3/kv/compaction", Json{{"revision", std::to_string(rev.value())}},
            /*idempotent=*/true)
      .status();
}

int64_t EtcdMetaStore::watch_connects() const {
  std::lock_guard<std::mutex> l(mu_);
  return watch_connects_;
}

Result<meta::WatchId> EtcdMetaStore::watch(const std::string& key, const std::string& range_end,
                                           Revision start_revision, meta::WatchCallback cb) {
  SHALE_RETURN_IF_ERROR(check_key(key, range_end));
  auto w = std::make_shared<Watch>();
  w->key = key;
  w->range_end = range_end;
  w->cb = std::move(cb);
  w->next_rev = start_revision;
  if (start_revision.value() <= 0) {
    // "From now": pin now to a revision so a reconnect before the first event loses nothing.
    Json req = {{"key", base64_encode(wire_key(key, range_end))}, {"count_only", true}};
    SHALE_ASSIGN_OR_RETURN(Json resp, http_.post("/v3/kv/range", req, /*idempotent=*/true));
    w->next_rev = Revision(json_int(resp.value("header", Json::object()), "revision") + 1);
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    w->id = next_watch_id_++;
    watches_[w->id] = w;
  }
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
  return w->id;
}

void EtcdMetaStore::cancel_watch(meta::WatchId id) {
  std::unique_lock<std::mutex> l(mu_);
  auto it = watches_.find(id);
  if (it == watches_.end()) return;
  it->second->cancelled = true;
  if (std::this_thread::get_id() != watch_thread_.get_id()) {
    cv_.wait(l, [&] { return delivering_ != id; });
  }
  l.unlock();
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
}

void EtcdMetaStore::open_stream(Watch& w) {
  w.base = http_.current_endpoint();
  w.buf.clear();
  w.got_data = false;
  Json create = {{"key", base64_encode(wire_key(w.key, w.range_end))},
                 {"start_revision", std::to_string(w.next_rev.value())}};
  if (!w.range_end.empty()) create["range_end"] = base64_encode(w.range_end);
  w.request = Json{{"create_request", create}}.dump();
  w.easy = curl_easy_init();
  CURL* h = w.easy;
  const std::string url = w.base + "/v3/watch";
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, w.request.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(w.request.size()));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_stream);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &w.buf);
  curl_easy_setopt(h, CURLOPT_PRIVATE, &w);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(http_.options().connect_timeout.count()));
  // A dead peer without RST is found by TCP keep-alive probes.
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 2L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 2L);
  curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);  // the stream connection is never shared
  w.headers = curl_slist_append(nullptr, "Content-Type: application/json");
  // gRPC metadata through the gateway: etcd cancels the watch if this member loses its leader
  // (clientv3's WithRequireLeader), so a partitioned member cannot silently stall the stream.
  w.headers = curl_slist_append(w.headers, "Grpc-Metadata-hasleader: true");
  w.headers = curl_slist_append(w.headers, "Expect:");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, w.headers);
  curl_multi_add_handle(static_cast<CURLM*>(multi_), h);
  std::lock_guard<std::mutex> l(mu_);
  ++watch_connects_;
}

void EtcdMetaStore::close_stream(Watch& w) {
  if (w.easy == nullptr) return;
  curl_multi_remove_handle(static_cast<CURLM*>(multi_), w.easy);
  curl_easy_cleanup(w.easy);
  curl_slist_free_all(w.headers);
  w.easy = nullptr;
  w.headers = nullptr;
}

// Splits complete lines of w.buf into updates. A broken stream (error line, unexpected cancel)
// closes it; the loop reopens it from w.next_rev.
void EtcdMetaStore::process_lines(Watch& w,
                                  std::vector<std::pair<Watch*, meta::WatchUpdate>>& out) {
  size_t start = 0;
  while (w.easy != nullptr) {
    size_t nl = w.buf.find('\n', start);
    if (nl == std::string::npos) break;
    std::string_view line(w.buf.data() + start, nl - start);
    start = nl + 1;
    if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;
    Json j = Json::parse(line, nullptr, false);
    const Json* res = nullptr;
    if (!j.is_discarded() && j.is_object()) {
      auto it = j.find("result");
      if (it != j.end() && it->is_object()) res = &*it;
    }
    if (res == nullptr) {
      SHALE_LOG_WARN("etcd", "watch {}: stream error '{}', reconnecting", w.id,
                     std::string(line.substr(0, 200)));
      schedule_retry(w);
      close_stream(w);
      break;
    }
    w.got_data = true;
    const int64_t compact = json_int(*res, "compact_revision");
    if (compact > 0) {
      meta::WatchUpdate u;
      u.compacted = true;
      u.compact_revision = Revision(compact);
      out.emplace_back(&w, std::move(u));
      close_stream(w);
      w.ended = true;
      break;
    }
    auto evs = res->find("events");
    if (evs != res->end() && evs->is_array()) {
      meta::WatchUpdate u;
      for (const Json& e : *evs) {
        auto ev = decode_event(e);
        if (!ev.ok()) {
          SHALE_LOG_WARN("etcd", "watch {}: bad event: {}", w.id, ev.error().to_string());
          continue;
        }
        if (ev->kv.mod_revision < w.next_rev) continue;  // already delivered
        u.events.push_back(std::move(ev.value()));
      }
      if (!u.events.empty()) {
        w.next_rev = Revision(u.events.back().kv.mod_revision.value() + 1);
        out.emplace_back(&w, std::move(u));
      }
    }
    if (res->value("canceled", false)) {
      SHALE_LOG_WARN("etcd", "watch {}: canceled by etcd ({}), reconnecting", w.id,
                     res->value("cancel_reason", std::string()));
      schedule_retry(w);
      close_stream(w);
      break;
    }
  }
  w.buf.erase(0, start);
}

// Backoff doubles while streams break before delivering anything, and resets after data.
void EtcdMetaStore::schedule_retry(Watch& w) {
  const EtcdOptions& opts = http_.options();
  w.backoff = w.got_data
                  ? opts.watch_retry_min
                  : std::min(opts.watch_retry_max, std::max(opts.watch_retry_min, w.backoff * 2));
  w.retry_at = Clk::now() + w.backoff;
  w.got_data = false;
  http_.endpoint_failed(w.base);
}

void EtcdMetaStore::watch_loop() {
  CURLM* multi = static_cast<CURLM*>(multi_);
  while (true) {
    std::vector<std::shared_ptr<Watch>> active;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stop_) return;
      for (auto it = watches_.begin(); it != watches_.end();) {
        if (it->second->cancelled || it->second->ended) {
          close_stream(*it->second);
          it = watches_.erase(it);
        } else {
          active.push_back(it->second);
          ++it;
        }
      }
    }
    const auto now = Clk::now();
    for (auto& w : active) {
      if (w->easy == nullptr && now >= w->retry_at) open_stream(*w);
    }
    int running = 0;
    curl_multi_perform(multi, &running);
    // Finished transfers are broken streams (a watch stream never ends on its own).
    int queued = 0;
    while (CURLMsg* m = curl_multi_info_read(multi, &queued)) {
      if (m->msg != CURLMSG_DONE) continue;
      void* priv = nullptr;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
      Watch* w = static_cast<Watch*>(priv);
      SHALE_LOG_INFO("etcd", "watch {}: stream to {} ended ({}), resuming from revision {}", w->id,
                     w->base, curl_easy_strerror(m->data.result), w->next_rev.value());
      schedule_retry(*w);
      w->buf += '\n';      // a final line without newline is still a whole JSON object
      w->request.clear();  // marks the transfer as ended: closed after its lines are parsed
    }
    std::vector<std::pair<Watch*, meta::WatchUpdate>> updates;
    for (auto& w : active) {
      if (w->easy == nullptr) continue;
      process_lines(*w, updates);
      if (w->easy != nullptr && w->request.empty()) close_stream(*w);  // transfer ended
    }
    for (auto& [w, u] : updates) {
      {
        std::lock_guard<std::mutex> l(mu_);
        if (w->cancelled || stop_) continue;
        delivering_ = w->id;
      }
      w->cb(u);
      {
        std::lock_guard<std::mutex> l(mu_);
        delivering_ = 0;
      }
      cv_.notify_all();
    }
    int fds = 0;
    curl_multi_poll(multi, nullptr, 0, 50, &fds);
  }
}

Result<std::unique_ptr<EtcdMetaStore>> open_etcd_store(const std::string& uri, Clock& clock,
                                                       EtcdOptions opts) {
  SHALE_ASSIGN_OR_RETURN(auto endpoints, parse_endpoints(uri));
  return std::make_unique<EtcdMetaStore>(std::move(endpoints), opts, clock);
}

Result<std::unique_ptr<meta::MetaStore>> open_etcd_meta(const std::string& uri, Clock& clock,
                                                        EtcdOptions opts) {
  SHALE_ASSIGN_OR_RETURN(auto s, open_etcd_store(uri, clock, opts));
  return std::unique_ptr<meta::MetaStore>(std::move(s));
}

}  // namespace shale::etcd
