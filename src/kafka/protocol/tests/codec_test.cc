// Generated codec behaviour beyond the round trip: unknown tagged fields, malformed input,
// request/response headers and the API table.
#include <gtest/gtest.h>

#include <set>

#include "kafka/protocol/api_table.h"
#include "kafka/protocol/errors.h"
#include "kafka/protocol/gen/messages.h"
#include "kafka/protocol/request_header.h"

namespace shale::kafka {
namespace {

template <typename T>
std::vector<uint8_t> encode(const T& m, int16_t v) {
  Writer w;
  EXPECT_TRUE(m.encode(w, v).ok());
  return w.finish();
}

Buf buf_of(const std::vector<uint8_t>& v) {
  return Buf::copy(v.data(), v.size());
}

TEST(Codec, ApiVersionsRequestV3Bytes) {
  ApiVersionsRequest m;
  m.client_software_name = "c";
  m.client_software_version = "1";
  // compact strings (len+1) then an empty tag section.
  EXPECT_EQ(encode(m, 3), (std::vector<uint8_t>{2, 'c', 2, '1', 0}));
  EXPECT_EQ(encode(m, 0), std::vector<uint8_t>{});  // v0 has no fields
}

// Regression: a quoted string default in a schema (Fetch's RackId, default="") must become the
// empty string, not the two-character string "\"\"" (which librdkafka-era Fetch v11 requests
// would then have carried as their rack id).
TEST(Codec, QuotedStringDefaultIsUnquoted) {
  FetchRequest req;
  EXPECT_EQ(req.rack_id, "");
}

TEST(Codec, KnownTaggedFieldsDecodeIntoMembers) {
  ApiVersionsResponse m;
  m.finalized_features_epoch = 7;
  m.zk_migration_ready = true;
  auto bytes = encode(m, 3);
  ApiVersionsResponse d;
  Reader r(buf_of(bytes));
  ASSERT_TRUE(d.decode(r, 3).ok());
  EXPECT_EQ(d.finalized_features_epoch, 7);
  EXPECT_TRUE(d.zk_migration_ready);
  EXPECT_TRUE(d.unknown_tags.empty());
  // Defaults are not written: tag section is empty.
  ApiVersionsResponse empty;
  EXPECT_EQ(encode(empty, 3).back(), 0);
}

TEST(Codec, UnknownTaggedFieldsArePreservedInOrder) {
  // A MetadataRequest v12 from a "newer" client: two unknown tags around a nested struct's.
  MetadataRequest m;
  m.topics.emplace();
  auto& t = m.topics->emplace_back();
  t.name = "t";
  t.unknown_tags.push_back(TaggedField{3, Buf::copy("zz")});
  m.unknown_tags.push_back(TaggedField{1, Buf::copy("a")});
  m.unknown_tags.push_back(TaggedField{40000, Buf::copy("")});
  auto bytes = encode(m, 12);
  MetadataRequest d;
  Reader r(buf_of(bytes));
  ASSERT_TRUE(d.decode(r, 12).ok());
  ASSERT_EQ(d.unknown_tags.size(), 2u);
  EXPECT_EQ(d.unknown_tags[0].tag, 1u);
  EXPECT_EQ(d.unknown_tags[1].tag, 40000u);
  ASSERT_TRUE(d.topics.has_value());
  ASSERT_EQ(d.topics->size(), 1u);
  ASSERT_EQ((*d.topics)[0].unknown_tags.size(), 1u);
  EXPECT_EQ((*d.topics)[0].unknown_tags[0].data.view(), "zz");
  EXPECT_EQ(encode(d, 12), bytes);
  // Unknown tags are not written in non-flexible versions.
  EXPECT_EQ(encode(m, 8), encode(MetadataRequest{d.topics, true, false, false, {}}, 8));
}

TEST(Codec, OutOfOrderUnknownTagsDecodeSorted) {
  // Regression (fuzz corpus unsorted_unknown_tags): tags 3 then 1 on the wire. Decoding sorts
  // them, so re-encoding (always ascending) decodes back to an equal struct.
  MetadataRequest m;
  auto bytes = encode(m, 12);
  ASSERT_EQ(bytes.back(), 0);
  bytes.back() = 2;
  for (int b : {3, 1, int{'x'}, 1, 1, int{'y'}}) bytes.push_back(static_cast<uint8_t>(b));
  MetadataRequest d;
  Reader r(buf_of(bytes));
  ASSERT_TRUE(d.decode(r, 12).ok());
  ASSERT_EQ(d.unknown_tags.size(), 2u);
  EXPECT_EQ(d.unknown_tags[0].tag, 1u);
  EXPECT_EQ(d.unknown_tags[0].data.view(), "y");
  MetadataRequest d2;
  Reader r2(buf_of(encode(d, 12)));
  ASSERT_TRUE(d2.decode(r2, 12).ok());
  EXPECT_TRUE(d2 == d);
}

TEST(Codec, TaggedFieldSizeMismatchFails) {
  // FetchResponse v12 top-level tags claim a 5-byte field with 1 byte left.
  FetchResponse m;
  auto bytes = encode(m, 12);
  ASSERT_EQ(bytes.back(), 0);
  bytes.back() = 1;    // one tag
  bytes.push_back(0);  // tag 0
  bytes.push_back(5);  // size 5
  bytes.push_back(0);
  FetchResponse d;
  Reader r(buf_of(bytes));
  EXPECT_FALSE(d.decode(r, 12).ok());
}

TEST(Codec, RecordsAreZeroCopy) {
  ProduceRequest m;
  auto& p = m.topic_data.emplace_back().partition_data.emplace_back();
  p.index = 3;
  p.records = Buf::copy("RECORDBATCH");
  auto bytes = encode(m, 9);
  Buf frame = buf_of(bytes);
  ProduceRequest d;
  Reader r(frame);
  ASSERT_TRUE(d.decode(r, 9).ok());
  const Buf& rec = *d.topic_data[0].partition_data[0].records;
  EXPECT_EQ(rec.view(), "RECORDBATCH");
  EXPECT_GE(rec.data(), frame.data());
  EXPECT_LE(rec.data() + rec.size(), frame.data() + frame.size());
}

TEST(Codec, NullableFieldsAndNullMarkers) {
  MetadataRequest all;  // v1+: null topics = all topics
  all.topics = std::nullopt;
  EXPECT_EQ(encode(all, 1), (std::vector<uint8_t>{0xff, 0xff, 0xff, 0xff}));
  EXPECT_EQ(encode(all, 0), (std::vector<uint8_t>{0, 0, 0, 0}));  // v0 cannot say null
  MetadataRequest d;
  Reader r(Buf::copy("\xff\xff\xff\xff", 4));
  ASSERT_TRUE(d.decode(r, 1).ok());
  EXPECT_FALSE(d.topics.has_value());
  // The same bytes at v0 are a negative length: malformed.
  Reader r0(Buf::copy("\xff\xff\xff\xff", 4));
  EXPECT_FALSE(d.decode(r0, 0).ok());
}

TEST(Codec, MalformedInputs) {
  struct Case {
    const char* what;
    std::vector<uint8_t> bytes;
  };
  // Produce v3: transactional_id, acks, timeout, topics...
  std::vector<Case> cases = {
      {"empty", {}},
      {"string past end", {0, 50, 'x'}},
      {"negative string length", {0x80, 0x00}},
      {"huge topic count", {0xff, 0xff, 0, 1, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff}},
      {"negative topic count", {0xff, 0xff, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe}},
      {"records length past end", {0xff, 0xff, 0, 1, 0, 0, 0, 1, 0, 0,    0, 1, 0, 1,
                                   't',  0,    0, 0, 1, 0, 0, 0, 0, 0x10, 0, 0, 0, 'r'}},
  };
  for (const auto& c : cases) {
    ProduceRequest d;
    Reader r(buf_of(c.bytes));
    Status st = d.decode(r, 3);
    EXPECT_FALSE(st.ok()) << c.what;
    EXPECT_EQ(st.code(), Errc::kCorruption) << c.what;
  }
  // Compact (v9): a count of 2^31 elements in 6 bytes.
  ProduceRequest d;
  Reader r(Buf::copy("\x00\x00\x01\x00\x00\x00\x01\xff\xff\xff\xff\x07", 12));
  EXPECT_FALSE(d.decode(r, 9).ok());
}

TEST(Codec, EncodeReportsValuesTheVersionCannotCarry) {
  CreateTopicsRequest m;
  m.topics.emplace_back().name = std::string(40000, 't');
  Writer classic;
  EXPECT_EQ(m.encode(classic, 4).code(), Errc::kInvalidArgument);
  Writer compact;
  EXPECT_TRUE(m.encode(compact, 5).ok());
}

TEST(Codec, UnsupportedVersionIsAnError) {
  ProduceRequest m;
  Writer w;
  EXPECT_EQ(m.encode(w, 12).code(), Errc::kInvalidArgument);
  Reader r(Buf{});
  EXPECT_EQ(m.decode(r, -1).code(), Errc::kInvalidArgument);
}

TEST(Codec, RequestHeaderVersionsFollowFlexibility) {
  for (int16_t v : {int16_t{2}, int16_t{3}}) {
    Writer w;
    encode_request_header(w, ApiVersionsRequest::kApiKey, v, 42, "cli");
    ApiVersionsRequest body;
    body.client_software_name = "n";
    ASSERT_TRUE(body.encode(w, v).ok());
    auto bytes = w.finish();
    auto parsed = parse_request_header(buf_of(bytes));
    ASSERT_TRUE(parsed.ok()) << parsed.error().to_string();
    EXPECT_EQ(parsed->header_version, v >= 3 ? 2 : 1);
    EXPECT_EQ(parsed->header.correlation_id, 42);
    EXPECT_EQ(parsed->header.client_id, "cli");
    ApiVersionsRequest d;
    Reader br(parsed->body);
    ASSERT_TRUE(d.decode(br, v).ok());
    EXPECT_EQ(d.client_software_name, v >= 3 ? "n" : "");
  }
  // Header v2 keeps client_id a classic (int16-length) string.
  Writer w;
  encode_request_header(w, MetadataRequest::kApiKey, 12, 1, "ab");
  EXPECT_EQ(w.finish(), (std::vector<uint8_t>{0, 3, 0, 12, 0, 0, 0, 1, 0, 2, 'a', 'b', 0}));
  // Truncated and unknown-api headers.
  EXPECT_FALSE(parse_request_header(Buf::copy("\x00\x03", 2)).ok());
  auto unknown = parse_request_header(Buf::copy("\x7f\x00\x00\x00\x00\x00\x00\x01\xff\xff", 10));
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->api, nullptr);
  EXPECT_EQ(unknown->header.client_id, std::nullopt);
}

TEST(Codec, ResponseHeaderVersions) {
  Writer a;
  encode_response_header(a, ApiVersionsRequest::kApiKey, 4, 9);  // flexible, yet header v0
  EXPECT_EQ(a.finish(), (std::vector<uint8_t>{0, 0, 0, 9}));
  Writer m;
  encode_response_header(m, MetadataRequest::kApiKey, 12, 9);
  EXPECT_EQ(m.finish(), (std::vector<uint8_t>{0, 0, 0, 9, 0}));
  Writer o;
  encode_response_header(o, MetadataRequest::kApiKey, 8, 9);
  EXPECT_EQ(o.finish(), (std::vector<uint8_t>{0, 0, 0, 9}));
}

TEST(Codec, ApiTableMatchesMessageTypes) {
  std::set<int16_t> keys;
  for (const ApiInfo& a : all_apis()) {
    EXPECT_TRUE(keys.insert(a.api_key).second) << a.name;
    EXPECT_EQ(find_api(a.api_key), &a);
    bool seen = visit_request(a.api_key, [&](auto t) {
      using T = typename decltype(t)::type;
      EXPECT_EQ(T::kApiKey, a.api_key);
      EXPECT_EQ(T::kMinVersion, a.min_version);
      EXPECT_EQ(T::kMaxVersion, a.max_version);
      EXPECT_EQ(T::kFirstFlexible, a.first_flexible);
    });
    EXPECT_TRUE(seen);
    EXPECT_TRUE(visit_response(a.api_key, [](auto) {}));
  }
  EXPECT_EQ(find_api(-5), nullptr);
  EXPECT_FALSE(visit_request(9999, [](auto) {}));
  const ApiInfo* av = find_api(18);
  ASSERT_NE(av, nullptr);
  EXPECT_STREQ(av->name, "ApiVersions");
  EXPECT_EQ(av->response_header_version(4), 0);
}

TEST(Codec, ErrorCodes) {
  EXPECT_EQ(to_wire(ErrorCode::kNotLeaderOrFollower), 6);
  EXPECT_STREQ(error_name(ErrorCode::kNotLeaderOrFollower), "NOT_LEADER_OR_FOLLOWER");
  EXPECT_STREQ(error_name(ErrorCode::kUnsupportedVersion), "UNSUPPORTED_VERSION");
  EXPECT_STREQ(error_name(static_cast<ErrorCode>(30000)), "UNKNOWN");
  EXPECT_TRUE(error_retriable(ErrorCode::kNotLeaderOrFollower));
  EXPECT_FALSE(error_retriable(ErrorCode::kTopicAlreadyExists));
  EXPECT_EQ(to_wire(ErrorCode::kVoterNotFound), 127);
}

}  // namespace
}  // namespace shale::kafka
