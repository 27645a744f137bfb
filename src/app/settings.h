// Every setting of `shale serve`, with its default, in one table. The same table drives the
// command-line flags (CLI11), the TOML config file (--config FILE; flat keys named like the flags,
// e.g. `data-dir = "/var/lib/shale"`), and `--help`. Precedence: flag > config file > default.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "base/result.h"
#include "objfmt/block_cache.h"

namespace CLI {
class App;
}  // namespace CLI

namespace shale::app {

struct Settings {
  std::string data_dir = "./data";
  std::string listen = "127.0.0.1:9092";
  std::string advertise;  // empty: the listen address
  std::string http = "127.0.0.1:9644";
  int64_t node_id = 0;
  std::string cluster_id = "shale-cluster";
  std::string log_level = "info";
  int64_t threads = 0;  // 0: number of cores
  // Kafka server limits.
  int64_t max_request_bytes = 100 << 20;
  int64_t max_connections = 10000;
  int64_t idle_timeout_ms = 600000;
  int64_t max_inflight_per_connection = 64;
  int64_t max_inflight_bytes_per_connection = 64 << 20;
  int64_t shutdown_timeout_ms = 10000;
  bool auto_create_topics = true;
  int64_t default_partitions = 1;
  // Storage choices (wiring.h composes the services from them). Empty = the embedded default
  // under data_dir: DATA_DIR/meta, file://DATA_DIR/objects, file://DATA_DIR/wal.
  std::string meta_dir;
  std::string object_store;  // file://DIR or s3://BUCKET/PREFIX?endpoint=...&region=...
  std::string wal;           // file://DIR, or "object" / "s3": the object WAL on object_store
  // S3 credentials (else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, else a
  // credentials file). Never logged.
  std::string s3_access_key;
  std::string s3_secret_key;
  std::string s3_session_token;
  std::string s3_credentials_file;  // empty: AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials
  // GET receive buffers written once at start, so a catch-up right after a restart does not pay
  // their page faults (s3::RecvBufferPool::prefault; at most the pool's 64 MiB idle bound).
  int64_t s3_prefault_get_buffers_mib = 64;
  // Object WAL.
  int64_t wal_flush_bytes = 8ll << 20;
  int64_t wal_flush_ms = 50;
  int64_t wal_uploads = 4;
  std::string wal_object_commit = "auto";  // auto | parallel | sequential (PUT vs index commit)
  // File WAL.
  int64_t wal_segment_bytes = 64ll << 20;
  int64_t wal_max_bytes = 1ll << 30;
  int64_t wal_max_commit_bytes = 8ll << 20;
  // Stream store: caches and uploader.
  int64_t log_cache_bytes = 256ll << 20;
  int64_t block_cache_bytes = objfmt::kDefaultBlockCacheBytes;
  int64_t upload_threshold_bytes = 32ll << 20;
  int64_t upload_interval_ms = 500;
  int64_t stream_object_bytes = 8ll << 20;
  int64_t wal_adopt_min_bytes = 1ll << 20;  // object WAL adoption threshold; -1: off
  int64_t cold_read_threads = 2;
  bool cold_read_drop_behind = true;
  int64_t delete_grace_ms = 60000;
  // Bandwidth budgets (bytes/s, 0 = unlimited) so catch-up reads and compaction cannot starve
  // appends, uploads and tail reads.
  int64_t cold_read_bytes_per_sec = 0;
  int64_t compaction_bytes_per_sec = 0;
  // Group coordinator: committed offsets of empty groups expire after this long.
  int64_t offsets_retention_minutes = 10080;
  int64_t offsets_retention_check_interval_ms = 600000;
  int64_t group_max_size = 2147483647;
  // Idempotent producers: state of a producer id idle this long is dropped (Kafka's
  // producer.id.expiration.ms, broker-wide).
  int64_t producer_id_expiration_ms = 86400000;
  // Cluster (src/cluster): only with an etcd metadata store.
  std::string metadata;  // empty: embedded (single broker); etcd://HOST:PORT,HOST:PORT,...
  std::string rack;
  int64_t broker_lease_seconds = 6;
  int64_t cluster_tick_ms = 200;
  bool cluster_watch = true;
  int64_t cluster_resync_ms = 2000;
  bool balance = true;  // false: no balancing at all, whatever balancer_mode says
  // Balancer (src/cluster/load_balancer.h): off | count (partition counts) | load (measured
  // bytes in/out and requests per partition; counts while the cluster is idle).
  std::string balancer_mode = "load";
  int64_t load_report_ms = 5000;             // each broker publishes its partitions' rates
  int64_t load_window_ms = 30000;            // time constant of the rates
  int64_t balancer_threshold_pct = 125;      // max / mean broker load that is imbalanced
  int64_t balancer_sustain = 3;              // ... in this many consecutive reports
  int64_t balancer_min_gain_pct = 10;        // a move lowers the max load by >= this % of the mean
  int64_t balancer_cooldown_ms = 600000;     // a moved partition stays put this long
  int64_t balancer_max_moves = 4;            // at most this many moves ...
  int64_t balancer_move_window_ms = 600000;  // ... per window
  int64_t balancer_idle_bytes_per_sec = 65536;  // below (cluster in + out): count balancing
};

struct SettingDesc {
  const char* name;  // flag name without "--" and TOML key
  const char* help;
  std::variant<std::string Settings::*, int64_t Settings::*, bool Settings::*> field;
  bool secret = false;  // never shown (--help prints no current value)
};
const std::vector<SettingDesc>& setting_table();

// Registers one --flag per setting on `cmd`, bound to `s` (whose current values are shown as
// defaults in --help).
void add_setting_flags(CLI::App& cmd, Settings& s);
// Applies a TOML file to `s`. Unknown keys and wrong types are errors (typos must not pass
// silently).
Status apply_toml_file(const std::string& path, Settings& s);
Status apply_toml_string(const std::string& text, Settings& s);

// "host:port" -> parts. Port 0 allowed (tests: pick a free port).
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
Result<HostPort> parse_host_port(const std::string& s);

}  // namespace shale::app
