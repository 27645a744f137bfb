#include "app/cluster_cli.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "base/clock.h"
#include "cluster/admin.h"
#include "cluster/records.h"
#include "etcd/etcd_meta_store.h"

namespace shale::app {

struct ClusterCli {
  CLI::App* cluster = nullptr;
  CLI::App* status = nullptr;
  CLI::App* decommission = nullptr;
  CLI::App* recommission = nullptr;
  std::string metadata;
  int32_t broker = -1;
  int64_t wait_seconds = 300;
};

ClusterCli* add_cluster_commands(CLI::App& app) {
  static ClusterCli c;
  c.cluster = app.add_subcommand("cluster", "Operate a Shale cluster through its etcd");
  c.cluster->require_subcommand(1);
  c.status = c.cluster->add_subcommand("status", "Live brokers, controller and partition owners");
  c.decommission = c.cluster->add_subcommand(
      "decommission", "Move every partition off broker N and give it no new ones; waits");
  c.recommission =
      c.cluster->add_subcommand("recommission", "Let broker N receive partitions again");
  for (CLI::App* sub : {c.status, c.decommission, c.recommission}) {
    sub->add_option("--metadata", c.metadata, "etcd://HOST:PORT,...")->required();
  }
  for (CLI::App* sub : {c.decommission, c.recommission}) {
    sub->add_option("broker", c.broker, "Broker id")->required();
  }
  c.decommission
      ->add_option("--wait-seconds", c.wait_seconds,
                   "Give up waiting after this long (moves continue)")
      ->capture_default_str();
  return &c;
}

namespace {

int status(meta::MetaStore& meta) {
  const std::string bp(cluster::kBrokersPrefix);
  auto brokers = meta.get(bp, meta::prefix_end(bp));
  auto ctl = meta.get(std::string(cluster::kControllerKey));
  auto assignments = cluster::read_assignments(meta);
  if (!brokers.ok() || !ctl.ok() || !assignments.ok()) {
    std::fprintf(stderr, "shale: etcd: %s\n",
                 (!brokers.ok() ? brokers.error()
                  : !ctl.ok()   ? ctl.error()
                                : assignments.error())
                     .to_string()
                     .c_str());
    return 1;
  }
  std::printf("controller: %s\n", ctl->kvs.empty() ? "none" : ctl->kvs[0].value.c_str());
  for (const auto& kv : brokers->kvs) {
    auto b = cluster::decode_broker(kv.value);
    if (b.ok())
      std::printf("broker %d %s:%d rack '%s'\n", b->id, b->host.c_str(), b->port, b->rack.c_str());
  }
  for (const auto& [k, c] : *assignments) {
    std::printf("%s-%d owner %d epoch %d%s\n", k.first.c_str(), k.second, c.a.node, c.a.epoch,
                c.a.target >= 0 ? fmt::format(" moving to {}", c.a.target).c_str() : "");
  }
  return 0;
}

}  // namespace

int run_cluster_command(ClusterCli* c) {
  if (!c->cluster->parsed()) return -1;
  auto meta = etcd::open_etcd_meta(c->metadata, SystemClock::instance());
  if (!meta.ok()) {
    std::fprintf(stderr, "shale: %s\n", meta.error().to_string().c_str());
    return 2;
  }
  if (c->status->parsed()) return status(**meta);
  if (c->recommission->parsed()) {
    Status st = cluster::recommission_broker(**meta, c->broker);
    std::printf("broker %d: %s\n", c->broker,
                st.ok() ? "may receive partitions again" : st.to_string().c_str());
    return st.ok() ? 0 : 1;
  }
  Status st = cluster::decommission_broker(
      **meta, c->broker, std::chrono::seconds(c->wait_seconds), [&](int owned) {
        std::printf("broker %d owns %d partitions\n", c->broker, owned);
        std::fflush(stdout);
      });
  if (!st.ok()) {
    std::fprintf(stderr, "shale: %s\n", st.to_string().c_str());
    return 1;
  }
  std::printf("broker %d is decommissioned: it owns nothing and may be stopped\n", c->broker);
  return 0;
}

}  // namespace shale::app
