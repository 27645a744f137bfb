// The contract between the Kafka network server and the request handlers.
//
// A handler is a C++20 coroutine that receives one decoded request header plus the raw request
// body (a Buf slice of the received frame, positioned just after the request header) and returns
// the encoded response BODY (everything after the response header). The server owns framing:
// it reads the 4-byte size, parses the request header, writes the size prefix and the response
// header (correlation id, plus the tagged-field byte for flexible versions except ApiVersions),
// and keeps responses in request order.
//
// Each handler lives in its own file under src/kafka/server/handlers/ and registers itself:
//
//   asio::awaitable<Result<ResponseBody>> handle_produce(RequestContext& ctx);
//   SHALE_KAFKA_HANDLER(kProduce, handle_produce, /*min*/ 3, /*max*/ 11);
//
// There is no central list: the handler sources are compiled into an OBJECT library that is
// linked into the binary, so every static registration runs. The advertised ApiVersions range of
// an API is [max(handler min, codec min), min(handler max, codec max)].
//
// Error contract:
//   * Kafka-level errors (unknown topic, invalid config, ...) are encoded in the response body.
//   * A Result error means "this request is malformed or cannot be answered": the server logs
//     it and closes that connection only (what Kafka does on a decode error).
//   * ResponseBody{.no_response = true} sends nothing (Produce with acks=0); ordering of later
//     responses is preserved.
//
// Threading: a handler runs on the event-loop thread that owns the connection and must never
// block (see docs/architecture.md). RequestContext and everything it refers to stay valid until
// the handler's coroutine completes. Handlers of one connection may run concurrently (pipelining)
// but all on the same thread.
#pragma once

#include <asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/buf.h"
#include "base/result.h"
#include "kafka/protocol/gen/headers.h"  // RequestHeader (generated)
#include "kafka/server/api_keys.h"

namespace shale::broker {
class Broker;  // src/broker/broker.h
}  // namespace shale::broker

namespace shale::kafka {

struct ServerConfig;  // kafka/server/server_config.h
class TopicMetrics;   // kafka/server/topic_metrics.h

// Per-connection state visible to handlers. Lives as long as the connection; only touched on
// the connection's event-loop thread.
struct ConnectionInfo {
  uint64_t id = 0;          // unique per server process, for logs
  std::string peer;         // "ip:port" of the client
  unsigned loop_index = 0;  // which event-loop thread owns the connection
  // Authentication state (SASL handshake/authenticate handlers fill these in).
  std::optional<std::string> sasl_mechanism;
  std::optional<std::string> principal;
};

struct ResponseBody {
  // The encoded response body, written to the socket with scatter-gather I/O in this order.
  std::vector<Buf> parts;
  // True: send no response at all (acks=0 produce).
  bool no_response = false;
};

struct RequestContext {
  // The generated header struct: request_api_key, request_api_version, correlation_id, client_id.
  const RequestHeader& header;
  Buf body;  // the request bytes after the request header
  ConnectionInfo& conn;
  broker::Broker& broker;
  const ServerConfig& config;  // node id, advertised address, cluster id, limits
  // Per-topic counters (Produce/Fetch count bytes, records, requests, errors); null in unit
  // tests that do not care.
  TopicMetrics* topic_metrics = nullptr;
};

using HandlerFn = asio::awaitable<Result<ResponseBody>> (*)(RequestContext&);

struct HandlerEntry {
  int16_t api_key = -1;
  int16_t min_version = 0;
  int16_t max_version = -1;
  HandlerFn fn = nullptr;
  const char* name = "";
};

// Process-wide table of registered handlers, filled during static initialisation and read-only
// afterwards (reads need no lock once main() runs).
class HandlerRegistry {
 public:
  static HandlerRegistry& instance();
  // Registers a handler; aborts the process on a duplicate api key (a build error in disguise).
  bool add(const HandlerEntry& e);
  // nullptr when no handler serves this key.
  const HandlerEntry* find(int16_t api_key) const;
  // All entries ordered by api key.
  std::vector<HandlerEntry> entries() const;

 private:
  static constexpr int kMaxApiKey = 128;
  HandlerEntry table_[kMaxApiKey];
};

// Decodes the request body as message type Req at the request's version. A decode failure is
// returned as an error (the server then closes the connection).
template <typename Req>
Result<Req> decode_request(const RequestContext& ctx) {
  Req req;
  Reader r(ctx.body);
  Status st = req.decode(r, ctx.header.request_api_version);
  if (!st.ok()) return Error{Errc::kInvalidArgument, st.message()};
  return req;
}

// Encodes a response message at the request's version into a ResponseBody (large Buf payloads,
// such as record batches, are kept by reference: scatter-gather, no copy).
template <typename Resp>
Result<ResponseBody> encode_response(const RequestContext& ctx, const Resp& resp) {
  Writer w;
  Status st = resp.encode(w, ctx.header.request_api_version);
  if (!st.ok()) return Error{Errc::kInternal, st.message()};
  ResponseBody body;
  body.parts = w.finish_parts();
  return body;
}

}  // namespace shale::kafka

// Registers `fn` as the handler of api key `key` (a name from kafka/server/api_keys.h, e.g.
// kProduce) for request versions [min, max].
#define SHALE_KAFKA_HANDLER(key, fn, min, max)                                                  \
  [[maybe_unused]] static const bool SHALE_KAFKA_HANDLER_CONCAT(shale_handler_reg_, __LINE__) = \
      ::shale::kafka::HandlerRegistry::instance().add(                                          \
          ::shale::kafka::HandlerEntry{::shale::kafka::api_key::key, (min), (max), &(fn), #fn})
#define SHALE_KAFKA_HANDLER_CONCAT_INNER(a, b) a##b
#define SHALE_KAFKA_HANDLER_CONCAT(a, b) SHALE_KAFKA_HANDLER_CONCAT_INNER(a, b)

// Coroutine form of SHALE_RETURN_IF_ERROR for handlers: co_returns the error of a failed
// Status/Result (which closes the connection, see the error contract above).
#define SHALE_CO_RETURN_IF_ERROR(expr)                    \
  do {                                                    \
    auto _st = (expr);                                    \
    if (!_st.ok()) co_return ::shale::Error(_st.error()); \
  } while (0)
