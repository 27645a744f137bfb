// The cluster's records in the metadata store: key layout and JSON codecs.
//
//   shale/brokers/<id>                 {"id","host","port","rack"}  under the broker's lease
//   shale/controller                   "<id>"                       under the controller's lease
//   shale/assignments/<topic>/<index>  {"node","epoch","target"}    written with CAS only
//   shale/decommission/<id>            ""                           no new partitions for <id>
//   shale/load/<id>                    {"seq","interval_ms","p"}    under the broker's lease:
//                                      its partitions' rates, [[topic,index,in,out,req],...]
//                                      in bytes/s and requests/s (load_report.h)
//
// An assignment names the partition's owner and owner epoch (the stream epoch it opens at, the
// leader epoch clients see). target >= 0 asks the owner to hand the partition over: it stops
// serving it, uploads, releases, and rewrites the record as {target, epoch + 1, -1}.
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
  int32_t target = -1;  // >= 0: a move to this broker is in progress
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
