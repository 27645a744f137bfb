// GroupCoordinator: Kafka's classic consumer-group protocol (JoinGroup / SyncGroup / Heartbeat /
// LeaveGroup) plus committed offsets, as a transport-free state machine.
//
//   GroupCoordinator gc(opts, clock);
//   gc.join_group(req, [](JoinResult r) { ... });   // may complete later (end of a rebalance)
//   gc.sync_group(req, [](SyncResult r) { ... });   // may complete when the leader syncs
//   gc.heartbeat(...); gc.leave_group(...);          // immediate
//   gc.commit_offsets(req, cb); gc.fetch_offsets(...);
//   gc.tick();                                       // expire sessions / rebalances at now()
//
// Group states (Kafka's names): Empty -> PreparingRebalance -> CompletingRebalance -> Stable,
// back to PreparingRebalance on any membership or protocol change, Dead once deleted. Every
// completed join bumps the generation; requests carrying an older generation are fenced with
// ILLEGAL_GENERATION. Static members (group.instance.id, KIP-345) keep their identity across
// restarts: a rejoin with a known instance id replaces the old member id (the old one is fenced
// with FENCED_INSTANCE_ID) and, if nothing changed, does not trigger a rebalance.
// Assignment runs in the client: the coordinator hands the leader every member's metadata for
// the chosen protocol and forwards the leader's SyncGroup assignments, which is all the eager and
// cooperative-sticky assignors need (cooperative rebalances are just two consecutive rounds).
//
// Persistence: an optional GroupStore receives every offset commit/deletion and the group
// metadata after each completed rebalance; callbacks of commit_offsets, and of sync_group for
// a new generation, complete once it has made them durable (a failed group write answers the
// syncs COORDINATOR_NOT_AVAILABLE or NOT_COORDINATOR). Without a store, state is in memory only.
//
// Threading: thread-safe; one mutex guards all groups. Callbacks (JoinCallback, SyncCallback,
// CommitCallback) are invoked AFTER the mutex is released, on the thread that caused the
// completion (a caller of join/sync/leave/tick, or the store's thread); they must be cheap and
// should post to their own executor (broker::Pending does). tick() must be called periodically
// (start_ticker() runs a thread that does it every `tick_interval`); tests call it by hand with a
// ManualClock.
// Ownership: borrows the Clock and the GroupStore (both must outlive the coordinator).
// Shutdown: the destructor stops the ticker and returns at once; store writes still in flight
// complete later without touching the coordinator (their commit callbacks still get an answer;
// syncs parked on a group write are dropped with the coordinator, like parked joins).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/buf.h"
#include "base/clock.h"
#include "coord/group.h"

namespace shale::coord {

struct CoordinatorOptions {
  int32_t min_session_timeout_ms = 6000;                  // group.min.session.timeout.ms
  int32_t max_session_timeout_ms = 1800000;               // group.max.session.timeout.ms
  int32_t initial_rebalance_delay_ms = 3000;              // group.initial.rebalance.delay.ms
  int32_t max_group_size = 1 << 30;                       // group.max.size
  size_t max_metadata_bytes = 4096;                       // offset.metadata.max.bytes
  int64_t offsets_retention_ms = 7LL * 24 * 3600 * 1000;  // offsets.retention.minutes
  int64_t offsets_retention_check_interval_ms = 600000;   // offsets.retention.check.interval.ms
  std::chrono::milliseconds tick_interval{50};
  // Shale only: records a __consumer_offsets partition takes between two snapshots (OffsetsLog;
  // tests lower it to compact often).
  int64_t offsets_compact_min_records = 1000;
};

class GroupCoordinator;

// Durable sink for group state (implemented over __consumer_offsets by OffsetsLog). Calls are
// made outside the coordinator mutex; `done` may run on any thread.
class GroupStore {
 public:
  virtual ~GroupStore() = default;
  // Housekeeping (OffsetsLog: snapshot + trim of __consumer_offsets), called by the ticker thread
  // after each tick(); may read the coordinator's state with export_state(). Must not block long.
  virtual void maintain(GroupCoordinator& /*gc*/) {}
  // Offsets to store (value) or delete (nullopt) for a group.
  virtual void write_offsets(
      const std::string& group,
      std::vector<std::pair<TopicPartition, std::optional<OffsetAndMetadata>>> entries,
      std::function<void(bool ok)> done) = 0;
  // Group metadata after a rebalance (nullopt: the group was deleted).
  virtual void write_group(const std::string& group, std::optional<GroupSnapshot> snapshot,
                           std::function<void(bool ok)> done) = 0;
};

struct JoinRequest {
  std::string group_id;
  std::string member_id;
  std::optional<std::string> instance_id;
  std::string client_id;
  std::string client_host;
  int32_t session_timeout_ms = 0;
  int32_t rebalance_timeout_ms = -1;  // -1: use the session timeout (JoinGroup v0)
  std::string protocol_type;
  std::vector<Protocol> protocols;
  bool require_known_member_id = true;    // JoinGroup v4+ (KIP-394)
  bool supports_skip_assignment = false;  // JoinGroup v9+
};

struct JoinResult {
  int16_t error = err::kNone;
  int32_t generation = -1;
  std::optional<std::string> protocol_type;
  std::optional<std::string> protocol_name;
  std::string leader;
  std::string member_id;
  bool skip_assignment = false;
  struct Member {
    std::string member_id;
    std::optional<std::string> instance_id;
    Buf metadata;
  };
  std::vector<Member> members;  // only for the leader
};

struct SyncRequest {
  std::string group_id;
  int32_t generation = -1;
  std::string member_id;
  std::optional<std::string> instance_id;
  std::optional<std::string> protocol_type;  // v5+
  std::optional<std::string> protocol_name;  // v5+
  std::vector<std::pair<std::string, Buf>> assignments;
};

struct SyncResult {
  int16_t error = err::kNone;
  std::optional<std::string> protocol_type;
  std::optional<std::string> protocol_name;
  Buf assignment;
};

struct LeaveMember {
  std::string member_id;
  std::optional<std::string> instance_id;
};

struct LeaveResult {
  int16_t error = err::kNone;
  std::vector<int16_t> member_errors;  // one per LeaveMember
};

struct CommitRequest {
  std::string group_id;
  int32_t generation = -1;  // -1: a standalone (simple) consumer
  std::string member_id;
  std::optional<std::string> instance_id;
  int64_t retention_ms = -1;  // OffsetCommit v2-4; -1 = broker default
  std::vector<std::pair<TopicPartition, OffsetAndMetadata>> offsets;
};

struct FetchedOffset {
  TopicPartition tp;
  int64_t offset = -1;
  int32_t leader_epoch = -1;
  std::optional<std::string> metadata;
  int16_t error = err::kNone;
};

struct FetchResult {
  int16_t error = err::kNone;
  std::vector<FetchedOffset> offsets;
};

struct GroupListing {
  std::string group_id;
  std::string protocol_type;
  std::string state;
};

struct GroupDescription {
  int16_t error = err::kNone;
  std::string group_id;
  std::string state = "Dead";
  std::string protocol_type;
  std::string protocol_data;
  struct Member {
    std::string member_id;
    std::optional<std::string> instance_id;
    std::string client_id;
    std::string client_host;
    Buf metadata;
    Buf assignment;
  };
  std::vector<Member> members;
};

// The durable state of one group, as the store holds it: the group metadata last persisted
// (after a completed rebalance) and the committed offsets.
struct GroupExport {
  std::string group_id;
  std::optional<GroupSnapshot> metadata;
  std::map<TopicPartition, OffsetAndMetadata> offsets;
};

using JoinCallback = std::function<void(JoinResult)>;
using SyncCallback = std::function<void(SyncResult)>;
using CommitCallback = std::function<void(std::vector<int16_t>)>;  // one error per offset

class GroupCoordinator {
 public:
  GroupCoordinator(CoordinatorOptions opts, Clock& clock, GroupStore* store = nullptr);
  ~GroupCoordinator();
  GroupCoordinator(const GroupCoordinator&) = delete;
  GroupCoordinator& operator=(const GroupCoordinator&) = delete;

  void join_group(JoinRequest req, JoinCallback cb);
  void sync_group(SyncRequest req, SyncCallback cb);
  int16_t heartbeat(const std::string& group_id, const std::string& member_id,
                    const std::optional<std::string>& instance_id, int32_t generation);
  LeaveResult leave_group(const std::string& group_id, const std::vector<LeaveMember>& members);

  void commit_offsets(CommitRequest req, CommitCallback cb);
  // `partitions` nullopt: every committed offset of the group.
  FetchResult fetch_offsets(const std::string& group_id,
                            const std::optional<std::vector<TopicPartition>>& partitions);
  // Top-level error plus one error per partition.
  std::pair<int16_t, std::vector<int16_t>> delete_offsets(
      const std::string& group_id, const std::vector<TopicPartition>& partitions);

  GroupDescription describe_group(const std::string& group_id);
  // Empty filters match everything; state names compare case-insensitively.
  std::vector<GroupListing> list_groups(const std::vector<std::string>& states_filter);
  int16_t delete_group(const std::string& group_id);

  // Restores state read back from the store at startup (before serving requests).
  void restore_offsets(const std::string& group, const TopicPartition& tp,
                       std::optional<OffsetAndMetadata> value);
  void restore_group(const std::string& group, std::optional<GroupSnapshot> snapshot);

  // Expires member sessions, pending (MEMBER_ID_REQUIRED) members, rebalance deadlines and
  // offsets of empty groups past retention, at clock.now().
  void tick();
  // Runs tick() every opts.tick_interval on an owned thread until stop_ticker()/destruction.
  void start_ticker();
  void stop_ticker();

  size_t group_count();

  // The durable state of every group for which `want(group_id)` is true (all if empty), sorted
  // by group id. Groups with neither persisted metadata nor offsets are left out.
  std::vector<GroupExport> export_state(
      const std::function<bool(const std::string&)>& want = nullptr);

  // While loading (replaying the log at startup) every request answers
  // COORDINATOR_LOAD_IN_PROGRESS. A new coordinator is not loading.
  void set_loading(bool v) { loading_.store(v); }
  bool loading() const { return loading_.load(); }

  // Cluster mode: whether this coordinator serves a group right now. Returns err::kNone,
  // kNotCoordinator (the group's __consumer_offsets partition is owned by another broker) or
  // kCoordinatorLoadInProgress (the partition was just gained and is being replayed). Every
  // group request (join, sync, heartbeat, leave, commit, fetch, delete offsets, describe, delete
  // group) answers that error when it is not kNone, and an offset commit that becomes durable
  // after its group moved away is not applied to memory. Set once, before the first request;
  // called without the coordinator mutex held, from any thread; must not block.
  using Gate = std::function<int16_t(const std::string& group_id)>;
  void set_gate(Gate gate) { gate_ = std::move(gate); }
  // Cluster mode: the load generation of the group's partition (it changes at every gain and
  // loss). An offset commit updates memory only if the generation is the same when the commit
  // becomes durable as when it was accepted: a commit of an earlier ownership that completes
  // late must not overwrite what a later replay restored (the log has it, in its place). Same
  // rules as the gate; unset: one generation.
  using LoadGeneration = std::function<uint64_t(const std::string& group_id)>;
  void set_load_generation(LoadGeneration f) { load_gen_ = std::move(f); }
  // Forgets every group for which `which(group_id)` is true (their partition moved away, or is
  // about to be replayed): parked JoinGroup / SyncGroup requests answer NOT_COORDINATOR and
  // nothing of these groups stays in memory, so a later replay starts from the log alone.
  // Returns the number of groups dropped.
  size_t drop_groups(const std::function<bool(const std::string&)>& which);

 private:
  using Actions = std::vector<std::function<void()>>;  // callbacks run after unlocking
  Group* find(const std::string& id);
  Group& get_or_create(const std::string& id);
  void join_new_member(Group& g, JoinRequest& req, JoinCallback& cb, Actions& out);
  void join_known_member(Group& g, JoinRequest& req, JoinCallback& cb, Actions& out);
  void join_static_rejoin(Group& g, JoinRequest& req, JoinCallback& cb, Actions& out);
  void add_member_and_rebalance(Group& g, JoinRequest& req, const std::string& id, JoinCallback cb,
                                Actions& out);
  void update_member_and_rebalance(Group& g, Member& m, JoinRequest& req, JoinCallback cb,
                                   Actions& out);
  void prepare_rebalance(Group& g, Actions& out);
  void maybe_complete_join(Group& g, Actions& out);
  void complete_join(Group& g, Actions& out);
  void remove_member(Group& g, const std::string& member_id, Actions& out);
  void set_assignment_and_stabilise(Group& g, Actions& out);
  void stabilise(Group& g, Actions& out);
  // Completion of the write set_assignment_and_stabilise issued (`write` = Group::sync_write).
  void assignment_written(const std::string& group, uint64_t write, GroupSnapshot snap, bool ok);
  void persist_group(Group& g, Actions& out);
  void expire_offsets(Group& g, Actions& out);
  JoinResult join_result_for(const Group& g, const Member& m) const;
  static int16_t check_session_timeouts(const CoordinatorOptions& o, const JoinRequest& r);
  std::chrono::steady_clock::time_point now() const { return clock_.now(); }
  static void run(Actions& a);
  // loading / gate verdict for a request of `group_id` (kNone: serve it). Not under mu_.
  int16_t unavailable(const std::string& group_id) const;

  const CoordinatorOptions opts_;
  Clock& clock_;
  GroupStore* const store_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Group>> groups_;  // guarded by mu_
  uint64_t next_member_seq_ = 0;                          // guarded by mu_
  uint64_t next_sync_write_ = 0;                          // guarded by mu_

  int64_t next_expiry_check_ms_ = 0;  // guarded by mu_

  std::atomic<bool> loading_{false};
  Gate gate_;                // set before serving, then read-only
  LoadGeneration load_gen_;  // set before serving, then read-only
  // Store completions (commits answered once durable) may arrive after the coordinator is gone:
  // they reach it only through this lifeline, which the destructor cuts under `mu`. The
  // destructor never waits for the store (it may run on the thread that completes writes).
  struct Lifeline {
    std::mutex mu;
    GroupCoordinator* gc = nullptr;  // guarded by mu; null once destroyed
  };
  std::shared_ptr<Lifeline> life_ = std::make_shared<Lifeline>();

  std::mutex ticker_mu_;
  std::condition_variable ticker_cv_;
  bool ticker_stop_ = false;
  std::thread ticker_;
};

}  // namespace shale::coord
