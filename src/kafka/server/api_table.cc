#include "kafka/server/api_table.h"

#include <algorithm>

#include "kafka/server/handler.h"

namespace shale::kafka {
namespace {

// The protocol's published facts (Apache Kafka 4.x schemas): name, valid versions, first
// flexible version. Interim source until the generated table of src/kafka/protocol is wired in.
constexpr ApiInfo kApis[] = {
    {0, "Produce", 0, 12, 9},
    {1, "Fetch", 0, 17, 12},
    {2, "ListOffsets", 0, 10, 6},
    {3, "Metadata", 0, 13, 9},
    {8, "OffsetCommit", 0, 9, 8},
    {9, "OffsetFetch", 0, 9, 6},
    {10, "FindCoordinator", 0, 6, 3},
    {11, "JoinGroup", 0, 9, 6},
    {12, "Heartbeat", 0, 4, 4},
    {13, "LeaveGroup", 0, 5, 4},
    {14, "SyncGroup", 0, 5, 4},
    {15, "DescribeGroups", 0, 6, 5},
    {16, "ListGroups", 0, 5, 3},
    {17, "SaslHandshake", 0, 1, -1},
    {18, "ApiVersions", 0, 4, 3},
    {19, "CreateTopics", 0, 7, 5},
    {20, "DeleteTopics", 0, 6, 4},
    {21, "DeleteRecords", 0, 2, 2},
    {22, "InitProducerId", 0, 5, 2},
    {23, "OffsetForLeaderEpoch", 0, 4, 4},
    {24, "AddPartitionsToTxn", 0, 5, 3},
    {25, "AddOffsetsToTxn", 0, 4, 3},
    {26, "EndTxn", 0, 5, 3},
    {27, "WriteTxnMarkers", 0, 1, 1},
    {28, "TxnOffsetCommit", 0, 5, 3},
    {29, "DescribeAcls", 0, 3, 2},
    {30, "CreateAcls", 0, 3, 2},
    {31, "DeleteAcls", 0, 3, 2},
    {32, "DescribeConfigs", 0, 4, 4},
    {33, "AlterConfigs", 0, 2, 2},
    {35, "DescribeLogDirs", 0, 4, 2},
    {36, "SaslAuthenticate", 0, 2, 2},
    {37, "CreatePartitions", 0, 3, 2},
    {42, "DeleteGroups", 0, 2, 2},
    {44, "IncrementalAlterConfigs", 0, 1, 1},
    {47, "OffsetDelete", 0, 0, -1},
    {48, "DescribeClientQuotas", 0, 1, 1},
    {49, "AlterClientQuotas", 0, 1, 1},
    {50, "DescribeUserScramCredentials", 0, 0, 0},
    {51, "AlterUserScramCredentials", 0, 0, 0},
    {60, "DescribeCluster", 0, 1, 0},
    {61, "DescribeProducers", 0, 0, 0},
    {65, "DescribeTransactions", 0, 0, 0},
    {66, "ListTransactions", 0, 1, 0},
    {68, "ConsumerGroupHeartbeat", 0, 0, 0},
    {75, "DescribeTopicPartitions", 0, 0, 0},
};

}  // namespace

const ApiInfo* api_info(int16_t api_key) {
  for (const auto& a : kApis) {
    if (a.api_key == api_key) return &a;
  }
  return nullptr;
}

const char* api_name(int16_t api_key) {
  const ApiInfo* a = api_info(api_key);
  return a ? a->name : "Unknown";
}

bool request_header_flexible(int16_t api_key, int16_t version) {
  const ApiInfo* a = api_info(api_key);
  return a && a->first_flexible >= 0 && version >= a->first_flexible;
}

bool response_header_flexible(int16_t api_key, int16_t version) {
  if (api_key == api_key::kApiVersions) return false;
  return request_header_flexible(api_key, version);
}

std::optional<AdvertisedApi> advertised_api(int16_t key) {
  const HandlerEntry* h = HandlerRegistry::instance().find(key);
  const ApiInfo* a = api_info(key);
  if (!h || !a) return std::nullopt;
  int16_t lo = std::max(h->min_version, a->codec_min);
  int16_t hi = std::min(h->max_version, a->codec_max);
  if (lo > hi) return std::nullopt;
  return AdvertisedApi{key, lo, hi};
}

std::vector<AdvertisedApi> advertised_apis() {
  std::vector<AdvertisedApi> out;
  for (const auto& h : HandlerRegistry::instance().entries()) {
    if (auto a = advertised_api(h.api_key)) out.push_back(*a);
  }
  return out;
}

}  // namespace shale::kafka
