// Golden bytes: request frames captured from real clients (testdata/*.bin, each one frame
// without its 4-byte size prefix). Each must parse, decode and re-encode byte-identically.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "kafka/protocol/gen/messages.h"
#include "kafka/protocol/request_header.h"

namespace shale::kafka {
namespace {

std::vector<uint8_t> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

struct Decoded {
  ParsedRequest req;
  std::vector<uint8_t> reencoded;
};

Result<Decoded> decode_and_reencode(const std::vector<uint8_t>& frame) {
  SHALE_ASSIGN_OR_RETURN(ParsedRequest req,
                         parse_request_header(Buf::copy(frame.data(), frame.size())));
  if (!req.api) return Error{Errc::kInvalidArgument, "unknown api"};
  Decoded out{req, {}};
  Status st;
  const int16_t v = req.header.request_api_version;
  visit_request(req.header.request_api_key, [&](auto t) {
    typename decltype(t)::type m;
    Reader r(req.body);
    st = m.decode(r, v);
    if (!st.ok()) return;
    if (r.remaining() != 0) {
      st = Status(Errc::kCorruption, "trailing bytes after body");
      return;
    }
    Writer w;
    req.header.write(w, req.header_version);
    st = m.encode(w, v);
    out.reencoded = w.finish();
  });
  if (!st.ok()) return st;
  return out;
}

std::vector<std::filesystem::path> fixtures() {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(KAFKA_TESTDATA_DIR))
    if (e.path().extension() == ".bin") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Golden, CapturedRequestsRoundTripByteIdentical) {
  auto files = fixtures();
  ASSERT_FALSE(files.empty()) << "no fixtures in " << KAFKA_TESTDATA_DIR;
  for (const auto& f : files) {
    SCOPED_TRACE(f.filename().string());
    auto frame = read_file(f);
    auto d = decode_and_reencode(frame);
    ASSERT_TRUE(d.ok()) << d.error().to_string();
    EXPECT_EQ(d->reencoded, frame);
  }
}

template <typename T>
T decode_fixture(const char* name) {
  auto frame = read_file(std::filesystem::path(KAFKA_TESTDATA_DIR) / name);
  auto req = parse_request_header(Buf::copy(frame.data(), frame.size()));
  EXPECT_TRUE(req.ok());
  T m;
  if (!req.ok()) return m;
  EXPECT_EQ(req->header.request_api_key, T::kApiKey);
  Reader r(req->body);
  EXPECT_TRUE(m.decode(r, req->header.request_api_version).ok());
  return m;
}

TEST(Golden, FieldsOfCapturedRequests) {
  auto av = decode_fixture<ApiVersionsRequest>("kcat_ApiVersions_v3.bin");
  EXPECT_EQ(av.client_software_name, "librdkafka");
  auto cav = decode_fixture<ApiVersionsRequest>("confluent_kafka_python_ApiVersions_v3.bin");
  EXPECT_EQ(cav.client_software_name, "confluent-kafka-python");
  auto md = decode_fixture<MetadataRequest>("kcat_Metadata_v4.bin");
  ASSERT_TRUE(md.topics.has_value());
  ASSERT_EQ(md.topics->size(), 1u);
  EXPECT_EQ((*md.topics)[0].name, "shaletest");
  auto pr = decode_fixture<ProduceRequest>("kcat_Produce_v7.bin");
  ASSERT_EQ(pr.topic_data.size(), 1u);
  EXPECT_EQ(pr.topic_data[0].name, "shaletest");
  ASSERT_EQ(pr.topic_data[0].partition_data.size(), 1u);
  const auto& rec = pr.topic_data[0].partition_data[0].records;
  ASSERT_TRUE(rec.has_value());
  ASSERT_GT(rec->size(), 61u);  // a v2 batch header is 61 bytes
  EXPECT_EQ((*rec)[16], 2);     // magic byte of record batch v2
  auto ip = decode_fixture<InitProducerIdRequest>("confluent_kafka_python_InitProducerId_v4.bin");
  EXPECT_EQ(ip.transactional_id, std::nullopt);
}

}  // namespace
}  // namespace shale::kafka
