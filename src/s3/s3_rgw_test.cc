// S3ObjectStore on a real Ceph RGW (label `s3`, not `unit`): the object-store conformance cases
// of src/objstore/object_store_test.cc, adapted only where S3 differs (ETags are MD5s, non-last
// multipart parts must be >= 5 MiB), plus S3-specific checks and raw latency/throughput numbers.
// RGW is started once for the whole binary via scripts/rgw.sh; if it cannot start, every test
// FAILS (never skips). Set SHALE_S3_URI to run against an already running server instead.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

#include "s3/s3_store.h"

namespace shale::s3 {
namespace {

std::string g_uri;          // base URI without prefix, e.g. s3://shale/?endpoint=...
std::string g_start_error;  // why RGW could not start

class RgwEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (const char* u = std::getenv("SHALE_S3_URI")) {
      g_uri = u;
      return;
    }
    dir_ = "/tmp/shale-rgw-test-" + std::to_string(::getpid());
    const char* p = std::getenv("SHALE_RGW_PORT");
    const int port = p ? std::atoi(p) : 20000 + (::getpid() % 20000);
    const std::string out = dir_ + ".out";
    const std::string cmd = std::string(SHALE_RGW_SCRIPT) + " start " + dir_ + " " +
                            std::to_string(port) + " > " + out + " 2>&1";
    int rc = std::system(cmd.c_str());
    std::string text;
    if (FILE* f = std::fopen(out.c_str(), "r")) {
      char buf[4096];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
      std::fclose(f);
    }
    started_ = true;
    size_t at = text.find("uri=");
    if (rc != 0 || at == std::string::npos) {
      g_start_error = "scripts/rgw.sh start failed (rc " + std::to_string(rc) + "):\n" + text;
      return;
    }
    g_uri = text.substr(at + 4, text.find('\n', at) - at - 4);
  }
  void TearDown() override {
    if (!started_) return;
    (void)std::system((std::string(SHALE_RGW_SCRIPT) + " stop " + dir_).c_str());
    // Keep the daemons' logs when something failed.
    if (g_start_error.empty() && ::testing::UnitTest::GetInstance()->Passed())
      (void)std::system(("rm -rf " + dir_ + " " + dir_ + ".out").c_str());
  }

 private:
  std::string dir_;
  bool started_ = false;
};

// "s3://shale/?endpoint=..." -> "s3://shale/<prefix>?endpoint=...&extra"
std::string uri_with(const std::string& prefix, const std::string& extra = "") {
  size_t q = g_uri.find('?');
  return g_uri.substr(0, q) + prefix + g_uri.substr(q) + extra;
}

std::string md5_hex(std::string_view s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_md5(), nullptr);
  return hex(std::string_view(reinterpret_cast<char*>(md), len));
}

class RgwStore : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(g_start_error.empty()) << g_start_error;
    ASSERT_FALSE(g_uri.empty());
    // Every test has its own key prefix, so listings see only its own objects.
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    prefix_ = fmt::format("t/{}-{:x}/", info->name(), std::random_device{}());
    auto s = open_s3_store(uri_with(prefix_));
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    store_ = std::move(*s);
  }
  objstore::ObjectStore& s() { return *store_; }
  S3ObjectStore& s3() { return static_cast<S3ObjectStore&>(*store_); }
  std::string get_all(const std::string& key) {
    auto r = s().get(key);
    EXPECT_TRUE(r.ok()) << key << ": " << r.error().to_string();
    return r.ok() ? std::string(r->data.view()) : std::string();
  }
  std::vector<std::string> keys(const std::string& prefix) {
    std::vector<std::string> out;
    auto page = s().list(prefix);
    if (!page.ok()) return {"<list failed>"};
    for (const auto& o : page->objects) out.push_back(o.key);
    return out;
  }
  std::string prefix_;
  std::unique_ptr<objstore::ObjectStore> store_;
};

using objstore::ByteRange;
using objstore::PutOptions;

TEST_F(RgwStore, PutGetHead) {
  ASSERT_TRUE(s().put("a/b/c.obj", {Buf::copy("hello "), Buf::copy("world")}).ok());
  EXPECT_EQ(get_all("a/b/c.obj"), "hello world");
  auto h = s().head("a/b/c.obj");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->size, 11u);
  EXPECT_EQ(h->key, "a/b/c.obj");
  EXPECT_EQ(h->etag, md5_hex("hello world"));  // S3: MD5 of a single-PUT object
  EXPECT_EQ(s().get("a/b/missing").code(), Errc::kNotFound);
  EXPECT_EQ(s().head("a/b/missing").code(), Errc::kNotFound);
  ASSERT_TRUE(s().put("a/b/c.obj", Buf::copy("v2")).ok());
  EXPECT_EQ(get_all("a/b/c.obj"), "v2");
  ASSERT_TRUE(s().put("empty", std::vector<Buf>{}).ok());
  EXPECT_EQ(s().get("empty")->object_size, 0u);
  EXPECT_EQ(s().put("", Buf::copy("x")).code(), Errc::kInvalidArgument);
}

TEST_F(RgwStore, Ranges) {
  ASSERT_TRUE(s().put("r", Buf::copy("0123456789")).ok());
  auto g = s().get("r", ByteRange::at(2, 3));
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->data.view(), "234");
  EXPECT_EQ(g->object_size, 10u);
  EXPECT_EQ(s().get("r", ByteRange::at(7, 100))->data.view(), "789");
  EXPECT_EQ(s().get("r", ByteRange::at(4, ByteRange::kToEnd))->data.view(), "456789");
  EXPECT_EQ(s().get("r", ByteRange::last(4))->data.view(), "6789");
  EXPECT_EQ(s().get("r", ByteRange::last(4))->object_size, 10u);
  EXPECT_EQ(s().get("r", ByteRange::last(40))->data.view(), "0123456789");
  EXPECT_EQ(s().get("r", ByteRange::at(10, 1)).code(), Errc::kOutOfRange);
  EXPECT_EQ(s().get("r", ByteRange::at(11, 1)).code(), Errc::kOutOfRange);
  EXPECT_EQ(s().get("r", ByteRange::at(3, 0))->data.size(), 0u);
  EXPECT_EQ(s().get("missing", ByteRange::at(0, 1)).code(), Errc::kNotFound);
}

TEST_F(RgwStore, ConditionalPut) {
  ASSERT_TRUE(s().capabilities().conditional_put);  // the probe found RGW's If-None-Match
  PutOptions once{.if_none_match = true};
  ASSERT_TRUE(s().put("c", Buf::copy("first"), once).ok());
  EXPECT_EQ(s().put("c", Buf::copy("second"), once).code(), Errc::kAlreadyExists);
  EXPECT_EQ(get_all("c"), "first");
  EXPECT_EQ(keys(""), (std::vector<std::string>{"c"}));
}

TEST_F(RgwStore, RacingConditionalPutsHaveOneWinner) {
  for (int round = 0; round < 5; ++round) {
    const std::string key = fmt::format("race/{}", round);
    std::atomic<int> wins{0}, lost{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t) {
      ts.emplace_back([&, t] {
        Status st = s().put(key, Buf::copy(fmt::format("w{}", t)), {.if_none_match = true});
        if (st.ok()) ++wins;
        if (st.code() == Errc::kAlreadyExists) ++lost;
      });
    }
    for (auto& t : ts) t.join();
    EXPECT_EQ(wins.load(), 1) << "round " << round;
    EXPECT_EQ(lost.load(), 3) << "round " << round;
  }
}

TEST_F(RgwStore, ListSortedWithPrefixAndPages) {
  std::vector<std::string> all = {"p/a", "p/a/b", "p/a-b", "p/a.b",    "p/a0",
                                  "p/A", "p/_x",  "p/%25", "p/sp ace", "q/other"};
  for (const auto& k : all) ASSERT_TRUE(s().put(k, Buf::copy(k)).ok()) << k;
  std::vector<std::string> expect(all.begin(), all.end() - 1);
  std::sort(expect.begin(), expect.end());
  EXPECT_EQ(keys("p/"), expect);
  std::vector<std::string> paged;
  std::string token;
  int pages = 0;
  do {
    auto page = s().list("p/", token, 3);
    ASSERT_TRUE(page.ok());
    EXPECT_LE(page->objects.size(), 3u);
    for (const auto& o : page->objects) {
      paged.push_back(o.key);
      EXPECT_EQ(o.size, o.key.size());
    }
    token = page->next_token;
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(paged, expect);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(keys("p/a"), (std::vector<std::string>{"p/a", "p/a-b", "p/a.b", "p/a/b", "p/a0"}));
  EXPECT_TRUE(keys("zzz").empty());
}

TEST_F(RgwStore, RemoveIsIdempotent) {
  ASSERT_TRUE(s().put("x/1", Buf::copy("1")).ok());
  ASSERT_TRUE(s().put("x/2", Buf::copy("2")).ok());
  ASSERT_TRUE(s().remove({"x/1", "x/missing"}).ok());
  EXPECT_EQ(s().get("x/1").code(), Errc::kNotFound);
  EXPECT_EQ(keys("x/"), (std::vector<std::string>{"x/2"}));
  ASSERT_TRUE(s().remove({"x/1"}).ok());
  ASSERT_TRUE(s().remove({}).ok());
}

TEST_F(RgwStore, MultipartAssemblesInOrder) {
  auto id = s().begin_multipart("big");
  ASSERT_TRUE(id.ok()) << id.error().to_string();
  std::string p1(5 << 20, 'a'), p2((5 << 20) + 7, 'b'), p3 = "tail";
  ASSERT_TRUE(s().upload_part("big", *id, 3, Buf::copy(p3)).ok());
  ASSERT_TRUE(s().upload_part("big", *id, 1, Buf::copy("replaced")).ok());
  ASSERT_TRUE(s().upload_part("big", *id, 2, Buf::copy(p2)).ok());
  ASSERT_TRUE(s().upload_part("big", *id, 1, Buf::copy(p1)).ok());  // re-upload wins
  EXPECT_EQ(s().get("big").code(), Errc::kNotFound);
  EXPECT_TRUE(keys("").empty());
  Status st = s().complete_multipart("big", *id, 3);
  ASSERT_TRUE(st.ok()) << st.to_string();
  EXPECT_TRUE(get_all("big") == p1 + p2 + p3);
  EXPECT_EQ(s().complete_multipart("big", *id, 3).code(), Errc::kNotFound);
}

TEST_F(RgwStore, MultipartErrors) {
  auto id = s().begin_multipart("m");
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(s().upload_part("m", *id, 1, Buf::copy("one")).ok());
  EXPECT_EQ(s().complete_multipart("m", *id, 2).code(), Errc::kInvalidArgument);
  EXPECT_EQ(s().upload_part("m", *id, 0, Buf::copy("x")).code(), Errc::kInvalidArgument);
  EXPECT_EQ(s().upload_part("m", "nope", 1, Buf::copy("x")).code(), Errc::kNotFound);
  EXPECT_FALSE(s().upload_part("other", *id, 1, Buf::copy("x")).ok());
  ASSERT_TRUE(s().abort_multipart("m", *id).ok());
  EXPECT_EQ(s().upload_part("m", *id, 1, Buf::copy("x")).code(), Errc::kNotFound);
  EXPECT_EQ(s().abort_multipart("m", *id).code(), Errc::kNotFound);
  EXPECT_EQ(s().get("m").code(), Errc::kNotFound);
}

// S3-specific: a large put() goes multipart with parallel parts and reads back byte for byte.
TEST_F(RgwStore, LargePutUsesParallelMultipart) {
  auto big = open_s3_store(uri_with(prefix_, "&multipart_threshold=6291456&part_size=5242880"));
  ASSERT_TRUE(big.ok());
  std::string data(17 << 20, '\0');
  std::mt19937 rng(1);
  for (auto& c : data) c = static_cast<char>(rng());
  ASSERT_TRUE((*big)->put("mp", {Buf::copy(data.substr(0, 3)), Buf::copy(data.substr(3))}).ok());
  auto h = s().head("mp");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->size, data.size());
  EXPECT_TRUE(h->etag.ends_with("-4")) << h->etag;  // 4 parts: 5+5+5+2 MiB
  EXPECT_TRUE(get_all("mp") == data);
  auto tail = s().get("mp", ByteRange::last(100));
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail->data.view(), std::string_view(data).substr(data.size() - 100));
}

TEST_F(RgwStore, WrongSecretFailsOpenUnsignedPayloadWorks) {
  std::string uri = uri_with(prefix_);
  size_t at = uri.find("secret_key=");
  ASSERT_NE(at, std::string::npos);
  uri.insert(at + 11, "WRONG");
  auto bad = open_s3_store(uri);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("403"), std::string::npos) << bad.error().message;
  EXPECT_EQ(bad.error().message.find("SHALESECRET"), std::string::npos);
  // Unsigned payloads are accepted by RGW too.
  auto u = open_s3_store(uri_with(prefix_, "&unsigned_payload=true"));
  ASSERT_TRUE(u.ok()) << u.error().to_string();
  ASSERT_TRUE((*u)->put("u", Buf::copy("unsigned")).ok());
  EXPECT_EQ(get_all("u"), "unsigned");
}

// Raw store numbers through this client, for comparison with the object WAL later.
TEST_F(RgwStore, MeasureRawLatencyAndThroughput) {
  using Clock = std::chrono::steady_clock;
  auto ms_since = [](Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  auto pct = [](std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
  };
  for (auto [size, n] : {std::pair<size_t, int>{64 << 10, 200}, {4 << 20, 30}}) {
    Buf data = Buf::copy(std::string(size, 'x'));
    std::vector<double> lat;
    for (int i = 0; i < n; ++i) {
      auto t0 = Clock::now();
      ASSERT_TRUE(s().put(fmt::format("lat/{}/{}", size, i), data).ok());
      lat.push_back(ms_since(t0));
    }
    double total = 0;
    for (double l : lat) total += l;
    std::printf("[measure] PUT %zu KiB x%d: p50 %.2f ms, p99 %.2f ms, max %.2f ms, %.1f MiB/s\n",
                size >> 10, n, pct(lat, 0.5), pct(lat, 0.99), pct(lat, 1.0),
                static_cast<double>(size) * n / (1 << 20) / (total / 1000));
  }
  // Ranged GETs of 1 MiB from 4 MiB objects, 1 and 4 threads.
  for (int threads : {1, 4}) {
    std::atomic<uint64_t> bytes{0};
    auto t0 = Clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        for (int i = 0; i < 40; ++i) {
          auto g = s().get(fmt::format("lat/{}/{}", 4 << 20, (i + t) % 30),
                           ByteRange::at(static_cast<uint64_t>(i % 4) << 20, 1 << 20));
          if (g.ok()) bytes += g->data.size();
        }
      });
    }
    for (auto& t : ts) t.join();
    EXPECT_EQ(bytes.load(), static_cast<uint64_t>(threads) * 40 * (1 << 20));
    std::printf("[measure] ranged GET 1 MiB, %d thread(s): %.1f MiB/s\n", threads,
                static_cast<double>(bytes.load()) / (1 << 20) / (ms_since(t0) / 1000));
  }
  auto st = s3().stats();
  std::printf("[measure] requests %lu retries %lu errors %lu\n", st.requests, st.retries,
              st.errors);
}

}  // namespace
}  // namespace shale::s3

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new shale::s3::RgwEnvironment);
  return RUN_ALL_TESTS();
}
