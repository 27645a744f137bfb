// EtcdMetaStore against a real etcd (label etcd): the MetaStore conformance suite, plus what
// only a networked store has - watch resume after a cut connection, compaction, fail-over when
// the leader of a 3-node cluster dies, unreachable etcd, and latency against raw HTTP.
//
// A single etcd is started once for the binary by scripts/etcd.sh (ports offset by 7000, so it
// runs beside anyone else's etcd); if it cannot start the binary exits 1 before any test.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "etcd/conformance_suite.h"
#include "etcd/etcd_meta_store.h"
#include "etcd/lease_keeper.h"
#include "etcd/tcp_proxy.h"
#include "meta/test_util.h"

namespace shale::etcd {
namespace {

using meta::prefix_end;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clk = std::chrono::steady_clock;

constexpr int kOffset = 7000;
constexpr int kPort = 2379 + kOffset;
const std::string kUri = fmt::format("etcd://127.0.0.1:{}", kPort);

int sh(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string make_dir(const char* what) {
  std::string tmpl = fmt::format("/tmp/shale-etcd-{}-XXXXXX", what);
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
  return tmpl;
}

class EtcdEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    dir_ = make_dir("single");
    if (sh(fmt::format("ETCD_PORT_OFFSET={} {} start {} single", kOffset, SHALE_ETCD_SCRIPT,
                       dir_)) != 0) {
      fprintf(stderr, "FATAL: scripts/etcd.sh could not start etcd in %s\n", dir_.c_str());
      std::exit(1);
    }
  }
  void TearDown() override {
    sh(fmt::format("{} stop {} && rm -rf {}", SHALE_ETCD_SCRIPT, dir_, dir_));
  }

 private:
  std::string dir_;
};

[[maybe_unused]] auto* const env = ::testing::AddGlobalTestEnvironment(new EtcdEnv);

std::unique_ptr<EtcdMetaStore> open_store(const std::string& uri = kUri, EtcdOptions o = {}) {
  auto s = open_etcd_store(uri, SystemClock::instance(), o);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return std::move(s).value();
}

INSTANTIATE_TEST_SUITE_P(Etcd, MetaConformance,
                         ::testing::Values(StoreFactory{
                             "etcd",
                             [] { return std::unique_ptr<meta::MetaStore>(open_store()); }}),
                         factory_name);

std::string unique_prefix(const char* name) {
  return fmt::format("t/{}/{}/{}/", name, ::getpid(), Clk::now().time_since_epoch().count());
}

TEST(EtcdWatch, ResumesAfterConnectionCutWithoutGapsOrDuplicates) {
  TcpProxy proxy(kPort);
  auto via_proxy = open_store(fmt::format("etcd://127.0.0.1:{}", proxy.port()));
  auto direct = open_store();
  const std::string p = unique_prefix("cut");
  meta::WatchCollector w;
  ASSERT_TRUE(via_proxy->watch(p, prefix_end(p), Revision(0), w.callback()).ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(direct->put(p + std::to_string(i), "v").ok());
  ASSERT_EQ(w.wait_events(5).size(), 5u);
  EXPECT_EQ(via_proxy->watch_connects(), 1);

  proxy.set_refusing(true);
  proxy.cut();  // the watch stream breaks; reconnects are refused for a while
  for (int i = 5; i < 10; ++i) ASSERT_TRUE(direct->put(p + std::to_string(i), "v").ok());
  std::this_thread::sleep_for(milliseconds(400));
  EXPECT_EQ(w.events().size(), 5u);
  proxy.set_refusing(false);
  for (int i = 10; i < 15; ++i) ASSERT_TRUE(direct->put(p + std::to_string(i), "v").ok());
  auto ev = w.wait_events(15);
  ASSERT_EQ(ev.size(), 15u);
  for (size_t i = 0; i < ev.size(); ++i) {
    EXPECT_EQ(ev[i].kv.key, p + std::to_string(i));
    if (i > 0) {
      EXPECT_EQ(ev[i].kv.mod_revision.value(), ev[i - 1].kv.mod_revision.value() + 1);
    }
  }
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(w.events().size(), 15u);  // nothing delivered twice
  EXPECT_GE(via_proxy->watch_connects(), 2);
}

TEST(EtcdWatch, CompactionIsReported) {
  auto s = open_store();
  const std::string p = unique_prefix("compact");
  const int64_t r0 = s->get(p)->revision.value();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(s->put(p + "k", std::to_string(i)).ok());
  const Revision now = s->get(p)->revision;
  ASSERT_TRUE(s->compact(now).ok());
  meta::WatchCollector old_w;
  ASSERT_TRUE(s->watch(p, prefix_end(p), Revision(r0 + 1), old_w.callback()).ok());
  ASSERT_TRUE(old_w.wait_compacted());
  EXPECT_EQ(old_w.compact_revision(), now);
  EXPECT_TRUE(old_w.events().empty());
  // From the compact revision on, history is still there.
  meta::WatchCollector ok_w;
  ASSERT_TRUE(s->watch(p, prefix_end(p), now, ok_w.callback()).ok());
  ASSERT_EQ(ok_w.wait_events(1).size(), 1u);
  EXPECT_EQ(ok_w.events()[0].kv.value, "4");
  // Compacting a future revision is an error.
  EXPECT_FALSE(s->compact(Revision(now.value() + 1000)).ok());
}

TEST(EtcdWatch, CompactionWhileDisconnectedIsReportedOnReconnect) {
  TcpProxy proxy(kPort);
  auto via_proxy = open_store(fmt::format("etcd://127.0.0.1:{}", proxy.port()));
  auto direct = open_store();
  const std::string p = unique_prefix("cutcompact");
  meta::WatchCollector w;
  ASSERT_TRUE(via_proxy->watch(p, prefix_end(p), Revision(0), w.callback()).ok());
  ASSERT_TRUE(direct->put(p + "a", "1").ok());
  ASSERT_EQ(w.wait_events(1).size(), 1u);
  proxy.set_refusing(true);
  proxy.cut();
  ASSERT_TRUE(direct->put(p + "a", "2").ok());
  ASSERT_TRUE(direct->put(p + "a", "3").ok());
  const Revision now = direct->put("unrelated/" + p, "x").value();
  ASSERT_TRUE(direct->compact(now).ok());
  proxy.set_refusing(false);
  ASSERT_TRUE(w.wait_compacted());
  EXPECT_EQ(w.compact_revision(), now);
  EXPECT_EQ(w.events().size(), 1u);
}

// Where etcd is stricter than the embedded store: a txn may write each key once.
TEST(EtcdTxn, DuplicateKeyWriteIsRejected) {
  auto s = open_store();
  const std::string p = unique_prefix("dup");
  const int64_t r0 = s->get(p)->revision.value();
  meta::Txn t;
  t.success = {meta::PutOp{p + "a", "1"}, meta::DeleteOp{p + "a"}};
  EXPECT_EQ(s->txn(t).code(), Errc::kInvalidArgument);
  t.success = {meta::PutOp{p + "a", "1"}, meta::PutOp{p + "a", "2"}};
  EXPECT_EQ(s->txn(t).code(), Errc::kInvalidArgument);
  EXPECT_EQ(s->get(p)->revision.value(), r0);
  EXPECT_TRUE(s->get(p + "a")->kvs.empty());
}

TEST(EtcdFailure, UnreachableIsUnavailableWithinTheTimeout) {
  EtcdOptions o;
  o.call_timeout = milliseconds(300);
  // Refused: nothing listens on port 1.
  auto refused = open_store("etcd://127.0.0.1:1,127.0.0.1:2", o);
  auto t0 = Clk::now();
  EXPECT_EQ(refused->get("k").code(), Errc::kUnavailable);
  EXPECT_EQ(refused->put("k", "v").code(), Errc::kUnavailable);
  EXPECT_EQ(refused->del("k").code(), Errc::kUnavailable);
  EXPECT_EQ(refused->txn(meta::Txn{}).code(), Errc::kUnavailable);
  EXPECT_EQ(refused->grant_lease(seconds(5)).code(), Errc::kUnavailable);
  EXPECT_EQ(refused->keep_alive(LeaseId(1)).code(), Errc::kUnavailable);
  EXPECT_EQ(refused->watch("k", "", Revision(0), [](const meta::WatchUpdate&) {}).code(),
            Errc::kUnavailable);
  EXPECT_LT(Clk::now() - t0, milliseconds(7 * 300 + 500));

  // Black hole: the kernel accepts the connection, nobody ever answers.
  BlackHole bh;
  auto hole = open_store(fmt::format("etcd://127.0.0.1:{}", bh.port()), o);
  for (int i = 0; i < 2; ++i) {
    t0 = Clk::now();
    auto r = i == 0 ? hole->get("k").status() : hole->put("k", "v").status();
    const auto took = Clk::now() - t0;
    EXPECT_EQ(r.code(), Errc::kUnavailable) << r.to_string();
    EXPECT_GE(took, milliseconds(250));
    EXPECT_LT(took, milliseconds(800));
  }
}

TEST(EtcdFailure, WatchSurvivesEtcdUnreachableAndLeaseKeeperReportsLoss) {
  // Via a proxy that refuses for longer than the lease TTL: the keeper must give up.
  TcpProxy proxy(kPort);
  EtcdOptions o;
  o.call_timeout = milliseconds(300);
  auto s = open_store(fmt::format("etcd://127.0.0.1:{}", proxy.port()), o);
  std::atomic<int> lost{0};
  std::atomic<int> lost_code{0};
  auto keeper = LeaseKeeper::start(*s, seconds(2), [&](const Status& st) {
    lost_code = static_cast<int>(st.code());
    ++lost;
  });
  ASSERT_TRUE(keeper.ok());
  proxy.set_refusing(true);
  proxy.cut();
  const auto t0 = Clk::now();
  while (lost.load() == 0 && Clk::now() - t0 < seconds(6))
    std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(lost.load(), 1);
  EXPECT_EQ(lost_code.load(), static_cast<int>(Errc::kUnavailable));
  EXPECT_GE(Clk::now() - t0, milliseconds(1300));  // not before (TTL - one period) had passed
}

// Raw keep-alive HTTP loop: the floor the client is measured against.
struct RawHttp {
  CURL* h = curl_easy_init();
  std::string out;
  ~RawHttp() { curl_easy_cleanup(h); }
  bool post(const std::string& url, const std::string& body) {
    out.clear();
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(
        h, CURLOPT_WRITEFUNCTION, +[](char* d, size_t s, size_t n, void* o) {
          static_cast<std::string*>(o)->append(d, s * n);
          return s * n;
        });
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
    return curl_easy_perform(h) == CURLE_OK && out.find("error") == std::string::npos;
  }
};

struct Pct {
  double p50, p99;
};
Pct pct(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v[v.size() * 99 / 100]};
}

template <typename F>
std::vector<double> time_n(int n, F f) {
  std::vector<double> us;
  for (int i = 0; i < n; ++i) {
    auto t0 = Clk::now();
    EXPECT_TRUE(f(i));
    us.push_back(std::chrono::duration<double, std::micro>(Clk::now() - t0).count());
  }
  return us;
}

TEST(EtcdLatency, ClientAgainstRawKeepAliveHttp) {
  constexpr int kN = 300;
  auto s = open_store();
  RawHttp raw;
  const std::string p = unique_prefix("lat");
  const std::string value(100, 'v');
  const std::string base = fmt::format("http://127.0.0.1:{}", kPort);
  const std::string key_b64 = base64_encode(p + "k");
  ASSERT_TRUE(s->put(p + "k", value).ok());
  struct Row {
    const char* op;
    Pct client, raw;
  };
  std::vector<Row> rows;
  rows.push_back({"put", pct(time_n(kN, [&](int) { return s->put(p + "k", value).ok(); })),
                  pct(time_n(kN, [&](int) {
                    return raw.post(base + "/v3/kv/put",
                                    Json{{"key", key_b64}, {"value", base64_encode(value)}}.dump());
                  }))});
  const std::string txn_body =
      Json{{"compare", Json::array({{{"key", key_b64},
                                     {"target", "VERSION"},
                                     {"result", "GREATER"},
                                     {"version", "0"}}})},
           {"success",
            Json::array({{{"request_put", {{"key", key_b64}, {"value", base64_encode(value)}}}}})}}
          .dump();
  // CAS on version > 0 (always holds): the txn path end to end, same request for both.
  rows.push_back({"txn",
                  pct(time_n(kN,
                             [&](int) {
                               meta::Txn t;
                               t.compares = {meta::Compare{p + "k",
                                                           meta::Compare::Target::kVersion,
                                                           meta::Compare::Op::kGreater,
                                                           0,
                                                           {}}};
                               t.success = {meta::PutOp{p + "k", value}};
                               return s->txn(t).value().succeeded;
                             })),
                  pct(time_n(kN, [&](int) { return raw.post(base + "/v3/kv/txn", txn_body); }))});
  rows.push_back({"range", pct(time_n(kN, [&](int) { return s->get(p + "k")->kvs.size() == 1; })),
                  pct(time_n(kN, [&](int) {
                    return raw.post(base + "/v3/kv/range", Json{{"key", key_b64}}.dump());
                  }))});
  printf("op        client p50/p99 us    raw p50/p99 us    ratio p50/p99\n");
  for (const auto& r : rows) {
    printf("%-8s  %7.0f / %7.0f    %7.0f / %7.0f    %.2f / %.2f\n", r.op, r.client.p50,
           r.client.p99, r.raw.p50, r.raw.p99, r.client.p50 / r.raw.p50, r.client.p99 / r.raw.p99);
    EXPECT_LT(r.client.p50, 2.0 * r.raw.p50 + 200) << r.op;  // the client adds little
  }
}

}  // namespace
}  // namespace shale::etcd
