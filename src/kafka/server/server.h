// kafka::Server: the Kafka listener. N event-loop threads, each with its own asio::io_context;
// the acceptor hands connections out round-robin and a connection lives on one loop for life.
// Each connection reads framed requests, dispatches them to registered handlers (handler.h) and
// writes the responses strictly in request order; up to max_inflight_per_connection requests (and
// max_inflight_bytes_per_connection request bytes) of one connection may be in flight
// (pipelining), after which it stops reading.
//
// Ownership: the Server borrows the Broker and the MetricsRegistry; both must outlive it.
// Lifecycle: start() binds and spawns the threads; stop() stops accepting, lets in-flight requests
// finish and their responses go out (up to config.shutdown_drain), closes every connection and
// joins the threads. Call stop() BEFORE stopping the broker: late broker callbacks posted to a
// stopped loop are then dropped safely when the Server is destroyed.
// Thread-safety: start()/stop() from one controlling thread; the accessors from any thread.
#pragma once

#include <cstdint>
#include <memory>

#include "base/result.h"
#include "kafka/server/metrics.h"
#include "kafka/server/server_config.h"

namespace shale::broker {
class Broker;
}  // namespace shale::broker

namespace shale::kafka {

class Server {
 public:
  Server(ServerConfig config, broker::Broker& broker, MetricsRegistry& metrics);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  Status start();
  void stop();  // idempotent

  // The bound port (useful when config.listen_port was 0). Valid after start().
  uint16_t port() const;
  bool serving() const;
  int64_t connection_count() const;
  const ServerConfig& config() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace shale::kafka
