// SaslHandshake (key 17), v0-1. SASL is not configured yet: every mechanism is rejected with
// UNSUPPORTED_SASL_MECHANISM (33) and an empty list of enabled mechanisms.
#include "kafka/server/handler.h"

namespace shale::kafka {
namespace {

constexpr int16_t kUnsupportedSaslMechanism = 33;

asio::awaitable<Result<ResponseBody>> handle_sasl_handshake(RequestContext& ctx) {
  // Request: mechanism (string, int16 length). Validate the framing even though we reject.
  const Buf& b = ctx.body;
  if (b.size() < 2) co_return Error{Errc::kInvalidArgument, "SaslHandshake: short body"};
  int16_t len = static_cast<int16_t>((b[0] << 8) | b[1]);
  if (len < 0 || static_cast<size_t>(len) + 2 > b.size()) {
    co_return Error{Errc::kInvalidArgument, "SaslHandshake: bad mechanism length"};
  }
  // Response: error_code int16, mechanisms array (int32 count).
  std::vector<uint8_t> out = {0, kUnsupportedSaslMechanism, 0, 0, 0, 0};
  ResponseBody r;
  r.parts.push_back(Buf::take(std::move(out)));
  co_return r;
}

}  // namespace

SHALE_KAFKA_HANDLER(kSaslHandshake, handle_sasl_handshake, 0, 1);

}  // namespace shale::kafka
