// The cluster's records in the metadata store: key layout and JSON codecs.
//
//   shale/brokers/<id>                 {"id","host","port","rack"}  under the broker's lease
//   shale/controller                   "<id>"                       under the controller's lease
//   shale/assignments/<topic>/<index>  {"node","epoch","target"[,"moved_ms"]}  CAS only
//   shale/decommission/<id>            ""                           no new partitions for <id>
//   shale/load/<id>                    {"seq","interval_ms","p"}    under the broker's lease:
//                                      its partitions' rates, [[topic,index,in,out,req],...]
//                                      in bytes/s and requests/s (load_report.h)
//
// An assignment names the partition's owner and owner epoch (the stream epoch it opens at, the
// leader epoch clients see). target >= 0 asks the owner to hand the partition over: it stops
// serving it, uploads, releases, and rewrites the record as {target, epoch + 1, -1}.
// moved_ms (absent = 0) is the wall-clock time (ms since the Unix epoch) at which the load
// balancer last set a target; every rewrite by an owner carries it forward, so a new controller
// re-derives the balancer's cool-downs and rate limit from the records (balancer.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"
#include "broker/cluster_view.h"

namespace shale::cluster {

inline constexpr std::string_view kBrokersPrefix = "shale/brokers/";
inline constexpr std::string_view kControllerKey = "shale/controller";
inline constexpr std::string_view kAssignmentsPrefix = "shale/assignments/";
inline constexpr std::string_view kDecommissionPrefix = "shale/decommission/";
inline constexpr std::string_view kLoadPrefix = "shale/load/";

struct Assignment {
  int32_t node = -1;
  int32_t epoch = 0;
  int32_t target = -1;   // >= 0: a move to this broker is in progress
  int64_t moved_ms = 0;  // wall-clock ms of the load balancer's last move; 0 = never
  bool operator==(const Assignment&) const = default;
};

std::string broker_key(int32_t id);
std::string assignment_key(std::string_view topic, int32_t index);
std::string decommission_key(int32_t id);

std::string encode_broker(const broker::BrokerEndpoint& b);
Result<broker::BrokerEndpoint> decode_broker(std::string_view json);
std::string encode_assignment(const Assignment& a);
Result<Assignment> decode_assignment(std::string_view json);
// "shale/assignments/<topic>/<index>" → (topic, index); false if malformed.
bool parse_assignment_key(std::string_view key, std::string* topic, int32_t* index);

}  // namespace shale::cluster
