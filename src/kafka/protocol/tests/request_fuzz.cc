// libFuzzer target: (api key index, version, request/response, bytes) -> decode; if that
// succeeds, encode, decode the encoding again and require the same struct and the same bytes.
// Also feeds the bytes to the request header parser. Must never crash under ASan/UBSan.
//   build: CC=clang CXX=clang++ cmake -DSHALE_FUZZ=ON ...; run: kafka_request_fuzz corpus/
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "kafka/protocol/gen/messages.h"
#include "kafka/protocol/request_header.h"

namespace shale::kafka {
namespace {

template <typename T>
void check(const Buf& input, int16_t version) {
  T m;
  Reader r(input);
  if (!m.decode(r, version).ok()) return;
  Writer w;
  if (!m.encode(w, version).ok()) std::abort();
  std::vector<uint8_t> bytes = w.finish();
  T m2;
  Reader r2(Buf::copy(bytes.data(), bytes.size()));
  if (!m2.decode(r2, version).ok()) std::abort();  // our own encoding must decode
  if (!(m2 == m)) std::abort();
  Writer w2;
  if (!m2.encode(w2, version).ok() || w2.finish() != bytes) std::abort();
}

}  // namespace
}  // namespace shale::kafka

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace shale::kafka;
  if (size < 4) return 0;
  auto apis = all_apis();
  const ApiInfo& api = apis[data[0] % apis.size()];
  const int16_t version =
      static_cast<int16_t>(api.min_version + data[1] % (api.max_version - api.min_version + 1));
  const bool response = data[2] & 1;
  shale::Buf body = shale::Buf::copy(data + 3, size - 3);
  auto visit = [&](auto t) { check<typename decltype(t)::type>(body, version); };
  if (response) {
    visit_response(api.api_key, visit);
  } else {
    visit_request(api.api_key, visit);
  }
  auto parsed = parse_request_header(body);
  (void)parsed;
  return 0;
}
