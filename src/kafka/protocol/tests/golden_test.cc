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

}  // namespace
}  // namespace shale::kafka
