// `shale`: one binary for the broker (`shale serve`) and, later, the operator CLI.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>

#include "app/cluster_cli.h"
#include "app/http_server.h"
#include "app/settings.h"
#include "app/wiring.h"
#include "base/log.h"
#include "kafka/server/server.h"

namespace shale::app {
namespace {

std::string settings_footer() {
  Settings defaults;
  std::string out =
      "\nSettings of `shale serve` (flag --NAME, or key NAME in the TOML file given by --config;\n"
      "flags override the file). NAME = default:\n";
  for (const auto& d : setting_table()) {
    std::string v = std::visit(
        [&](auto member) -> std::string {
          using T = std::remove_reference_t<decltype(defaults.*member)>;
          if constexpr (std::is_same_v<T, bool>)
            return defaults.*member ? "true" : "false";
          else if constexpr (std::is_same_v<T, int64_t>)
            return std::to_string(defaults.*member);
          else
            return "\"" + defaults.*member + "\"";
        },
        d.field);
    out += fmt::format("  {:<29} {:<17} {}\n", d.name, v, d.help);
  }
  return out;
}

// Finds --config FILE / --config=FILE before the real parse, so the file's values become the
// flags' defaults and explicit flags still win.
std::string prescan_config(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) return argv[i + 1];
    if (std::strncmp(argv[i], "--config=", 9) == 0) return argv[i] + 9;
  }
  return {};
}

int serve(const Settings& s) {
  init_logging(s.log_level);
  auto listen = parse_host_port(s.listen);
  auto http = parse_host_port(s.http);
  if (!listen.ok() || !http.ok()) {
    SHALE_LOG_ERROR("app", "{}", (!listen.ok() ? listen.error() : http.error()).message);
    return 2;
  }
  kafka::ServerConfig cfg;
  cfg.listen_host = listen->host;
  cfg.listen_port = listen->port;
  if (!s.advertise.empty()) {
    auto adv = parse_host_port(s.advertise);
    if (!adv.ok()) {
      SHALE_LOG_ERROR("app", "--advertise: {}", adv.error().message);
      return 2;
    }
    cfg.advertised_host = adv->host;
    cfg.advertised_port = adv->port;
  }
  cfg.node_id = static_cast<int32_t>(s.node_id);
  cfg.data_dir = s.data_dir;
  cfg.cluster_id = s.cluster_id;
  cfg.threads = static_cast<unsigned>(std::max<int64_t>(0, s.threads));
  cfg.max_request_bytes = s.max_request_bytes;
  cfg.max_connections = static_cast<int32_t>(s.max_connections);
  cfg.idle_timeout = std::chrono::milliseconds(s.idle_timeout_ms);
  cfg.max_inflight_per_connection = static_cast<int32_t>(s.max_inflight_per_connection);
  cfg.max_inflight_bytes_per_connection = s.max_inflight_bytes_per_connection;
  cfg.shutdown_drain = std::chrono::milliseconds(s.shutdown_timeout_ms);
  cfg.allow_auto_create_topics = s.auto_create_topics;
  cfg.default_partitions = static_cast<int32_t>(s.default_partitions);

  // Block the termination signals in every thread; the main thread waits for them below.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  kafka::MetricsRegistry metrics;
  AdminHttpServer admin(http->host, http->port, metrics);
  if (Status st = admin.start(); !st.ok()) {
    SHALE_LOG_ERROR("app", "{}", st.to_string());
    return 1;
  }
  auto services = start_services(s, metrics);
  if (!services.ok()) {
    SHALE_LOG_ERROR("app", "startup failed: {}", services.error().to_string());
    return 1;
  }
  kafka::Server server(cfg, (*services)->broker(), metrics);
  if (Status st = server.start(); !st.ok()) {
    SHALE_LOG_ERROR("app", "{}", st.to_string());
    (*services)->stop();
    return 1;
  }
  admin.set_ready(true);
  SHALE_LOG_INFO("app", "shale serving Kafka on {}:{} (node {}), admin HTTP on {}:{}",
                 cfg.listen_host, server.port(), cfg.node_id, http->host, admin.port());

  int sig = 0;
  sigwait(&sigs, &sig);
  SHALE_LOG_INFO("app", "received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  admin.set_ready(false);
  server.stop();
  (*services)->stop();
  admin.stop();
  SHALE_LOG_INFO("app", "shutdown complete");
  return 0;
}

}  // namespace
}  // namespace shale::app

int main(int argc, char** argv) {
  using namespace shale::app;
  Settings settings;
  std::string config_path = prescan_config(argc, argv);
  if (!config_path.empty()) {
    if (auto st = apply_toml_file(config_path, settings); !st.ok()) {
      std::fprintf(stderr, "shale: %s\n", st.message().c_str());
      return 2;
    }
  }
  CLI::App app{"Shale: a Kafka-compatible event streaming platform with shared storage."};
  app.footer(settings_footer());
  app.require_subcommand(1);
  CLI::App* serve_cmd =
      app.add_subcommand("serve", "Run a broker (embedded default under --data-dir)");
  serve_cmd->add_option("--config", config_path, "TOML config file (flags override its values)");
  add_setting_flags(*serve_cmd, settings);
  ClusterCli* cluster_cli = add_cluster_commands(app);
  CLI11_PARSE(app, argc, argv);
  if (serve_cmd->parsed()) return serve(settings);
  if (int rc = run_cluster_command(cluster_cli); rc >= 0) return rc;
  return 0;
}
