// Settings of the Kafka network server that handlers may read (node identity, advertised
// address, limits). Plain data, filled once at startup and immutable while serving.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace shale::kafka {

struct ServerConfig {
  // Listener.
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 9092;  // 0 = pick a free port (tests)
  // What Metadata tells clients to connect to (empty host = listen_host, 0 port = bound port).
  std::string advertised_host;
  uint16_t advertised_port = 0;

  int32_t node_id = 0;
  std::string data_dir;  // reported by DescribeLogDirs as this broker's one log dir
  std::string cluster_id = "shale-cluster";

  unsigned threads = 0;                           // event-loop threads; 0 = number of cores
  int64_t max_request_bytes = 100 * 1024 * 1024;  // socket.request.max.bytes
  int32_t max_connections = 10000;                // max.connections
  std::chrono::milliseconds idle_timeout{10 * 60 * 1000};  // connections.max.idle.ms
  // Pipelining per connection: reading pauses while this many requests, or this many request
  // bytes, await their answer (one request is always let in, whatever its size). The byte bound
  // keeps a connection's memory bounded when the count is raised for acks=all throughput.
  int32_t max_inflight_per_connection = 64;
  int64_t max_inflight_bytes_per_connection = 64 << 20;
  std::chrono::milliseconds shutdown_drain{5000};  // stop(): wait this long for in-flight work

  // Topic defaults used by Metadata auto-creation and CreateTopics with -1 values.
  bool allow_auto_create_topics = true;  // allow.auto.create.topics
  int32_t default_partitions = 1;        // num.partitions

  const std::string& effective_advertised_host() const {
    return advertised_host.empty() ? listen_host : advertised_host;
  }
};

}  // namespace shale::kafka
