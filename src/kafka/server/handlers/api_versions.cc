// ApiVersions (key 18), v0-4. Lists every registered handler's advertised version range.
// Requests with a version above ours never reach this handler: the server answers them with
// UNSUPPORTED_VERSION and a v0 body (down-negotiation, KIP-511).
#include "kafka/protocol/gen/api_versions.h"

#include "kafka/server/handler.h"
#include "kafka/server/versions.h"

namespace shale::kafka {
namespace {

asio::awaitable<Result<ResponseBody>> handle_api_versions(RequestContext& ctx) {
  // v3+ carries client_software_name/version; we do not use them, but a body that does not
  // decode is malformed (the connection is closed).
  ApiVersionsRequest req;
  Reader rd(ctx.body);
  SHALE_CO_RETURN_IF_ERROR(req.decode(rd, ctx.header.request_api_version));
  ResponseBody r;
  r.parts.push_back(encode_api_versions_body(ctx.header.request_api_version, 0));
  co_return r;
}

}  // namespace

SHALE_KAFKA_HANDLER(kApiVersions, handle_api_versions, 0, 4);

}  // namespace shale::kafka
