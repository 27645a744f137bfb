// Per-connection framing, pipelined dispatch and in-order response writing.
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/read.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "base/endian.h"
#include "base/log.h"
#include "kafka/protocol/api_table.h"
#include "kafka/protocol/request_header.h"
#include "kafka/server/server_impl.h"
#include "kafka/server/versions.h"

namespace shale::kafka {

namespace {
constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr int16_t kUnsupportedVersion = 35;
// api_key + api_version + correlation_id + client_id length: the smallest request header v1.
constexpr int32_t kMinRequestFrame = 2 + 2 + 4 + 2;
}  // namespace

Connection::Connection(Server::Impl& server, Loop& loop, asio::ip::tcp::socket socket,
                       ConnectionInfo info)
    : server_(server),
      loop_(loop),
      socket_(std::move(socket)),
      info_(std::move(info)),
      reader_wake_(socket_.get_executor()),
      writer_wake_(socket_.get_executor()),
      idle_timer_(socket_.get_executor()),
      last_activity_(std::chrono::steady_clock::now()) {}

void Connection::start() {
  auto self = shared_from_this();
  auto ex = socket_.get_executor();
  asio::co_spawn(
      ex, [self]() { return self->read_loop(); }, asio::detached);
  asio::co_spawn(
      ex, [self]() { return self->write_loop(); }, asio::detached);
  asio::co_spawn(
      ex, [self]() { return self->idle_watchdog(); }, asio::detached);
}

asio::awaitable<void> Connection::wait(asio::steady_timer& t) {
  t.expires_at(asio::steady_timer::time_point::max());
  co_await t.async_wait(kAsTuple);
}

void Connection::begin_drain() {
  if (closed_ || draining_) return;
  draining_ = true;
  // Wakes a reader blocked in read(): it sees EOF and stops; the writer finishes what is owed.
  asio::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_receive, ec);
  wake(reader_wake_);
  wake(writer_wake_);
}

void Connection::close(const char* why) {
  if (closed_) return;
  closed_ = true;
  SHALE_LOG_DEBUG("kafka", "conn {} {} closed: {}", info_.id, info_.peer, why);
  asio::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  wake(reader_wake_);
  wake(writer_wake_);
  idle_timer_.cancel();
  loop_.conns.erase(info_.id);
  server_.metrics.connections.add(-1);
  server_.live_connections.fetch_sub(1, std::memory_order_relaxed);
}

asio::awaitable<void> Connection::read_loop() {
  auto self = shared_from_this();
  const size_t max_inflight =
      static_cast<size_t>(std::max(1, server_.config.max_inflight_per_connection));
  const size_t max_bytes =
      static_cast<size_t>(std::max<int64_t>(1, server_.config.max_inflight_bytes_per_connection));
  auto full = [&] {
    return queue_.size() >= max_inflight || (!queue_.empty() && queued_bytes_ >= max_bytes);
  };
  uint8_t size_buf[4];
  while (!closed_ && !draining_) {
    while (full() && !closed_ && !draining_) co_await wait(reader_wake_);
    if (closed_ || draining_) break;
    auto [ec, n] = co_await asio::async_read(socket_, asio::buffer(size_buf), kAsTuple);
    if (ec) break;  // EOF, reset, or closed by us
    last_activity_ = std::chrono::steady_clock::now();
    const int32_t size = load_be<int32_t>(size_buf);
    if (size < kMinRequestFrame || size > server_.config.max_request_bytes) {
      SHALE_LOG_WARN("kafka",
                     "conn {} {}: request size {} outside [{}, {}] (socket.request.max.bytes); "
                     "closing connection",
                     info_.id, info_.peer, size, kMinRequestFrame,
                     server_.config.max_request_bytes);
      server_.metrics.protocol_errors.inc();
      close("bad request size");
      co_return;
    }
    // Not zero-filled: the read below overwrites every byte (the memset cost ~30% of the
    // broker's user-space instructions under produce load).
    Buf frame;
    try {
      frame = Buf::uninitialized(static_cast<size_t>(size));
    } catch (const std::bad_alloc&) {  // a huge frame under memory pressure: drop this client
      SHALE_LOG_WARN("kafka", "conn {} {}: cannot allocate {} bytes for a request; closing",
                     info_.id, info_.peer, size);
      close("out of memory");
      co_return;
    }
    auto [ec2, n2] = co_await asio::async_read(
        socket_, asio::buffer(frame.mutable_data(), frame.size()), kAsTuple);
    if (ec2) break;
    last_activity_ = std::chrono::steady_clock::now();
    server_.metrics.bytes_in.inc(4 + static_cast<uint64_t>(size));
    if (!dispatch(std::move(frame))) {
      server_.metrics.protocol_errors.inc();
      close("protocol error");
      co_return;
    }
  }
  reading_done_ = true;
  wake(writer_wake_);
}

void Connection::queue_ready(RequestHeader header, Buf response_body) {
  auto slot = std::make_shared<Slot>();
  slot->header = std::move(header);
  slot->done = true;
  ResponseBody body;
  body.parts.push_back(std::move(response_body));
  slot->result.emplace(std::move(body));
  queue_.push_back(std::move(slot));
  wake(writer_wake_);
}

bool Connection::dispatch(Buf frame) {
  auto parsed = parse_request_header(frame);
  if (!parsed.ok()) {
    SHALE_LOG_WARN("kafka", "conn {} {}: bad request header: {}; closing connection", info_.id,
                   info_.peer, parsed.error().to_string());
    return false;
  }
  const RequestHeader& h0 = parsed->header;
  const int16_t key = h0.request_api_key;
  const int16_t version = h0.request_api_version;
  const HandlerEntry* handler = HandlerRegistry::instance().find(key);
  auto range = advertised_api(key);
  if (handler == nullptr || !range) {
    SHALE_LOG_WARN("kafka",
                   "conn {} {}: unknown or unsupported api key {} (correlation id {}); "
                   "closing connection",
                   info_.id, info_.peer, key, h0.correlation_id);
    return false;
  }
  if (version < range->min_version || version > range->max_version) {
    if (key == api_key::kApiVersions) {
      // Down-negotiation: answer in v0 format, listing our ranges (the client retries lower).
      SHALE_LOG_DEBUG("kafka", "conn {}: ApiVersions v{} unsupported, answering v0 error 35",
                      info_.id, version);
      server_.metrics.api(key).requests->inc();
      RequestHeader h = h0;
      h.request_api_version = 0;  // the answer is a v0 response (header v0)
      queue_ready(std::move(h), encode_api_versions_body(0, kUnsupportedVersion));
      return true;
    }
    SHALE_LOG_WARN("kafka", "conn {} {}: {} v{} unsupported (we serve v{}-v{}); closing connection",
                   info_.id, info_.peer, api_name(key), version, range->min_version,
                   range->max_version);
    return false;
  }
  auto slot = std::make_shared<Slot>();
  slot->request_bytes = frame.size();
  queued_bytes_ += slot->request_bytes;
  slot->header = std::move(parsed->header);
  slot->body = std::move(parsed->body);
  slot->handler = handler;
  slot->started = std::chrono::steady_clock::now();
  queue_.push_back(slot);
  server_.metrics.api(key).requests->inc();
  if (Counter* c = server_.metrics.version(key, version)) c->inc();
  auto self = shared_from_this();
  asio::co_spawn(
      socket_.get_executor(), [self, slot]() { return self->run_handler(slot); }, asio::detached);
  return true;
}

asio::awaitable<void> Connection::run_handler(std::shared_ptr<Slot> slot) {
  auto self = shared_from_this();
  RequestContext ctx{slot->header,   slot->body,     info_,
                     server_.broker, server_.config, &server_.topic_metrics};
  try {
    slot->result.emplace(co_await slot->handler->fn(ctx));
  } catch (const std::exception& e) {
    slot->result.emplace(Error{Errc::kInternal, std::string("handler threw: ") + e.what()});
  } catch (...) {
    slot->result.emplace(Error{Errc::kInternal, "handler threw a non-standard exception"});
  }
  const auto& m = server_.metrics.api(slot->header.request_api_key);
  m.latency->observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - slot->started).count());
  if (!slot->result->ok()) m.errors->inc();
  slot->done = true;
  wake(writer_wake_);
}

asio::awaitable<void> Connection::write_loop() {
  auto self = shared_from_this();
  std::vector<asio::const_buffer> bufs;
  uint8_t header[9];
  for (;;) {
    while (!closed_ && (queue_.empty() || !queue_.front()->done)) {
      if (reading_done_ && queue_.empty()) {
        close(draining_ ? "drained" : "client closed");
        co_return;
      }
      co_await wait(writer_wake_);
    }
    if (closed_) co_return;
    std::shared_ptr<Slot> slot = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= slot->request_bytes;
    wake(reader_wake_);
    Result<ResponseBody>& res = *slot->result;
    if (!res.ok()) {
      SHALE_LOG_WARN("kafka", "conn {} {}: {} v{} correlation id {} failed: {}; closing connection",
                     info_.id, info_.peer, api_name(slot->header.request_api_key),
                     slot->header.request_api_version, slot->header.correlation_id,
                     res.error().to_string());
      server_.metrics.protocol_errors.inc();
      close("handler error");
      co_return;
    }
    if (res->no_response) continue;
    // Response header: int32 size, int32 correlation id, [tagged fields (empty) if flexible].
    const ApiInfo* api = find_api(slot->header.request_api_key);
    const bool flex = api && api->response_header_version(slot->header.request_api_version) == 1;
    size_t header_len = flex ? 9 : 8;
    size_t total = header_len - 4;
    for (const Buf& p : res->parts) total += p.size();
    store_be<int32_t>(header, static_cast<int32_t>(total));
    store_be<int32_t>(header + 4, slot->header.correlation_id);
    header[8] = 0;
    bufs.clear();
    bufs.emplace_back(header, header_len);
    for (const Buf& p : res->parts) {
      if (!p.empty()) bufs.emplace_back(p.data(), p.size());
    }
    auto [ec, n] = co_await asio::async_write(socket_, bufs, kAsTuple);
    if (ec) {
      close("write failed");
      co_return;
    }
    server_.metrics.bytes_out.inc(n);
    last_activity_ = std::chrono::steady_clock::now();
  }
}

asio::awaitable<void> Connection::idle_watchdog() {
  auto self = shared_from_this();
  const auto idle = server_.config.idle_timeout;
  while (!closed_) {
    idle_timer_.expires_at(last_activity_ + idle);
    auto [ec] = co_await idle_timer_.async_wait(kAsTuple);
    if (closed_) co_return;
    if (ec) continue;
    if (queue_.empty() && std::chrono::steady_clock::now() - last_activity_ >= idle) {
      SHALE_LOG_INFO("kafka", "conn {} {}: idle for {} ms (connections.max.idle.ms); closing",
                     info_.id, info_.peer, idle.count());
      close("idle");
      co_return;
    }
    if (!queue_.empty()) last_activity_ = std::chrono::steady_clock::now();
  }
}

}  // namespace shale::kafka
