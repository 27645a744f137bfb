// Private to the server library: the asio-heavy internals of Server (loops, connections,
// per-API metrics). Not to be included outside src/kafka/server.
#pragma once

#include <array>
#include <asio/awaitable.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "kafka/server/handler.h"
#include "kafka/server/metrics.h"
#include "kafka/server/server.h"
#include "kafka/server/topic_metrics.h"

namespace shale::kafka {

// Server metrics, resolved once so the hot path touches only atomics.
struct ServerMetrics {
  explicit ServerMetrics(MetricsRegistry& r);
  struct PerApi {
    Counter* requests = nullptr;
    Counter* errors = nullptr;  // requests whose handler failed (connection closed)
    Histogram* latency = nullptr;
  };
  const PerApi& api(int16_t key) const;
  // kafka_requests_by_version_total{api,version}: which versions clients negotiated. nullptr
  // outside the advertised range (such requests are refused before being counted).
  Counter* version(int16_t key, int16_t v) const;

  Gauge& connections;
  Counter& connections_accepted;
  Counter& connections_rejected;
  Counter& protocol_errors;  // frames that closed their connection
  Counter& bytes_in;
  Counter& bytes_out;
  PerApi unknown;
  std::array<PerApi, 128> per_api{};
  std::array<std::vector<Counter*>, 128> per_version{};  // [key][version - advertised min]
  std::array<int16_t, 128> min_version{};
};

class Connection;

// One event-loop thread. `conns` is only touched on the loop's own thread.
struct Loop {
  asio::io_context ctx{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::thread thread;
  std::unordered_map<uint64_t, std::weak_ptr<Connection>> conns;
};

struct Server::Impl {
  Impl(ServerConfig c, broker::Broker& b, MetricsRegistry& m);
  ~Impl();

  asio::awaitable<void> accept_loop();
  void drain_all();  // posts begin_drain to every connection
  void close_all();  // posts close to every connection

  ServerConfig config;
  broker::Broker& broker;
  ServerMetrics metrics;
  MetricsRegistry& registry;
  TopicMetrics topic_metrics;
  uint64_t partition_collector = 0;  // the per-partition gauges' collector id, 0 = none
  std::vector<std::unique_ptr<Loop>> loops;
  std::optional<asio::ip::tcp::acceptor> acceptor;  // lives on loops[0]
  std::atomic<uint16_t> port{0};
  std::atomic<bool> serving{false};
  std::atomic<bool> stopped{false};
  std::atomic<int64_t> live_connections{0};
  std::atomic<uint64_t> next_conn_id{1};
  size_t next_loop = 0;  // accept loop only
};

// One client connection. Owned by shared_ptrs held by its own coroutines (reader, writer,
// watchdog, running handlers); dies when the last of them finishes. Single-threaded: every
// member is touched only on the owning loop's thread.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Server::Impl& server, Loop& loop, asio::ip::tcp::socket socket, ConnectionInfo info);
  void start();
  // Stops reading new requests; closes after the responses already owed are written.
  void begin_drain();
  void close(const char* why);

 private:
  struct Slot {
    RequestHeader header;
    Buf body;
    const HandlerEntry* handler = nullptr;
    bool done = false;
    std::optional<Result<ResponseBody>> result;
    std::chrono::steady_clock::time_point started;
    size_t request_bytes = 0;  // the frame's size: counted in queued_bytes_ until answered
  };

  asio::awaitable<void> read_loop();
  asio::awaitable<void> write_loop();
  asio::awaitable<void> idle_watchdog();
  asio::awaitable<void> run_handler(std::shared_ptr<Slot> slot);
  // Validates one frame and queues it; false = the connection must close.
  bool dispatch(Buf frame);
  void queue_ready(RequestHeader header, Buf response_body);
  static asio::awaitable<void> wait(asio::steady_timer& t);
  static void wake(asio::steady_timer& t) { t.cancel(); }

  Server::Impl& server_;
  Loop& loop_;
  asio::ip::tcp::socket socket_;
  ConnectionInfo info_;
  asio::steady_timer reader_wake_;
  asio::steady_timer writer_wake_;
  asio::steady_timer idle_timer_;
  std::deque<std::shared_ptr<Slot>> queue_;  // requests in arrival order, awaiting their answer
  size_t queued_bytes_ = 0;                  // sum of queue_'s request_bytes
  std::chrono::steady_clock::time_point last_activity_;
  bool reading_done_ = false;
  bool draining_ = false;
  bool closed_ = false;
};

}  // namespace shale::kafka
