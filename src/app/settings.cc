#include "app/settings.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <CLI/CLI.hpp>

namespace shale::app {

const std::vector<SettingDesc>& setting_table() {
  static const std::vector<SettingDesc> table = {
      {"data-dir", "Data directory (WAL, objects, metadata of the embedded default)",
       &Settings::data_dir},
      {"listen", "Kafka listener HOST:PORT", &Settings::listen},
      {"advertise", "HOST:PORT clients are told to connect to (default: the listener)",
       &Settings::advertise},
      {"http", "HTTP admin HOST:PORT (/healthz, /readyz, /metrics)", &Settings::http},
      {"node-id", "Broker id (node.id)", &Settings::node_id},
      {"cluster-id", "Cluster id reported in Metadata", &Settings::cluster_id},
      {"log-level", "trace, debug, info, warn, error", &Settings::log_level},
      {"threads", "Event-loop threads (0 = number of cores)", &Settings::threads},
      {"max-request-bytes", "Largest request accepted (socket.request.max.bytes)",
       &Settings::max_request_bytes},
      {"max-connections", "Open client connections allowed (max.connections)",
       &Settings::max_connections},
      {"idle-timeout-ms", "Close connections idle this long (connections.max.idle.ms)",
       &Settings::idle_timeout_ms},
      {"max-inflight-per-connection", "Pipelined requests per connection before reading pauses",
       &Settings::max_inflight_per_connection},
      {"max-inflight-bytes-per-connection",
       "... or request bytes awaiting their answer (one request always gets in)",
       &Settings::max_inflight_bytes_per_connection},
      {"shutdown-timeout-ms", "On SIGTERM, wait this long for in-flight requests",
       &Settings::shutdown_timeout_ms},
      {"auto-create-topics", "Create unknown topics on Metadata (allow.auto.create.topics)",
       &Settings::auto_create_topics},
      {"default-partitions", "Partitions of auto-created topics (num.partitions)",
       &Settings::default_partitions},
      {"meta-dir", "Embedded metadata journal directory (default DATA_DIR/meta)",
       &Settings::meta_dir},
      {"object-store",
       "Object storage: file://DIR (default file://DATA_DIR/objects) or "
       "s3://BUCKET/PREFIX?endpoint=http://HOST:PORT&region=R&path_style=true",
       &Settings::object_store},
      {"wal",
       "WAL: file://DIR (default file://DATA_DIR/wal), or 'object' (alias 's3'): one object per "
       "group commit on --object-store, indexed in the metadata store",
       &Settings::wal},
      {"wal-flush-bytes", "Object WAL: upload a WAL object when this much is pending",
       &Settings::wal_flush_bytes},
      {"wal-flush-ms", "Object WAL: ... or when the oldest pending append is this old",
       &Settings::wal_flush_ms},
      {"wal-uploads", "Object WAL: WAL objects PUT at once (more appends wait)",
       &Settings::wal_uploads},
      {"wal-object-commit",
       "Object WAL: 'parallel' issues the PUT and the index commit at once (needs conditional "
       "PUT), 'sequential' commits after the PUT; 'auto' = parallel when the store supports it",
       &Settings::wal_object_commit},
      {"s3-access-key", "S3 access key (else AWS_ACCESS_KEY_ID, else the credentials file)",
       &Settings::s3_access_key},
      {"s3-secret-key", "S3 secret key (prefer the config file or AWS_SECRET_ACCESS_KEY)",
       &Settings::s3_secret_key, true},
      {"s3-session-token", "S3 session token of temporary credentials", &Settings::s3_session_token,
       true},
      {"s3-credentials-file",
       "AWS credentials file (default AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials)",
       &Settings::s3_credentials_file},
      {"s3-prefault-get-buffers-mib",
       "S3: MiB of GET receive buffers to write once at start, so the first catch-up reads after "
       "a restart do not pay their page faults (at most 64; 0: none)",
       &Settings::s3_prefault_get_buffers_mib},
      {"wal-segment-bytes", "File WAL segment size", &Settings::wal_segment_bytes},
      {"wal-max-bytes", "File WAL total size (segments are reused after upload)",
       &Settings::wal_max_bytes},
      {"wal-max-commit-bytes", "Largest WAL group commit", &Settings::wal_max_commit_bytes},
      {"log-cache-bytes", "Recent-batch cache bound (produce back-pressure beyond it)",
       &Settings::log_cache_bytes},
      {"block-cache-bytes", "Object block cache for catch-up reads", &Settings::block_cache_bytes},
      {"upload-threshold-bytes", "Upload to object storage when this much is pending",
       &Settings::upload_threshold_bytes},
      {"upload-interval-ms", "... or when the oldest pending data is this old",
       &Settings::upload_interval_ms},
      {"stream-object-bytes", "A stream with more data in one upload gets its own object",
       &Settings::stream_object_bytes},
      {"wal-adopt-min-bytes",
       "Object WAL: index WAL objects of at least this size in place instead of uploading their "
       "records again (-1: never)",
       &Settings::wal_adopt_min_bytes},
      {"cold-read-threads", "Threads reading object storage for catch-up consumers",
       &Settings::cold_read_threads},
      {"cold-read-drop-behind",
       "Drop a cached block once catch-up consumers have read past it (false: keep it until the "
       "block cache evicts it)",
       &Settings::cold_read_drop_behind},
      {"delete-grace-ms", "Dead objects are deleted this long after they die",
       &Settings::delete_grace_ms},
      {"cold-read-bytes-per-sec", "Budget for catch-up reads from objects, bytes/s (0 = unlimited)",
       &Settings::cold_read_bytes_per_sec},
      {"compaction-bytes-per-sec",
       "Budget for compaction reads and writes, bytes/s (0 = unlimited)",
       &Settings::compaction_bytes_per_sec},
      {"offsets-retention-minutes",
       "Committed offsets of an empty group expire this long after it emptied "
       "(offsets.retention.minutes)",
       &Settings::offsets_retention_minutes},
      {"offsets-retention-check-interval-ms",
       "How often expired offsets are removed (offsets.retention.check.interval.ms)",
       &Settings::offsets_retention_check_interval_ms},
      {"group-max-size", "Members a consumer group may have (group.max.size)",
       &Settings::group_max_size},
      {"producer-id-expiration-ms",
       "Drop a producer id's idempotence state after this long without writes "
       "(producer.id.expiration.ms)",
       &Settings::producer_id_expiration_ms},
      {"metadata",
       "Metadata store: empty = embedded under --data-dir (single broker); "
       "etcd://HOST:PORT,HOST:PORT,... = a cluster member",
       &Settings::metadata},
      {"rack", "Rack of this broker (broker.rack), reported in Metadata", &Settings::rack},
      {"broker-lease-seconds",
       "Cluster: registration lease TTL; a broker silent this long loses its partitions",
       &Settings::broker_lease_seconds},
      {"cluster-tick-ms",
       "Cluster: agent poll interval without watches; with watches, its retry delay after an "
       "unfinished pass",
       &Settings::cluster_tick_ms},
      {"cluster-watch",
       "Cluster: the agent reacts to etcd watch events on shale/ (false: poll every tick)",
       &Settings::cluster_watch},
      {"cluster-resync-ms", "Cluster: with watches, the longest time between two agent passes",
       &Settings::cluster_resync_ms},
      {"balance", "Cluster: false turns every kind of balancing off (see balancer-mode)",
       &Settings::balance},
      {"balancer-mode",
       "Cluster: off | count (even out partition counts) | load (measured bytes in/out and "
       "request rates; counts while idle)",
       &Settings::balancer_mode},
      {"load-report-ms", "Cluster: how often each broker publishes its partitions' load",
       &Settings::load_report_ms},
      {"load-window-ms", "Cluster: time constant of the measured (exponentially weighted) rates",
       &Settings::load_window_ms},
      {"balancer-threshold-pct", "Cluster: max/mean broker load (in %) that counts as imbalanced",
       &Settings::balancer_threshold_pct},
      {"balancer-sustain", "Cluster: consecutive imbalanced load reports before a move",
       &Settings::balancer_sustain},
      {"balancer-min-gain-pct",
       "Cluster: a move must lower the busiest broker's load by this % of the mean",
       &Settings::balancer_min_gain_pct},
      {"balancer-cooldown-ms", "Cluster: a partition the balancer moved stays put this long",
       &Settings::balancer_cooldown_ms},
      {"balancer-max-moves", "Cluster: at most this many balancer moves per move window",
       &Settings::balancer_max_moves},
      {"balancer-move-window-ms", "Cluster: the window of balancer-max-moves",
       &Settings::balancer_move_window_ms},
      {"balancer-idle-bytes-per-sec",
       "Cluster: below this cluster-wide bytes in+out per second, balance partition counts",
       &Settings::balancer_idle_bytes_per_sec},
  };
  return table;
}

void add_setting_flags(CLI::App& cmd, Settings& s) {
  for (const auto& d : setting_table()) {
    std::string flag = std::string("--") + d.name;
    std::visit(
        [&](auto member) {
          using T = std::remove_reference_t<decltype(s.*member)>;
          if constexpr (std::is_same_v<T, bool>) {
            // --auto-create-topics=false / true
            cmd.add_option(flag, s.*member, d.help)->capture_default_str()->type_name("BOOL");
          } else if (d.secret) {
            cmd.add_option(flag, s.*member, d.help);
          } else {
            cmd.add_option(flag, s.*member, d.help)->capture_default_str();
          }
        },
        d.field);
  }
}

namespace {

Status apply_table(const toml::table& tbl, Settings& s) {
  for (const auto& [key, node] : tbl) {
    const SettingDesc* desc = nullptr;
    for (const auto& d : setting_table()) {
      if (key.str() == d.name) desc = &d;
    }
    if (!desc) {
      return Status(Errc::kInvalidArgument, fmt::format("unknown setting '{}'", key.str()));
    }
    Status st;
    std::visit(
        [&](auto member) {
          using T = std::remove_reference_t<decltype(s.*member)>;
          if constexpr (std::is_same_v<T, bool>) {
            if (auto v = node.value<bool>())
              s.*member = *v;
            else
              st = Status(Errc::kInvalidArgument, fmt::format("'{}' must be a boolean", key.str()));
          } else if constexpr (std::is_same_v<T, int64_t>) {
            if (node.is_integer())
              s.*member = *node.value<int64_t>();
            else
              st =
                  Status(Errc::kInvalidArgument, fmt::format("'{}' must be an integer", key.str()));
          } else {
            if (node.is_string())
              s.*member = *node.value<std::string>();
            else
              st = Status(Errc::kInvalidArgument, fmt::format("'{}' must be a string", key.str()));
          }
        },
        desc->field);
    SHALE_RETURN_IF_ERROR(st);
  }
  return Status();
}

}  // namespace

Status apply_toml_string(const std::string& text, Settings& s) {
  try {
    return apply_table(toml::parse(text), s);
  } catch (const toml::parse_error& e) {
    return Status(Errc::kInvalidArgument, fmt::format("config: {}", e.description()));
  }
}

Status apply_toml_file(const std::string& path, Settings& s) {
  try {
    Status st = apply_table(toml::parse_file(path), s);
    if (!st.ok()) return Status(st.code(), fmt::format("{}: {}", path, st.message()));
    return st;
  } catch (const toml::parse_error& e) {
    return Status(Errc::kInvalidArgument,
                  fmt::format("{}:{}: {}", path, e.source().begin.line, e.description()));
  }
}

Result<HostPort> parse_host_port(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) {
    return Error{Errc::kInvalidArgument, fmt::format("'{}' is not HOST:PORT", s)};
  }
  HostPort hp;
  hp.host = s.substr(0, colon);
  if (hp.host.size() > 2 && hp.host.front() == '[' && hp.host.back() == ']') {
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  }
  int port = 0;
  for (size_t i = colon + 1; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9')
      return Error{Errc::kInvalidArgument, fmt::format("bad port in '{}'", s)};
    port = port * 10 + (s[i] - '0');
    if (port > 65535)
      return Error{Errc::kInvalidArgument, fmt::format("port out of range in '{}'", s)};
  }
  hp.port = static_cast<uint16_t>(port);
  return hp;
}

}  // namespace shale::app
