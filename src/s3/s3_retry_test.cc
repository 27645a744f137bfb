// S3ObjectStore against a scripted local fault server: retries with back-off on 503 SlowDown,
// 500 and connection resets, timeouts on stalled responses, no retry on 4xx, errors carrying the
// request id, the conditional-PUT retry ambiguity (in puts and in the startup probe), and
// multipart abort on a failed part.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <chrono>

#include "s3/fault_server.h"
#include "s3/s3_store.h"
#include "s3/s3_xml.h"

namespace shale::s3 {
namespace {

using testing::FaultRequest;
using testing::FaultResponse;
using testing::FaultServer;

FaultResponse s3_error(int status, const std::string& code, const std::string& rid) {
  return {status,
          {{"x-amz-request-id", rid}, {"Content-Type", "application/xml"}},
          "<?xml version=\"1.0\"?><Error><Code>" + code + "</Code><Message>m</Message><RequestId>" +
              rid + "</RequestId></Error>"};
}

std::unique_ptr<S3ObjectStore> store_for(const FaultServer& srv, int attempts = 4,
                                         long timeout_ms = 5000) {
  S3Config cfg;
  cfg.bucket = "bkt";
  cfg.prefix = "pre/";
  cfg.endpoint = srv.endpoint();
  cfg.creds = {"AK", "SK", ""};
  cfg.retry.max_attempts = attempts;
  cfg.retry.base_ms = 5;
  cfg.retry.cap_ms = 40;
  cfg.request_timeout_ms = timeout_ms;
  cfg.probe = false;
  auto s = S3ObjectStore::open(cfg);
  EXPECT_TRUE(s.ok());
  return std::move(*s);
}

TEST(S3Retry, SlowDownThenSuccess) {
  FaultServer srv([](const FaultRequest&, int i) {
    return i < 2 ? s3_error(503, "SlowDown", "rid-" + std::to_string(i)) : FaultResponse{};
  });
  auto s = store_for(srv);
  ASSERT_TRUE(s->put("a b/c", {Buf::copy("hello "), Buf::copy("world")}).ok());
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(s->stats().retries, 2u);
  EXPECT_EQ(s->stats().requests, 3u);
  EXPECT_EQ(s->stats().errors, 0u);
  for (const auto& r : reqs) {
    EXPECT_EQ(r.method, "PUT");
    EXPECT_EQ(r.target, "/bkt/pre/a%20b/c");
    EXPECT_EQ(r.body, "hello world");
    EXPECT_EQ(r.headers.at("x-amz-content-sha256"), sha256_hex("hello world"));
    EXPECT_EQ(r.headers.at("host"), srv.endpoint().substr(7));
    EXPECT_TRUE(r.headers.at("authorization").starts_with("AWS4-HMAC-SHA256 Credential=AK/"));
    EXPECT_EQ(r.headers.at("authorization").find("SK"), std::string::npos);
  }
}

TEST(S3Retry, VirtualHostStyleAddressing) {
  FaultServer srv([](const FaultRequest&, int) { return FaultResponse{}; });
  S3Config cfg;
  cfg.bucket = "bkt";
  cfg.endpoint = "http://localhost:" + srv.endpoint().substr(srv.endpoint().rfind(':') + 1);
  cfg.path_style = false;
  cfg.creds = {"AK", "SK", ""};
  cfg.probe = false;
  auto s = S3ObjectStore::open(cfg);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->put("k/x y", Buf::copy("v")).ok());  // *.localhost resolves to loopback
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/k/x%20y");
  EXPECT_EQ(reqs[0].headers.at("host"), "bkt." + cfg.endpoint.substr(7));
}

TEST(S3Retry, ConnectionResetThenSuccess) {
  FaultServer srv([](const FaultRequest&, int i) {
    FaultResponse r;
    r.reset = i == 0;
    r.body = "0123456789";
    return r;
  });
  auto s = store_for(srv);
  auto g = s->get("k");
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(g->data.view(), "0123456789");
  EXPECT_EQ(s->stats().retries, 1u);
}

TEST(S3Retry, PersistentFailureGivesUpWithRequestId) {
  FaultServer srv(
      [](const FaultRequest&, int) { return s3_error(500, "InternalError", "req-42"); });
  auto s = store_for(srv, 3);
  auto t0 = std::chrono::steady_clock::now();
  Status st = s->put("k", Buf::copy("x"));
  EXPECT_EQ(st.code(), Errc::kUnavailable);
  EXPECT_NE(st.message().find("req-42"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("InternalError"), std::string::npos) << st.message();
  EXPECT_EQ(srv.requests().size(), 3u);
  EXPECT_EQ(s->stats().errors, 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

TEST(S3Retry, StalledResponseTimesOut) {
  FaultServer srv([](const FaultRequest&, int) {
    FaultResponse r;
    r.delay_ms = 3000;
    return r;
  });
  auto s = store_for(srv, 2, /*timeout_ms=*/200);
  auto t0 = std::chrono::steady_clock::now();
  auto h = s->head("k");
  EXPECT_EQ(h.code(), Errc::kTimeout);
  EXPECT_EQ(srv.requests().size(), 2u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1500));
}

TEST(S3Retry, ServerDownIsUnavailableNotAHang) {
  std::string endpoint;
  {
    FaultServer gone([](const FaultRequest&, int) { return FaultResponse{}; });
    endpoint = gone.endpoint();
  }
  S3Config cfg;
  cfg.bucket = "b";
  cfg.endpoint = endpoint;
  cfg.creds = {"a", "b", ""};
  cfg.retry.max_attempts = 2;
  cfg.retry.base_ms = 1;
  EXPECT_FALSE(S3ObjectStore::open(cfg).ok());  // the probe fails: open reports it
  cfg.probe = false;
  auto s = S3ObjectStore::open(cfg);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->get("k").code(), Errc::kUnavailable);
}

TEST(S3Retry, ClientErrorsAreNotRetried) {
  FaultServer srv([](const FaultRequest& r, int) {
    if (r.method == "HEAD") return FaultResponse{404, {}, "", false, 0, true};
    if (r.headers.count("range")) return s3_error(416, "InvalidRange", "r416");
    return s3_error(403, "AccessDenied", "r403");
  });
  auto s = store_for(srv);
  EXPECT_EQ(s->head("k").code(), Errc::kNotFound);
  EXPECT_EQ(s->get("k", objstore::ByteRange::at(5, 2)).code(), Errc::kOutOfRange);
  EXPECT_EQ(s->put("k", Buf::copy("x")).code(), Errc::kIoError);
  EXPECT_EQ(srv.requests().size(), 3u);
  EXPECT_EQ(s->stats().retries, 0u);
  auto reqs = srv.requests();
  EXPECT_EQ(reqs[1].headers.at("range"), "bytes=5-6");
}

TEST(S3Retry, ConditionalPutWhoseFirstAttemptLandedSucceeds) {
  // Attempt 1 is "stored" but its connection dies; attempt 2 sees 412; a HEAD shows our bytes.
  const std::string body = "wal-object";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(body.data(), body.size(), md, &len, EVP_md5(), nullptr);
  const std::string etag = hex(std::string_view(reinterpret_cast<char*>(md), len));
  FaultServer srv([&](const FaultRequest& r, int i) {
    if (r.method == "HEAD")
      return FaultResponse{
          200, {{"ETag", "\"" + etag + "\""}, {"Content-Length", "10"}}, "", false, 0, true};
    if (i == 0) return FaultResponse{.reset = true};
    return s3_error(412, "PreconditionFailed", "r412");
  });
  auto s = store_for(srv);
  EXPECT_TRUE(s->put("w", Buf::copy(body), {.if_none_match = true}).ok());
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].headers.at("if-none-match"), "*");
  // Without a retry, 412 means another writer won.
  EXPECT_EQ(s->put("w", Buf::copy(body), {.if_none_match = true}).code(), Errc::kAlreadyExists);
}

S3Config probing_config(const FaultServer& srv) {
  S3Config cfg;
  cfg.bucket = "bkt";
  cfg.endpoint = srv.endpoint();
  cfg.creds = {"AK", "SK", ""};
  cfg.retry.max_attempts = 4;
  cfg.retry.base_ms = 5;
  cfg.retry.cap_ms = 40;
  cfg.request_timeout_ms = 200;
  return cfg;
}

TEST(S3Probe, FirstPutTimingOutThenSeeing412MeansConditionalPutsWork) {
  // The probe's first PUT lands but answers after the timeout; its retry meets our own object.
  FaultServer srv([](const FaultRequest& r, int i) {
    if (r.method == "POST") return FaultResponse{200, {}, "<DeleteResult/>"};
    if (i == 0) return FaultResponse{.delay_ms = 1000};
    return s3_error(412, "PreconditionFailed", "r412");
  });
  auto s = S3ObjectStore::open(probing_config(srv));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE((*s)->capabilities().conditional_put);
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 3u);  // PUT (timed out), PUT (412), the probe key's delete
  EXPECT_EQ(reqs[0].target, reqs[1].target);
  EXPECT_EQ(reqs[1].headers.at("if-none-match"), "*");
  EXPECT_EQ(reqs[2].method, "POST");
}

TEST(S3Probe, AServerThatIgnoresIfNoneMatchHasNoConditionalPuts) {
  FaultServer srv([](const FaultRequest& r, int) {
    if (r.method == "POST") return FaultResponse{200, {}, "<DeleteResult/>"};
    return FaultResponse{};
  });
  auto s = S3ObjectStore::open(probing_config(srv));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_FALSE((*s)->capabilities().conditional_put);
  EXPECT_EQ(srv.requests().size(), 3u);  // PUT, PUT again (200: overwritten), delete
}

TEST(S3Probe, A412WithoutARetryIsAnError) {
  // The random probe key cannot exist before our first PUT: a 412 then is a broken server.
  FaultServer srv(
      [](const FaultRequest&, int) { return s3_error(412, "PreconditionFailed", "r412"); });
  auto s = S3ObjectStore::open(probing_config(srv));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("412"), std::string::npos) << s.status().message();
}

TEST(S3Retry, FailedPartAbortsTheMultipartUpload) {
  FaultServer srv([](const FaultRequest& r, int) {
    if (r.method == "POST" && r.target.find("uploads") != std::string::npos)
      return FaultResponse{200,
                           {},
                           "<InitiateMultipartUploadResult><UploadId>U1</UploadId>"
                           "</InitiateMultipartUploadResult>"};
    if (r.method == "PUT" && r.target.find("partNumber=2") != std::string::npos)
      return s3_error(403, "AccessDenied", "rp2");
    if (r.method == "PUT") return FaultResponse{200, {{"ETag", "\"e\""}}, ""};
    if (r.method == "DELETE") return FaultResponse{204, {}, ""};
    return s3_error(400, "Unexpected", "x");
  });
  auto s = store_for(srv);
  S3Config& cfg = const_cast<S3Config&>(s->config());
  cfg.multipart_threshold = 8;
  cfg.part_size = 4;
  Status st = s->put("big", {Buf::copy("0123456"), Buf::copy("789abcdef")});
  EXPECT_EQ(st.code(), Errc::kIoError);
  EXPECT_NE(st.message().find("rp2"), std::string::npos);
  bool aborted = false, completed = false;
  size_t part_bytes = 0;
  for (const auto& r : srv.requests()) {
    if (r.method == "DELETE" && r.target == "/bkt/pre/big?uploadId=U1") aborted = true;
    if (r.method == "POST" && r.target.find("uploadId=U1") != std::string::npos) completed = true;
    if (r.method == "PUT") part_bytes = std::max(part_bytes, r.body.size());
  }
  EXPECT_TRUE(aborted);
  EXPECT_FALSE(completed);
  EXPECT_EQ(part_bytes, 4u);
}

}  // namespace
}  // namespace shale::s3

namespace shale::s3 {
namespace {

TEST(S3Batch, DeleteObjectsBatchesOf1000WithContentMd5) {
  FaultServer srv([](const FaultRequest& r, int) {
    if (r.body.find("denied") != std::string::npos)
      return FaultResponse{200,
                           {},
                           "<DeleteResult><Error><Key>pre/denied</Key><Code>AccessDenied"
                           "</Code></Error></DeleteResult>"};
    return FaultResponse{200, {}, "<DeleteResult/>"};
  });
  auto s = store_for(srv);
  std::vector<std::string> keys;
  for (int i = 0; i < 1500; ++i) keys.push_back(fmt::format("k&<{}>", i));
  ASSERT_TRUE(s->remove(keys).ok());
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 2u);
  size_t total = 0;
  for (const auto& r : reqs) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.target, "/bkt?delete=");
    EXPECT_EQ(r.headers.at("content-md5"), md5_base64(r.body));
    auto objs = xml_elements(r.body, "Key");
    total += objs.size();
    EXPECT_LE(objs.size(), 1000u);
    EXPECT_EQ(xml_unescape(objs.front()).substr(0, 6), "pre/k&");
  }
  EXPECT_EQ(total, 1500u);
  Status st = s->remove({"ok", "denied"});
  EXPECT_EQ(st.code(), Errc::kIoError);
  EXPECT_NE(st.message().find("AccessDenied"), std::string::npos);
}

}  // namespace
}  // namespace shale::s3
