// Kafka error codes the broker core returns, and ApiError (a code plus a message for the
// response's error_message field). Values are fixed by the Kafka protocol
// (org.apache.kafka.common.protocol.Errors); the handlers pass them through unchanged.
// kafka/protocol/errors.h holds the full enum; this header keeps the broker library free of the
// generated protocol code.
#pragma once

#include <cstdint>
#include <string>

namespace shale::broker {

namespace kerr {
inline constexpr int16_t kUnknownServerError = -1;
inline constexpr int16_t kNone = 0;
inline constexpr int16_t kOffsetOutOfRange = 1;
inline constexpr int16_t kCorruptMessage = 2;
inline constexpr int16_t kUnknownTopicOrPartition = 3;
inline constexpr int16_t kLeaderNotAvailable = 5;
inline constexpr int16_t kNotLeaderOrFollower = 6;
inline constexpr int16_t kRequestTimedOut = 7;
inline constexpr int16_t kMessageTooLarge = 10;
inline constexpr int16_t kInvalidTopicException = 17;
inline constexpr int16_t kRecordListTooLarge = 18;
inline constexpr int16_t kInvalidRequiredAcks = 21;
inline constexpr int16_t kInvalidTimestamp = 32;
inline constexpr int16_t kUnsupportedVersion = 35;
inline constexpr int16_t kTopicAlreadyExists = 36;
inline constexpr int16_t kInvalidPartitions = 37;
inline constexpr int16_t kInvalidReplicationFactor = 38;
inline constexpr int16_t kInvalidReplicaAssignment = 39;
inline constexpr int16_t kInvalidConfig = 40;
inline constexpr int16_t kInvalidRequest = 42;
inline constexpr int16_t kPolicyViolation = 44;
inline constexpr int16_t kOutOfOrderSequenceNumber = 45;
inline constexpr int16_t kInvalidProducerEpoch = 47;
inline constexpr int16_t kInvalidTxnState = 48;
inline constexpr int16_t kTransactionalIdAuthorizationFailed = 53;
inline constexpr int16_t kKafkaStorageError = 56;
inline constexpr int16_t kFetchSessionIdNotFound = 70;
inline constexpr int16_t kInvalidFetchSessionEpoch = 71;
inline constexpr int16_t kFencedLeaderEpoch = 74;
inline constexpr int16_t kUnknownLeaderEpoch = 75;
inline constexpr int16_t kUnsupportedCompressionType = 76;
inline constexpr int16_t kInvalidRecord = 87;
inline constexpr int16_t kUnknownTopicId = 100;
inline constexpr int16_t kInconsistentTopicId = 103;
inline constexpr int16_t kFetchSessionTopicIdError = 106;
}  // namespace kerr

struct ApiError {
  int16_t code = kerr::kNone;
  std::string message;
  bool ok() const { return code == kerr::kNone; }
  static ApiError none() { return {}; }
};

}  // namespace shale::broker
