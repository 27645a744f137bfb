// Server: event-loop threads, the acceptor, start/stop and the per-API metrics.
#include "kafka/server/server.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include "base/log.h"
#include "kafka/server/server_impl.h"
#include "kafka/server/versions.h"

namespace shale::kafka {

ServerMetrics::ServerMetrics(MetricsRegistry& r)
    : connections(r.gauge("kafka_connections", "Open Kafka client connections")),
      connections_accepted(
          r.counter("kafka_connections_accepted_total", "Kafka connections accepted")),
      connections_rejected(r.counter("kafka_connections_rejected_total",
                                     "Connections closed at once because max.connections was hit")),
      protocol_errors(r.counter("kafka_protocol_errors_total",
                                "Requests that closed their connection (malformed, oversize, "
                                "unknown API or version, handler error)")),
      bytes_in(r.counter("kafka_bytes_in_total", "Request bytes received, framing included")),
      bytes_out(r.counter("kafka_bytes_out_total", "Response bytes sent, framing included")) {
  auto make = [&r](const std::string& api) {
    PerApi p;
    Labels l = {{"api", api}};
    p.requests = &r.counter("kafka_requests_total", "Kafka requests received, by API", l);
    p.errors = &r.counter("kafka_request_errors_total",
                          "Kafka requests whose handler failed (connection closed), by API", l);
    p.latency = &r.histogram("kafka_request_latency_seconds",
                             "Time from a request's arrival to its handler's completion, by API",
                             latency_buckets_seconds(), l);
    return p;
  };
  unknown = make("Unknown");
  for (auto& p : per_api) p = unknown;
  for (const auto& e : HandlerRegistry::instance().entries()) {
    if (static_cast<size_t>(e.api_key) < per_api.size())
      per_api[e.api_key] = make(api_name(e.api_key));
  }
  for (const auto& a : advertised_apis()) {
    if (a.api_key < 0 || static_cast<size_t>(a.api_key) >= per_version.size()) continue;
    min_version[a.api_key] = a.min_version;
    for (int16_t v = a.min_version; v <= a.max_version; ++v) {
      per_version[a.api_key].push_back(
          &r.counter("kafka_requests_by_version_total",
                     "Kafka requests received, by API and negotiated version",
                     {{"api", api_name(a.api_key)}, {"version", std::to_string(v)}}));
    }
  }
}

Counter* ServerMetrics::version(int16_t key, int16_t v) const {
  if (key < 0 || static_cast<size_t>(key) >= per_version.size()) return nullptr;
  const auto& vs = per_version[key];
  const int i = v - min_version[key];
  return i >= 0 && static_cast<size_t>(i) < vs.size() ? vs[i] : nullptr;
}

Server::Impl::Impl(ServerConfig c, broker::Broker& b, MetricsRegistry& m)
    : config(std::move(c)), broker(b), metrics(m), registry(m), topic_metrics(m) {
  if (PartitionRenderer render = partition_renderer()) {
    partition_collector = registry.add_collector([render, &b] { return render(b); });
  }
}

Server::Impl::~Impl() {
  if (partition_collector) registry.remove_collector(partition_collector);
}

const ServerMetrics::PerApi& ServerMetrics::api(int16_t key) const {
  if (key < 0 || static_cast<size_t>(key) >= per_api.size()) return unknown;
  return per_api[key];
}

Server::Server(ServerConfig config, broker::Broker& broker, MetricsRegistry& metrics)
    : impl_(std::make_unique<Impl>(std::move(config), broker, metrics)) {}

Server::~Server() {
  stop();
}

uint16_t Server::port() const {
  return impl_->port.load();
}
bool Server::serving() const {
  return impl_->serving.load();
}
int64_t Server::connection_count() const {
  return impl_->live_connections.load();
}
const ServerConfig& Server::config() const {
  return impl_->config;
}

Status Server::start() {
  Impl& s = *impl_;
  unsigned n =
      s.config.threads ? s.config.threads : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) s.loops.push_back(std::make_unique<Loop>());

  asio::error_code ec;
  auto addr = asio::ip::make_address(s.config.listen_host, ec);
  if (ec) {
    return Status(Errc::kInvalidArgument,
                  fmt::format("listen host '{}' is not an IP address", s.config.listen_host));
  }
  asio::ip::tcp::endpoint ep(addr, s.config.listen_port);
  s.acceptor.emplace(s.loops[0]->ctx);
  s.acceptor->open(ep.protocol(), ec);
  if (!ec) s.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor->bind(ep, ec);
  if (!ec) s.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    s.acceptor.reset();
    return Status(Errc::kIoError, fmt::format("listen on {}:{}: {}", s.config.listen_host,
                                              s.config.listen_port, ec.message()));
  }
  s.port = s.acceptor->local_endpoint().port();
  // Handlers read the config: fill in what Metadata advertises before any thread runs.
  if (s.config.advertised_host.empty()) s.config.advertised_host = s.config.listen_host;
  if (s.config.advertised_port == 0) s.config.advertised_port = s.port;
  asio::co_spawn(s.loops[0]->ctx, s.accept_loop(), asio::detached);
  for (unsigned i = 0; i < n; ++i) {
    Loop& loop = *s.loops[i];
    loop.guard.emplace(loop.ctx.get_executor());
    loop.thread = std::thread([&loop] { loop.ctx.run(); });
  }
  s.serving = true;
  SHALE_LOG_INFO("kafka", "listening on {}:{} with {} event loop(s), node id {}",
                 s.config.listen_host, s.port.load(), n, s.config.node_id);
  return Status();
}

asio::awaitable<void> Server::Impl::accept_loop() {
  constexpr auto as_tuple = asio::experimental::as_tuple(asio::use_awaitable);
  while (acceptor && acceptor->is_open()) {
    Loop& target = *loops[next_loop];
    next_loop = (next_loop + 1) % loops.size();
    auto [ec, sock] = co_await acceptor->async_accept(target.ctx, as_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
      SHALE_LOG_WARN("kafka", "accept failed: {}", ec.message());
      continue;  // e.g. EMFILE: keep serving the connections we have
    }
    asio::error_code ignored;
    auto remote = sock.remote_endpoint(ignored);
    std::string peer = fmt::format("{}:{}", remote.address().to_string(), remote.port());
    if (live_connections.load() >= config.max_connections) {
      SHALE_LOG_WARN("kafka", "connection from {} refused: {} connections open (max.connections)",
                     peer, live_connections.load());
      metrics.connections_rejected.inc();
      sock.close(ignored);
      continue;
    }
    sock.set_option(asio::ip::tcp::no_delay(true), ignored);
    live_connections.fetch_add(1);
    metrics.connections.add(1);
    metrics.connections_accepted.inc();
    ConnectionInfo info;
    info.id = next_conn_id.fetch_add(1);
    info.peer = std::move(peer);
    for (size_t i = 0; i < loops.size(); ++i) {
      if (loops[i].get() == &target) info.loop_index = static_cast<unsigned>(i);
    }
    // Hand the socket to its loop; the connection is created and started there.
    asio::post(target.ctx, [this, &target, s = std::move(sock), info = std::move(info)]() mutable {
      if (stopped.load()) {
        asio::error_code e;
        s.close(e);
        live_connections.fetch_sub(1);
        metrics.connections.add(-1);
        return;
      }
      auto conn = std::make_shared<Connection>(*this, target, std::move(s), info);
      target.conns.emplace(info.id, conn);
      SHALE_LOG_DEBUG("kafka", "conn {} {} accepted on loop {}", info.id, info.peer,
                      info.loop_index);
      conn->start();
    });
  }
}

void Server::Impl::drain_all() {
  for (auto& lp : loops) {
    Loop& loop = *lp;
    asio::post(loop.ctx, [&loop] {
      std::vector<std::shared_ptr<Connection>> live;
      for (auto& [id, w] : loop.conns) {
        if (auto c = w.lock()) live.push_back(std::move(c));
      }
      for (auto& c : live) c->begin_drain();
    });
  }
}

void Server::Impl::close_all() {
  for (auto& lp : loops) {
    Loop& loop = *lp;
    asio::post(loop.ctx, [&loop] {
      std::vector<std::shared_ptr<Connection>> live;
      for (auto& [id, w] : loop.conns) {
        if (auto c = w.lock()) live.push_back(std::move(c));
      }
      for (auto& c : live) c->close("server stopping");
    });
  }
}

void Server::stop() {
  Impl& s = *impl_;
  if (s.stopped.exchange(true)) return;
  s.serving = false;
  if (s.loops.empty()) return;
  if (s.acceptor) {
    asio::post(s.loops[0]->ctx, [&s] {
      asio::error_code ec;
      if (s.acceptor) s.acceptor->close(ec);
    });
  }
  s.drain_all();
  const auto deadline = std::chrono::steady_clock::now() + s.config.shutdown_drain;
  while (s.live_connections.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (s.live_connections.load() > 0) {
    SHALE_LOG_WARN("kafka", "{} connection(s) still busy after {} ms drain; closing them",
                   s.live_connections.load(), s.config.shutdown_drain.count());
    s.close_all();
  }
  for (auto& lp : s.loops) {
    lp->guard.reset();
    lp->ctx.stop();
  }
  for (auto& lp : s.loops) {
    if (lp->thread.joinable()) lp->thread.join();
  }
  SHALE_LOG_INFO("kafka", "server stopped");
}

}  // namespace shale::kafka
