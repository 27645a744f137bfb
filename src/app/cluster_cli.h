// `shale cluster ...`: operator commands that act on the cluster's records in etcd.
//
//   shale cluster status       --metadata etcd://...        brokers, controller, assignments
//   shale cluster decommission N --metadata etcd://... [--wait-seconds S]
//   shale cluster recommission N --metadata etcd://...
#pragma once

namespace CLI {
class App;
}  // namespace CLI

namespace shale::app {

// Adds the `cluster` subcommand tree to `app`; returns a callback that runs the parsed command
// (exit code) or -1 when `cluster` was not given.
struct ClusterCli;
ClusterCli* add_cluster_commands(CLI::App& app);
int run_cluster_command(ClusterCli* cli);

}  // namespace shale::app
