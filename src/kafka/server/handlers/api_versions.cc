// ApiVersions (key 18), v0-4. Lists every registered handler's advertised version range.
// Requests with a version above ours never reach this handler: the server answers them with
// UNSUPPORTED_VERSION and a v0 body (down-negotiation, KIP-511).
#include "kafka/server/request_header.h"

namespace shale::kafka {
namespace {

asio::awaitable<Result<ResponseBody>> handle_api_versions(RequestContext& ctx) {
  // v3+ carries client_software_name/version (compact strings) + tags; we do not use them, but
  // a body that cannot even hold them is malformed.
  if (ctx.header.api_version >= 3 && ctx.body.size() < 3) {
    co_return Error{Errc::kInvalidArgument, "ApiVersions v3+: truncated body"};
  }
  ResponseBody r;
  r.parts.push_back(encode_api_versions_body(ctx.header.api_version, 0));
  co_return r;
}

}  // namespace

SHALE_KAFKA_HANDLER(kApiVersions, handle_api_versions, 0, 4);

}  // namespace shale::kafka
