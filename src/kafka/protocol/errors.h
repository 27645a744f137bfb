// Kafka protocol error codes (the int16 ErrorCode fields of responses), as Apache Kafka 3.9
// defines them. Values are wire constants: never renumber.
#pragma once

#include <cstdint>

namespace shale::kafka {

// X(name, code, retriable, one-line meaning)
#define SHALE_KAFKA_ERRORS(X)                                                                    \
  X(kUnknownServerError, -1, false, "Unexpected server error")                                   \
  X(kNone, 0, false, "Success")                                                                  \
  X(kOffsetOutOfRange, 1, false, "Requested offset is outside the partition's range")            \
  X(kCorruptMessage, 2, true, "Message failed its CRC check or is otherwise corrupt")            \
  X(kUnknownTopicOrPartition, 3, true, "This server does not host this topic-partition")         \
  X(kInvalidFetchSize, 4, false, "The requested fetch size is invalid")                          \
  X(kLeaderNotAvailable, 5, true, "A leader election is in progress; no leader yet")             \
  X(kNotLeaderOrFollower, 6, true, "This broker is not the leader (or follower) of it")          \
  X(kRequestTimedOut, 7, true, "The request timed out")                                          \
  X(kBrokerNotAvailable, 8, false, "The broker is not available")                                \
  X(kReplicaNotAvailable, 9, true, "The replica is not available for the partition")             \
  X(kMessageTooLarge, 10, false, "Request included a message larger than the maximum")           \
  X(kStaleControllerEpoch, 11, false, "The controller moved to another broker")                  \
  X(kOffsetMetadataTooLarge, 12, false, "The commit's metadata string is too large")             \
  X(kNetworkException, 13, true, "The server disconnected before a response was received")       \
  X(kCoordinatorLoadInProgress, 14, true, "The coordinator is loading and cannot serve yet")     \
  X(kCoordinatorNotAvailable, 15, true, "The coordinator is not available")                      \
  X(kNotCoordinator, 16, true, "This is not the correct coordinator")                            \
  X(kInvalidTopicException, 17, false, "The topic name is invalid (or an internal topic)")       \
  X(kRecordListTooLarge, 18, false, "The batch is larger than the maximum segment size")         \
  X(kNotEnoughReplicas, 19, true, "Fewer in-sync replicas than min.insync.replicas")             \
  X(kNotEnoughReplicasAfterAppend, 20, true, "Written with fewer in-sync replicas than needed")  \
  X(kInvalidRequiredAcks, 21, false, "Produce request specified an invalid acks value")          \
  X(kIllegalGeneration, 22, false, "The group generation id is not current")                     \
  X(kInconsistentGroupProtocol, 23, false, "Protocol type/set incompatible with the group")      \
  X(kInvalidGroupId, 24, false, "The group id is invalid")                                       \
  X(kUnknownMemberId, 25, false, "The coordinator does not know this member id")                 \
  X(kInvalidSessionTimeout, 26, false, "Session timeout outside the broker's allowed range")     \
  X(kRebalanceInProgress, 27, false, "The group is rebalancing; rejoin")                         \
  X(kInvalidCommitOffsetSize, 28, false, "The committing offset data size is not valid")         \
  X(kTopicAuthorizationFailed, 29, false, "Topic authorization failed")                          \
  X(kGroupAuthorizationFailed, 30, false, "Group authorization failed")                          \
  X(kClusterAuthorizationFailed, 31, false, "Cluster authorization failed")                      \
  X(kInvalidTimestamp, 32, false, "A record timestamp is out of the acceptable range")           \
  X(kUnsupportedSaslMechanism, 33, false, "The broker does not support this SASL mechanism")     \
  X(kIllegalSaslState, 34, false, "Request not valid in the current SASL state")                 \
  X(kUnsupportedVersion, 35, false, "The version of this API is not supported")                  \
  X(kTopicAlreadyExists, 36, false, "A topic with this name already exists")                     \
  X(kInvalidPartitions, 37, false, "Number of partitions is below 1 or otherwise invalid")       \
  X(kInvalidReplicationFactor, 38, false, "Replication factor is below 1 or above brokers")      \
  X(kInvalidReplicaAssignment, 39, false, "Replica assignment is invalid")                       \
  X(kInvalidConfig, 40, false, "Configuration is invalid")                                       \
  X(kNotController, 41, true, "This is not the correct controller for this cluster")             \
  X(kInvalidRequest, 42, false, "Malformed request or a field value the broker rejects")         \
  X(kUnsupportedForMessageFormat, 43, false, "Not supported by the message format version")      \
  X(kPolicyViolation, 44, false, "Request parameters do not satisfy the configured policy")      \
  X(kOutOfOrderSequenceNumber, 45, false, "The broker got an out of order sequence number")      \
  X(kDuplicateSequenceNumber, 46, false, "The broker got a duplicate sequence number")           \
  X(kInvalidProducerEpoch, 47, false, "Producer's epoch is older than the broker's (fenced)")    \
  X(kInvalidTxnState, 48, false, "The operation is invalid for the current transaction state")   \
  X(kInvalidProducerIdMapping, 49, false, "The producer id does not match the transactional id") \
  X(kInvalidTransactionTimeout, 50, false, "Transaction timeout above the broker maximum")       \
  X(kConcurrentTransactions, 51, true, "Another transaction operation on this id is pending")    \
  X(kTransactionCoordinatorFenced, 52, false, "A newer transaction coordinator is active")       \
  X(kTransactionalIdAuthorizationFailed, 53, false, "Transactional id authorization failed")     \
  X(kSecurityDisabled, 54, false, "Security features are disabled")                              \
  X(kOperationNotAttempted, 55, false, "Not attempted because a related operation failed")       \
  X(kKafkaStorageError, 56, true, "Disk error when trying to access the log")                    \
  X(kLogDirNotFound, 57, false, "The user-specified log directory is not found")                 \
  X(kSaslAuthenticationFailed, 58, false, "SASL authentication failed")                          \
  X(kUnknownProducerId, 59, false, "The broker has no state for this producer id")               \
  X(kReassignmentInProgress, 60, false, "A partition reassignment is in progress")               \
  X(kDelegationTokenAuthDisabled, 61, false, "Delegation token feature is not enabled")          \
  X(kDelegationTokenNotFound, 62, false, "Delegation token is not found on the server")          \
  X(kDelegationTokenOwnerMismatch, 63, false, "Principal does not match the token owner")        \
  X(kDelegationTokenRequestNotAllowed, 64, false, "Token requests not allowed on this channel")  \
  X(kDelegationTokenAuthorizationFailed, 65, false, "Delegation token authorization failed")     \
  X(kDelegationTokenExpired, 66, false, "Delegation token is expired")                           \
  X(kInvalidPrincipalType, 67, false, "Supplied principal type is not supported")                \
  X(kNonEmptyGroup, 68, false, "The group is not empty")                                         \
  X(kGroupIdNotFound, 69, false, "The group id does not exist")                                  \
  X(kFetchSessionIdNotFound, 70, true, "The fetch session id was not found")                     \
  X(kInvalidFetchSessionEpoch, 71, true, "The fetch session epoch is invalid")                   \
  X(kListenerNotFound, 72, true, "No matching listener on the leader broker")                    \
  X(kTopicDeletionDisabled, 73, false, "Topic deletion is disabled")                             \
  X(kFencedLeaderEpoch, 74, true, "The request's leader epoch is older than the broker's")       \
  X(kUnknownLeaderEpoch, 75, true, "The request's leader epoch is newer than the broker's")      \
  X(kUnsupportedCompressionType, 76, false, "Consumer's version cannot read this compression")   \
  X(kStaleBrokerEpoch, 77, false, "Broker epoch has changed")                                    \
  X(kOffsetNotAvailable, 78, true, "Leader high watermark not caught up since the election")     \
  X(kMemberIdRequired, 79, false, "Member id required; rejoin with the given member id")         \
  X(kPreferredLeaderNotAvailable, 80, true, "The preferred leader was not available")            \
  X(kGroupMaxSizeReached, 81, false, "The group reached its maximum size")                       \
  X(kFencedInstanceId, 82, false, "Another member with the same group.instance.id exists")       \
  X(kEligibleLeadersNotAvailable, 83, true, "Eligible topic partition leaders are unavailable")  \
  X(kElectionNotNeeded, 84, true, "Leader election not needed for the topic partition")          \
  X(kNoReassignmentInProgress, 85, false, "No partition reassignment is in progress")            \
  X(kGroupSubscribedToTopic, 86, false, "Cannot delete offsets of a topic the group consumes")   \
  X(kInvalidRecord, 87, false, "A record failed validation on the broker")                       \
  X(kUnstableOffsetCommit, 88, true, "Pending transactional offset commits; retry later")        \
  X(kThrottlingQuotaExceeded, 89, true, "The throttling quota has been exceeded")                \
  X(kProducerFenced, 90, false, "A newer producer with this transactional id exists")            \
  X(kResourceNotFound, 91, false, "A request illegally referred to a missing resource")          \
  X(kDuplicateResource, 92, false, "A request illegally referred to the same resource twice")    \
  X(kUnacceptableCredential, 93, false, "Requested credential would not meet the criteria")      \
  X(kInconsistentVoterSet, 94, false, "Request from a voter not in the voter set (KRaft)")       \
  X(kInvalidUpdateVersion, 95, false, "The given update version was invalid")                    \
  X(kFeatureUpdateFailed, 96, false, "Unable to update finalized features (server error)")       \
  X(kPrincipalDeserializationFailure, 97, false, "Forwarded principal could not be read")        \
  X(kSnapshotNotFound, 98, false, "The requested snapshot was not found")                        \
  X(kPositionOutOfRange, 99, false, "Requested position is outside the snapshot")                \
  X(kUnknownTopicId, 100, true, "This server does not host this topic id")                       \
  X(kDuplicateBrokerRegistration, 101, false, "This broker id is already registered")            \
  X(kBrokerIdNotRegistered, 102, false, "The given broker id was not registered")                \
  X(kInconsistentTopicId, 103, true, "The log's topic id does not match the request's")          \
  X(kInconsistentClusterId, 104, false, "The cluster id does not match the stored one")          \
  X(kTransactionalIdNotFound, 105, false, "The transactional id could not be found")             \
  X(kFetchSessionTopicIdError, 106, true, "Fetch session saw topic id changes or mixing")        \
  X(kIneligibleReplica, 107, false, "New ISR contains at least one ineligible replica")          \
  X(kNewLeaderElected, 108, false, "AlterPartition was rejected: a new leader was elected")      \
  X(kOffsetMovedToTieredStorage, 109, false, "The offset has moved to tiered storage")           \
  X(kFencedMemberEpoch, 110, false, "The member epoch is fenced; rejoin with epoch 0")           \
  X(kUnreleasedInstanceId, 111, false, "The instance id is still used by another member")        \
  X(kUnsupportedAssignor, 112, false, "The assignor or its version range is not supported")      \
  X(kStaleMemberEpoch, 113, false, "The member epoch is stale; retry after a heartbeat")         \
  X(kMismatchedEndpointType, 114, false, "The request was sent to an endpoint of wrong type")    \
  X(kUnsupportedEndpointType, 115, false, "This endpoint type is not supported yet")             \
  X(kUnknownControllerId, 116, false, "This controller id is not known")                         \
  X(kUnknownSubscriptionId, 117, false, "Client sent a push telemetry with an unknown id")       \
  X(kTelemetryTooLarge, 118, false, "Client sent a push telemetry request that is too large")    \
  X(kInvalidRegistration, 119, false, "The controller considers the registration invalid")       \
  X(kTransactionAbortable, 120, false, "Server error; the transaction must be aborted")          \
  X(kInvalidRecordState, 121, false, "The record state is invalid (share groups)")               \
  X(kShareSessionNotFound, 122, true, "The share session was not found")                         \
  X(kInvalidShareSessionEpoch, 123, true, "The share session epoch is invalid")                  \
  X(kFencedStateEpoch, 124, false, "The share coordinator state epoch is fenced")                \
  X(kInvalidVoterKey, 125, false, "The voter key does not match the receiving replica's")        \
  X(kDuplicateVoter, 126, false, "The voter is already part of the voter set")                   \
  X(kVoterNotFound, 127, false, "The voter is not part of the voter set")

enum class ErrorCode : int16_t {
#define SHALE_KAFKA_ERROR_ENUM(name, code, retriable, about) name = code,
  SHALE_KAFKA_ERRORS(SHALE_KAFKA_ERROR_ENUM)
#undef SHALE_KAFKA_ERROR_ENUM
};

// Kafka's upper-case name ("NOT_LEADER_OR_FOLLOWER"), or "UNKNOWN" for a value not listed.
const char* error_name(ErrorCode e);
// The one-line meaning, or "" for a value not listed.
const char* error_message(ErrorCode e);
// Whether a client may retry the same request (Kafka's RetriableException subclasses).
bool error_retriable(ErrorCode e);
constexpr int16_t to_wire(ErrorCode e) {
  return static_cast<int16_t>(e);
}

}  // namespace shale::kafka
