// DescribeLogDirs (key 35), v1-4. Shale has no per-broker log segments: partition data lives in
// the WAL and then in object storage. We report one "log dir" (the data directory) holding every
// partition this broker leads; partition_size is the stream's StreamInfo::size_bytes (WAL and
// object bytes from log start to end; see stream/stream_store.h), offset_lag 0 (no followers).
// total/usable bytes (v4) are the data dir's filesystem.
#include "kafka/protocol/gen/describe_log_dirs.h"

#include <sys/statvfs.h>

#include "broker/broker.h"
#include "kafka/server/handler.h"
#include "kafka/server/server_config.h"

namespace shale::kafka {
namespace {

using Resp = DescribeLogDirsResponse;

asio::awaitable<Result<ResponseBody>> handle_describe_log_dirs(RequestContext& ctx) {
  auto req = decode_request<DescribeLogDirsRequest>(ctx);
  if (!req.ok()) co_return req.error();
  const broker::TopicManager& tm = ctx.broker.topics();
  Resp::DescribeLogDirsResult dir;
  dir.log_dir = ctx.config.data_dir.empty() ? "." : ctx.config.data_dir;
  struct statvfs st {};
  if (::statvfs(dir.log_dir.c_str(), &st) == 0) {  // one cheap syscall, no disk I/O
    dir.total_bytes = static_cast<int64_t>(st.f_blocks) * static_cast<int64_t>(st.f_frsize);
    dir.usable_bytes = static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize);
  }
  auto add_topic = [&](const std::string& name, const std::vector<int32_t>* only) {
    Resp::DescribeLogDirsTopic t;
    t.name = name;
    for (const auto& p : tm.partitions(name)) {
      if (!p) continue;
      if (only && std::find(only->begin(), only->end(), p->index()) == only->end()) continue;
      auto info = ctx.broker.store().info(p->stream_id());  // a map lookup under a mutex
      const int64_t size = info.ok() ? static_cast<int64_t>(info->size_bytes) : 0;
      t.partitions.push_back({p->index(), size, 0, false, {}});
    }
    if (!t.partitions.empty()) dir.topics.push_back(std::move(t));
  };
  if (!req->topics.has_value()) {
    for (const auto& t : tm.list()) add_topic(t.name, nullptr);
  } else {
    for (const auto& t : *req->topics) {
      if (tm.find(t.topic)) add_topic(t.topic, &t.partitions);
    }
  }
  Resp resp;
  resp.results.push_back(std::move(dir));
  co_return encode_response(ctx, resp);
}

}  // namespace

SHALE_KAFKA_HANDLER(kDescribeLogDirs, handle_describe_log_dirs, 1, 4);

}  // namespace shale::kafka
