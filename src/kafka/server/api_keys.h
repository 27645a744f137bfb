// Kafka API keys by name, for handler registration (SHALE_KAFKA_HANDLER(kProduce, ...)).
// Values are the protocol's published API keys; they never change.
#pragma once

#include <cstdint>

namespace shale::kafka::api_key {

inline constexpr int16_t kProduce = 0;
inline constexpr int16_t kFetch = 1;
inline constexpr int16_t kListOffsets = 2;
inline constexpr int16_t kMetadata = 3;
inline constexpr int16_t kOffsetCommit = 8;
inline constexpr int16_t kOffsetFetch = 9;
inline constexpr int16_t kFindCoordinator = 10;
inline constexpr int16_t kJoinGroup = 11;
inline constexpr int16_t kHeartbeat = 12;
inline constexpr int16_t kLeaveGroup = 13;
inline constexpr int16_t kSyncGroup = 14;
inline constexpr int16_t kDescribeGroups = 15;
inline constexpr int16_t kListGroups = 16;
inline constexpr int16_t kSaslHandshake = 17;
inline constexpr int16_t kApiVersions = 18;
inline constexpr int16_t kCreateTopics = 19;
inline constexpr int16_t kDeleteTopics = 20;
inline constexpr int16_t kDeleteRecords = 21;
inline constexpr int16_t kInitProducerId = 22;
inline constexpr int16_t kOffsetForLeaderEpoch = 23;
inline constexpr int16_t kAddPartitionsToTxn = 24;
inline constexpr int16_t kAddOffsetsToTxn = 25;
inline constexpr int16_t kEndTxn = 26;
inline constexpr int16_t kWriteTxnMarkers = 27;
inline constexpr int16_t kTxnOffsetCommit = 28;
inline constexpr int16_t kDescribeAcls = 29;
inline constexpr int16_t kCreateAcls = 30;
inline constexpr int16_t kDeleteAcls = 31;
inline constexpr int16_t kDescribeConfigs = 32;
inline constexpr int16_t kAlterConfigs = 33;
inline constexpr int16_t kDescribeLogDirs = 35;
inline constexpr int16_t kSaslAuthenticate = 36;
inline constexpr int16_t kCreatePartitions = 37;
inline constexpr int16_t kDeleteGroups = 42;
inline constexpr int16_t kIncrementalAlterConfigs = 44;
inline constexpr int16_t kAlterPartitionReassignments = 45;
inline constexpr int16_t kListPartitionReassignments = 46;
inline constexpr int16_t kOffsetDelete = 47;
inline constexpr int16_t kDescribeClientQuotas = 48;
inline constexpr int16_t kAlterClientQuotas = 49;
inline constexpr int16_t kDescribeUserScramCredentials = 50;
inline constexpr int16_t kAlterUserScramCredentials = 51;
inline constexpr int16_t kDescribeCluster = 60;
inline constexpr int16_t kDescribeProducers = 61;
inline constexpr int16_t kDescribeTransactions = 65;
inline constexpr int16_t kListTransactions = 66;
inline constexpr int16_t kConsumerGroupHeartbeat = 68;
inline constexpr int16_t kDescribeTopicPartitions = 75;

}  // namespace shale::kafka::api_key
