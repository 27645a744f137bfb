// On-disk formats of the embedded metadata store: the journal (one record per mutation batch)
// and snapshots. Described in README.md; every constant is defined here, beside its meaning.
// All integers are little-endian. Strings are a u32 byte length followed by the bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "meta/meta_store.h"

namespace shale::meta {

// ---- Journal file: journal-<seq:020>.log ----
// Header (kJournalHeaderSize bytes): magic u32 | format version u32 | seq u64.
constexpr uint32_t kJournalMagic = 0x4A4D4853;  // "SHMJ" read as little-endian bytes
constexpr uint32_t kJournalVersion = 1;
constexpr size_t kJournalHeaderSize = 16;
static_assert(kJournalHeaderSize == 4 + 4 + 8);
// Then records, back to back: length u32 | crc32c(payload) u32 | payload[length].
constexpr size_t kRecordHeaderSize = 8;
static_assert(kRecordHeaderSize == 4 + 4);
// A length above this is treated as garbage (a torn or zeroed tail), never allocated.
constexpr uint32_t kMaxRecordPayload = 64u << 20;

// Record payload: revision-after i64 | effect count u32 | effects. Effect: kind u8, then
//   kPut:         key str | value str | lease i64   (creates or updates key at revision-after)
//   kDelete:      key str
//   kLeaseGrant:  lease i64 | ttl_ms i64
//   kLeaseRevoke: lease i64                         (its keys are deleted by kDelete effects)
// revision-after equals the previous revision + 1 if the batch has a put or delete, else the
// previous revision (a lease-only batch does not advance the revision, as in etcd).
struct Effect {
  enum class Kind : uint8_t { kPut = 1, kDelete = 2, kLeaseGrant = 3, kLeaseRevoke = 4 };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;
  int64_t lease = 0;   // put: attached lease (0 = none); grant/revoke: the lease id
  int64_t ttl_ms = 0;  // grant only
};
struct Batch {
  int64_t revision = 0;  // store revision after the batch
  std::vector<Effect> effects;
  bool changes_keys() const;
};
void encode_batch(const Batch& b, std::string* out);
// Exactly the number of bytes encode_batch() appends.
size_t encoded_batch_size(const Batch& b);
Result<Batch> decode_batch(std::string_view payload);

// ---- Snapshot file: snapshot-<seq:020>.snap ----
// The full state after every record of the journals numbered below seq; recovery loads the
// newest snapshot and replays journals numbered >= seq.
// Layout: magic u32 | format version u32 | payload length u64 | crc32c(payload) u32 | payload.
constexpr uint32_t kSnapshotMagic = 0x534D4853;  // "SHMS"
constexpr uint32_t kSnapshotVersion = 1;
constexpr size_t kSnapshotHeaderSize = 20;
static_assert(kSnapshotHeaderSize == 4 + 4 + 8 + 4);
// Payload: revision i64 | next lease id i64 | kv count u64 | kvs | lease count u64 | leases.
//   kv:    key str | value str | create_revision i64 | mod_revision i64 | version i64 | lease i64
//   lease: id i64 | ttl_ms i64
struct SnapshotData {
  int64_t revision = 1;
  int64_t next_lease_id = 1;
  std::vector<KeyValue> kvs;                        // sorted by key
  std::vector<std::pair<int64_t, int64_t>> leases;  // (id, ttl_ms)
};
void encode_snapshot(const SnapshotData& s, std::string* out);
Result<SnapshotData> decode_snapshot(std::string_view file);

// File names.
std::string journal_name(uint64_t seq);
std::string snapshot_name(uint64_t seq);
constexpr std::string_view kSnapshotTempName = "snapshot.tmp";
// Parses "journal-<n>.log" / "snapshot-<n>.snap"; false if the name is not of that form.
bool parse_journal_name(const std::string& name, uint64_t* seq);
bool parse_snapshot_name(const std::string& name, uint64_t* seq);

}  // namespace shale::meta
