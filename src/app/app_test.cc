#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "app/http_server.h"
#include "app/settings.h"

namespace shale::app {
namespace {

TEST(SettingsTest, TomlOverridesDefaultsAndRejectsTyposAndWrongTypes) {
  Settings s;
  ASSERT_TRUE(
      apply_toml_string("data-dir = \"/x\"\nnode-id = 7\nauto-create-topics = false\n", s).ok());
  EXPECT_EQ(s.data_dir, "/x");
  EXPECT_EQ(s.node_id, 7);
  EXPECT_FALSE(s.auto_create_topics);
  EXPECT_EQ(s.listen, "127.0.0.1:9092");  // untouched default
  EXPECT_EQ(apply_toml_string("data_dir = \"/x\"\n", s).code(), Errc::kInvalidArgument);
  EXPECT_EQ(apply_toml_string("node-id = \"seven\"\n", s).code(), Errc::kInvalidArgument);
  EXPECT_EQ(apply_toml_string("node-id = \n", s).code(), Errc::kInvalidArgument);
}

TEST(SettingsTest, HostPortParsing) {
  auto a = parse_host_port("127.0.0.1:9092");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9092);
  auto b = parse_host_port("[::1]:0");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "::1");
  EXPECT_FALSE(parse_host_port("localhost").ok());
  EXPECT_FALSE(parse_host_port("h:99999").ok());
  EXPECT_FALSE(parse_host_port("h:12a").ok());
}

std::string http_get(uint16_t port, const std::string& raw) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return {};
  }
  ::send(fd, raw.data(), raw.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, n);
  ::close(fd);
  return out;
}

TEST(AdminHttpTest, HealthReadyMetricsAndBadRequests) {
  kafka::MetricsRegistry metrics;
  metrics.counter("kafka_requests_total", "h", {{"api", "Produce"}}).inc(3);
  AdminHttpServer http("127.0.0.1", 0, metrics);
  ASSERT_TRUE(http.start().ok());
  uint16_t p = http.port();
  EXPECT_EQ(http_get(p, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").rfind("HTTP/1.1 200 OK", 0),
            0u);
  EXPECT_EQ(http_get(p, "GET /readyz HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 503", 0), 0u);
  http.set_ready(true);
  EXPECT_EQ(http_get(p, "GET /readyz HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
  std::string m = http_get(p, "GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_NE(m.find("kafka_requests_total{api=\"Produce\"} 3"), std::string::npos) << m;
  EXPECT_EQ(http_get(p, "GET /nope HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(http_get(p, "POST /healthz HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405", 0), 0u);
  EXPECT_EQ(http_get(p, "garbage\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
  std::string huge = "GET /healthz HTTP/1.1\r\nX: " + std::string(20000, 'a') + "\r\n\r\n";
  EXPECT_EQ(http_get(p, huge).rfind("HTTP/1.1 431", 0), 0u);
  // Still healthy after the bad ones.
  EXPECT_EQ(http_get(p, "GET /healthz HTTP/1.0\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
  http.stop();
}

}  // namespace
}  // namespace shale::app
