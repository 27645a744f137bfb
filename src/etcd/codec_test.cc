// Gateway codec: base64, proto3-JSON defaults, endpoint parsing.
#include <gtest/gtest.h>

#include "etcd/etcd_codec.h"
#include "etcd/etcd_http.h"

namespace shale::etcd {
namespace {

TEST(Base64, RoundTripsAllLengthsAndBytes) {
  std::string s;
  for (int i = 0; i < 300; ++i) {
    auto enc = base64_encode(s);
    EXPECT_EQ(enc.size() % 4, 0u);
    auto dec = base64_decode(enc);
    ASSERT_TRUE(dec.ok());
    EXPECT_EQ(*dec, s);
    s += static_cast<char>(i * 37);
  }
  EXPECT_EQ(base64_encode("/brk/ctl"), "L2Jyay9jdGw=");
  EXPECT_EQ(*base64_decode("L2Jyay9jdGw"), "/brk/ctl");  // padding optional
  EXPECT_EQ(base64_decode("a*==").code(), Errc::kInvalidArgument);
  EXPECT_EQ(base64_decode("abcde").code(), Errc::kInvalidArgument);
}

TEST(Codec, MissingFieldsAreDefaults) {
  // A failed txn: no "succeeded"; a PUT event: no "type"; revisions as strings.
  auto t = decode_txn(Json::parse(
      R"({"header":{"revision":"7"},"responses":[{"response_range":{"header":{}}},{"response_put":{}}]})"));
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->succeeded);
  EXPECT_EQ(t->revision, Revision(7));
  ASSERT_EQ(t->responses.size(), 2u);
  EXPECT_TRUE(t->responses[0].empty());
  auto e = decode_event(Json::parse(
      R"({"kv":{"key":"eA==","create_revision":"2","mod_revision":"3","version":"2","value":"eQ==","lease":"99"}})"));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->type, meta::WatchEvent::Type::kPut);
  EXPECT_EQ(e->kv.key, "x");
  EXPECT_EQ(e->kv.value, "y");
  EXPECT_EQ(e->kv.mod_revision, Revision(3));
  EXPECT_EQ(e->kv.lease, LeaseId(99));
  auto d = decode_event(Json::parse(R"({"type":"DELETE","kv":{"key":"eA==","mod_revision":"5"}})"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->type, meta::WatchEvent::Type::kDelete);
  EXPECT_EQ(d->kv.version, 0);
  EXPECT_EQ(decode_kv(Json::parse(R"({"key":"!!"})")).code(), Errc::kInvalidArgument);
}

TEST(Codec, EncodesCompareAndOps) {
  meta::Txn t;
  t.compares = {meta::Compare::mod_rev("k", Revision(4)), meta::Compare::value_eq("k", "v")};
  t.success = {meta::PutOp{"k", "v", LeaseId(5)}, meta::GetOp{"", std::string(1, '\0')}};
  t.failure = {meta::DeleteOp{"a", "b"}};
  Json j = encode_txn(t);
  EXPECT_EQ(j["compare"][0]["target"], "MOD");
  EXPECT_EQ(j["compare"][0]["result"], "EQUAL");
  EXPECT_EQ(j["compare"][0]["mod_revision"], "4");
  EXPECT_EQ(j["compare"][1]["value"], base64_encode("v"));
  EXPECT_EQ(j["success"][0]["request_put"]["lease"], "5");
  EXPECT_EQ(j["success"][1]["request_range"]["key"], "AA==");  // "" sent as "\0"
  EXPECT_EQ(j["failure"][0]["request_delete_range"]["range_end"], base64_encode("b"));
}

TEST(Endpoints, Parse) {
  auto e = parse_endpoints("etcd://127.0.0.1:2379,127.0.0.1:22379");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(*e, (std::vector<std::string>{"http://127.0.0.1:2379", "http://127.0.0.1:22379"}));
  EXPECT_EQ(parse_endpoints("http://h:1/")->at(0), "http://h:1");
  EXPECT_FALSE(parse_endpoints("etcd://").ok());
  EXPECT_FALSE(parse_endpoints("etcd://a:1,,b:2").ok());
  EXPECT_FALSE(parse_endpoints("etcd://nohostport").ok());
}

}  // namespace
}  // namespace shale::etcd
