// Server core tests over real loopback sockets: framing, ApiVersions negotiation, pipelining
// order, limits, and that a bad connection never harms the others.
#include "kafka/server/server.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <chrono>
#include <thread>

#include "base/endian.h"
#include "kafka/server/handler.h"
#include "kafka/server/tests/raw_client.h"
#include "kafka/server/topic_metrics.h"

namespace shale::kafka {
namespace {

using testing::RawClient;

// Test-only handlers on group api keys (this test links only the ApiVersions handler).
// Heartbeat (12, v4 only, flexible): body = int32 delay ms, int32 tag; answers the tag after the
// delay.
// g_running / g_max_running: how many run at once (pipelining limits).
std::atomic<int> g_running{0};
std::atomic<int> g_max_running{0};
asio::awaitable<Result<ResponseBody>> handle_delay_echo(RequestContext& ctx) {
  if (ctx.body.size() < 8) co_return Error{Errc::kInvalidArgument, "short"};
  int32_t delay = load_be<int32_t>(ctx.body.data());
  const int now = g_running.fetch_add(1) + 1;
  int seen = g_max_running.load();
  while (now > seen && !g_max_running.compare_exchange_weak(seen, now)) {
  }
  if (delay > 0) {
    asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(delay));
    co_await t.async_wait(asio::use_awaitable);
  }
  g_running.fetch_sub(1);
  ResponseBody r;
  r.parts.push_back(ctx.body.slice(4, 4));
  co_return r;
}
SHALE_KAFKA_HANDLER(kHeartbeat, handle_delay_echo, 4, 4);

// LeaveGroup (13, v4 only, flexible): body int8 mode: 0 = no response, 1 = handler error, 2 =
// two-part body.
asio::awaitable<Result<ResponseBody>> handle_modes(RequestContext& ctx) {
  if (ctx.body.size() < 1) co_return Error{Errc::kInvalidArgument, "short"};
  ResponseBody r;
  switch (ctx.body[0]) {
    case 0:
      r.no_response = true;
      break;
    case 1:
      co_return Error{Errc::kInvalidArgument, "malformed on purpose"};
    default:
      r.parts.push_back(Buf::copy("ab"));
      r.parts.push_back(Buf::copy("cd"));
  }
  co_return r;
}
SHALE_KAFKA_HANDLER(kLeaveGroup, handle_modes, 4, 4);

alignas(64) unsigned char g_no_broker[64];
broker::Broker& no_broker() {
  return *reinterpret_cast<broker::Broker*>(g_no_broker);
}

class ServerTest : public ::testing::Test {
 protected:
  void start(ServerConfig cfg = {}) {
    cfg.listen_port = 0;
    cfg.threads = 2;
    server_ = std::make_unique<Server>(cfg, no_broker(), metrics_);
    ASSERT_TRUE(server_->start().ok());
  }
  void SetUp() override {}
  void TearDown() override {
    if (server_) server_->stop();
  }
  std::vector<uint8_t> echo_body(int32_t delay, int32_t tag) {
    std::vector<uint8_t> b;
    RawClient::put32(b, delay);
    RawClient::put32(b, tag);
    return b;
  }
  // Waits (bounded) until the server counts `n` live connections.
  bool wait_connections(int64_t n) {
    for (int i = 0; i < 400; ++i) {
      if (server_->connection_count() == n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }
  MetricsRegistry metrics_;
  std::unique_ptr<Server> server_;
};

int16_t be16(const std::vector<uint8_t>& v, size_t off) {
  return load_be<int16_t>(v.data() + off);
}
int32_t be32(const std::vector<uint8_t>& v, size_t off) {
  return load_be<int32_t>(v.data() + off);
}

TEST_F(ServerTest, ApiVersionsV0ListsRegisteredApis) {
  start();
  RawClient c(server_->port());
  ASSERT_TRUE(c.send_request(18, 0, 42, {}));
  auto r = c.read_frame();
  ASSERT_TRUE(r);
  EXPECT_EQ(be32(*r, 0), 42);  // correlation id
  EXPECT_EQ(be16(*r, 4), 0);   // error code
  int32_t n = be32(*r, 6);
  ASSERT_EQ(r->size(), 10u + 6u * n);
  bool found = false;
  for (int32_t i = 0; i < n; ++i) {
    if (be16(*r, 10 + 6 * i) == 18) {
      found = true;
      EXPECT_EQ(be16(*r, 12 + 6 * i), 0);
      EXPECT_EQ(be16(*r, 14 + 6 * i), 4);
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(ServerTest, ApiVersionsV3IsFlexibleWithV0ResponseHeader) {
  start();
  RawClient c(server_->port());
  // client_software_name "t", version "1" (compact strings), no tags.
  ASSERT_TRUE(c.send_request(18, 3, 7, {2, 't', 2, '1', 0}, /*flexible_header=*/true));
  auto r = c.read_frame();
  ASSERT_TRUE(r);
  EXPECT_EQ(be32(*r, 0), 7);
  EXPECT_EQ(be16(*r, 4), 0);  // error code directly after the correlation id: header v0
  uint8_t count_plus_one = (*r)[6];
  ASSERT_GT(count_plus_one, 1);
  // entries of 7 bytes (key, min, max, tags), then throttle (4) and tags (1).
  EXPECT_EQ(r->size(), 7u + 7u * (count_plus_one - 1) + 5u);
}

TEST_F(ServerTest, ApiVersionsTooNewGetsUnsupportedVersionInV0Format) {
  start();
  RawClient c(server_->port());
  ASSERT_TRUE(c.send_request(18, 99, 5, {0, 0}, true));
  auto r = c.read_frame();
  ASSERT_TRUE(r);
  EXPECT_EQ(be32(*r, 0), 5);
  EXPECT_EQ(be16(*r, 4), 35);
  int32_t n = be32(*r, 6);
  EXPECT_EQ(r->size(), 10u + 6u * n);  // v0 layout: no throttle, no tags
  // The connection stays usable: negotiate down.
  ASSERT_TRUE(c.send_request(18, 2, 6, {}));
  auto r2 = c.read_frame();
  ASSERT_TRUE(r2);
  EXPECT_EQ(be32(*r2, 0), 6);
  EXPECT_EQ(be16(*r2, 4), 0);
}

TEST_F(ServerTest, PipelinedResponsesComeBackInRequestOrder) {
  start();
  RawClient c(server_->port());
  // Later requests finish first; responses must still follow request order.
  const int32_t delays[] = {120, 80, 40, 0, 10};
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(c.send_request(12, 4, 100 + i, echo_body(delays[i], i), true));
  for (int i = 0; i < 5; ++i) {
    auto r = c.read_frame();
    ASSERT_TRUE(r);
    EXPECT_EQ(be32(*r, 0), 100 + i);
    EXPECT_EQ((*r)[4], 0);  // flexible response header: empty tags
    EXPECT_EQ(be32(*r, 5), i);
  }
}

TEST_F(ServerTest, PipelineDeeperThanInflightLimitStillAnswersAll) {
  ServerConfig cfg;
  cfg.max_inflight_per_connection = 2;
  start(cfg);
  RawClient c(server_->port());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(c.send_request(12, 4, i, echo_body(i % 3, i), true));
  for (int i = 0; i < 20; ++i) {
    auto r = c.read_frame();
    ASSERT_TRUE(r);
    EXPECT_EQ(be32(*r, 0), i);
  }
}

// The byte bound pauses reading like the count bound: with room for one request's bytes, the
// handlers of one connection run one at a time; with the defaults they overlap.
TEST_F(ServerTest, InflightByteBoundSerializesBigRequests) {
  for (const int64_t bound : {int64_t{1}, ServerConfig{}.max_inflight_bytes_per_connection}) {
    SCOPED_TRACE(bound);
    ServerConfig cfg;
    cfg.max_inflight_bytes_per_connection = bound;  // 1: below any frame
    start(cfg);
    g_max_running = 0;
    RawClient c(server_->port());
    for (int i = 0; i < 6; ++i) ASSERT_TRUE(c.send_request(12, 4, i, echo_body(20, i), true));
    for (int i = 0; i < 6; ++i) {
      auto r = c.read_frame();
      ASSERT_TRUE(r);
      EXPECT_EQ(be32(*r, 0), i);
    }
    if (bound == 1) {
      EXPECT_EQ(g_max_running.load(), 1);
    } else {
      EXPECT_GT(g_max_running.load(), 1);
    }
    server_->stop();
    server_.reset();
  }
}

TEST_F(ServerTest, NoResponseKeepsOrderAndMultiPartBodiesAreConcatenated) {
  start();
  RawClient c(server_->port());
  ASSERT_TRUE(c.send_request(13, 4, 1, {0}, true));  // no response
  ASSERT_TRUE(c.send_request(13, 4, 2, {2}, true));  // "abcd"
  auto r = c.read_frame();
  ASSERT_TRUE(r);
  EXPECT_EQ(be32(*r, 0), 2);
  EXPECT_EQ(std::string(r->begin() + 5, r->end()), "abcd");
}

TEST_F(ServerTest, BadConnectionsAreClosedAndOthersKeepWorking) {
  start();
  RawClient good(server_->port());
  ASSERT_TRUE(good.connected());

  RawClient oversize(server_->port());
  std::vector<uint8_t> big_size;
  RawClient::put32(big_size, 200 * 1024 * 1024);
  ASSERT_TRUE(oversize.send_raw(big_size));
  EXPECT_TRUE(oversize.closed_by_peer());

  RawClient negative(server_->port());
  std::vector<uint8_t> neg;
  RawClient::put32(neg, -5);
  ASSERT_TRUE(negative.send_raw(neg));
  EXPECT_TRUE(negative.closed_by_peer());

  RawClient unknown(server_->port());
  ASSERT_TRUE(unknown.send_request(999, 0, 1, {}));
  EXPECT_TRUE(unknown.closed_by_peer());

  RawClient bad_version(server_->port());
  ASSERT_TRUE(bad_version.send_request(12, 7, 1, echo_body(0, 0), true));
  EXPECT_TRUE(bad_version.closed_by_peer());

  RawClient truncated_header(server_->port());  // client_id length runs past the frame
  ASSERT_TRUE(truncated_header.send_raw({0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0, 50}));
  EXPECT_TRUE(truncated_header.closed_by_peer());

  RawClient handler_error(server_->port());
  ASSERT_TRUE(handler_error.send_request(13, 4, 1, {1}, true));
  EXPECT_TRUE(handler_error.closed_by_peer());

  ASSERT_TRUE(good.send_request(18, 1, 9, {}));
  auto r = good.read_frame();
  ASSERT_TRUE(r);
  EXPECT_EQ(be32(*r, 0), 9);
  EXPECT_EQ(be16(*r, 4), 0);
  EXPECT_NE(metrics_.render().find("kafka_protocol_errors_total 6"), std::string::npos)
      << metrics_.render();
}

TEST_F(ServerTest, ConnectionLimitClosesExcessConnections) {
  ServerConfig cfg;
  cfg.max_connections = 2;
  start(cfg);
  RawClient a(server_->port()), b(server_->port());
  ASSERT_TRUE(wait_connections(2));
  RawClient c(server_->port());
  EXPECT_TRUE(c.closed_by_peer());
  ASSERT_TRUE(a.send_request(18, 0, 1, {}));
  EXPECT_TRUE(a.read_frame());
}

TEST_F(ServerTest, IdleConnectionsAreClosed) {
  ServerConfig cfg;
  cfg.idle_timeout = std::chrono::milliseconds(150);
  start(cfg);
  RawClient c(server_->port());
  ASSERT_TRUE(c.send_request(18, 0, 1, {}));
  ASSERT_TRUE(c.read_frame());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(100));
  EXPECT_TRUE(wait_connections(0));
}

TEST_F(ServerTest, StopDrainsInFlightRequests) {
  start();
  RawClient c(server_->port());
  ASSERT_TRUE(c.send_request(12, 4, 77, echo_body(200, 3), true));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // request is in the handler
  server_->stop();
  auto r = c.read_frame();
  ASSERT_TRUE(r) << "in-flight response was dropped by stop()";
  EXPECT_EQ(be32(*r, 0), 77);
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_FALSE(server_->serving());
}

TEST_F(ServerTest, MetricsCountRequestsPerApi) {
  start();
  RawClient c(server_->port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send_request(18, 0, i, {}));
    ASSERT_TRUE(c.read_frame());
  }
  std::string text = metrics_.render();
  EXPECT_NE(text.find("kafka_requests_total{api=\"ApiVersions\"} 3"), std::string::npos) << text;
  EXPECT_NE(text.find("kafka_request_latency_seconds_count{api=\"ApiVersions\"} 3"),
            std::string::npos);
  EXPECT_NE(text.find("kafka_connections 1"), std::string::npos);
  // By negotiated version: all three were v0; v1 has a series but no requests.
  EXPECT_NE(text.find("kafka_requests_by_version_total{api=\"ApiVersions\",version=\"0\"} 3"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("kafka_requests_by_version_total{api=\"ApiVersions\",version=\"1\"} 0"),
            std::string::npos);
}

TEST(MetricsTest, HistogramBucketsAreCumulativeInText) {
  MetricsRegistry r;
  auto& h = r.histogram("x_seconds", "help", {0.1, 1.0});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  std::string t = r.render();
  EXPECT_NE(t.find("x_seconds_bucket{le=\"0.1\"} 1"), std::string::npos) << t;
  EXPECT_NE(t.find("x_seconds_bucket{le=\"1\"} 2"), std::string::npos) << t;
  EXPECT_NE(t.find("x_seconds_bucket{le=\"+Inf\"} 3"), std::string::npos) << t;
  EXPECT_NE(t.find("x_seconds_count 3"), std::string::npos) << t;
  EXPECT_EQ(&r.counter("c", "h", {{"a", "b"}}), &r.counter("c", "h", {{"a", "b"}}));
}

TEST(MetricsTest, CollectorsRenderAtScrapeTimeUntilRemoved) {
  MetricsRegistry r;
  int value = 1;
  uint64_t id = r.add_collector([&value] { return fmt::format("live_gauge {}\n", value); });
  EXPECT_NE(r.render().find("live_gauge 1\n"), std::string::npos);
  value = 7;
  EXPECT_NE(r.render().find("live_gauge 7\n"), std::string::npos);
  r.remove_collector(id);
  EXPECT_EQ(r.render().find("live_gauge"), std::string::npos);
}

TEST(MetricsTest, TopicMetricsAreCachedPerTopicAndErrorsLabelled) {
  MetricsRegistry r;
  TopicMetrics tm(r);
  const auto& a = tm.topic("orders");
  EXPECT_EQ(&a, &tm.topic("orders"));
  a.bytes_in->inc(100);
  a.messages_in->inc(4);
  a.produce_requests->inc();
  tm.error("orders", "Fetch", 1);
  tm.error("orders", "Fetch", 1);
  std::string t = r.render();
  EXPECT_NE(t.find("kafka_topic_bytes_in_total{topic=\"orders\"} 100"), std::string::npos) << t;
  EXPECT_NE(t.find("kafka_topic_messages_in_total{topic=\"orders\"} 4"), std::string::npos);
  EXPECT_NE(t.find("kafka_topic_requests_total{topic=\"orders\",api=\"Produce\"} 1"),
            std::string::npos);
  EXPECT_NE(t.find("kafka_topic_errors_total{topic=\"orders\",api=\"Fetch\",error=\"1\"} 2"),
            std::string::npos);
}

}  // namespace
}  // namespace shale::kafka
