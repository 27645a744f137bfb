// ObjectWal::recover() and its helpers: epoch claim, index replay, tombstones for index entries
// whose object never landed (parallel commit order), and the sweep of unreferenced objects.
#include <fmt/format.h>

#include <charconv>
#include <map>
#include <set>
#include <sstream>

#include "base/crc32c.h"
#include "base/endian.h"
#include "base/log.h"
#include "wal/object_wal.h"

namespace shale::wal {
namespace {

// Decodes one object; visit(pos, record) for each record. kCorruption on any mismatch.
Status decode_object(const Buf& data, uint64_t start, Epoch epoch, NodeId node,
                     const std::function<void(uint64_t, WalRecord)>& visit) {
  const uint8_t* p = data.data();
  if (data.size() < kObjHeaderSize || load_le<uint32_t>(p) != kObjMagic ||
      load_le<uint32_t>(p + 4) != 1 || load_le<int32_t>(p + 8) != node.value() ||
      load_le<int64_t>(p + 16) != epoch.value() || load_le<uint64_t>(p + 24) != start)
    return Status(Errc::kCorruption, fmt::format("object wal: bad header at {}", start));
  const uint32_t count = load_le<uint32_t>(p + 12);
  size_t off = kObjHeaderSize;
  for (uint32_t i = 0; i < count; ++i) {
    if (data.size() - off < kObjRecordHeaderSize)
      return Status(Errc::kCorruption,
                    fmt::format("object wal: truncated record at {}", start + off));
    const uint8_t* h = p + off;
    const uint32_t len = load_le<uint32_t>(h + 4);
    if (data.size() - off - kObjRecordHeaderSize < len)
      return Status(Errc::kCorruption,
                    fmt::format("object wal: truncated payload at {}", start + off));
    const uint32_t crc =
        crc32c_extend(crc32c(h + 4, kObjRecordHeaderSize - 4), h + kObjRecordHeaderSize, len);
    if (crc != load_le<uint32_t>(h))
      return Status(Errc::kCorruption, fmt::format("object wal: bad crc at {}", start + off));
    WalRecord r;
    r.stream = StreamId(load_le<uint64_t>(h + 8));
    r.epoch = Epoch(load_le<int64_t>(h + 16));
    r.base = Offset(load_le<int64_t>(h + 24));
    r.count = load_le<int32_t>(h + 32);
    r.payload = data.slice(off + kObjRecordHeaderSize, len);
    visit(start + off, std::move(r));
    off += kObjRecordHeaderSize + len;
  }
  if (off != data.size())
    return Status(Errc::kCorruption, fmt::format("object wal: trailing bytes at {}", start));
  return Status();
}

// Decodes a format 2 object (objfmt layout, WAL header in the stream-0 block); visit(pos,
// record) in block order. Returns the object's description for adoption.
Result<std::shared_ptr<WalObject>> decode_object2(
    const Buf& data, uint64_t start, Epoch epoch, NodeId node,
    const std::function<void(uint64_t, WalRecord)>& visit) {
  auto bad = [&](std::string_view what) {
    return Error{Errc::kCorruption, fmt::format("object wal: {} in object at {}", what, start)};
  };
  SHALE_ASSIGN_OR_RETURN(objfmt::ObjectLayout layout, objfmt::parse_layout(data, data.size()));
  if (layout.index.empty() || layout.index[0].stream.value() != 0) return bad("no header block");
  std::map<StreamId, Epoch> epochs;
  uint32_t count = 0;
  uint64_t k = 0;
  for (size_t bi = 0; bi < layout.index.size(); ++bi) {
    const objfmt::BlockIndexEntry& e = layout.index[bi];
    SHALE_ASSIGN_OR_RETURN(auto batches, objfmt::decode_block(data.slice(e.position, e.size), e));
    if (bi == 0) {
      if (batches.size() != 1) return bad("header block");
      const Buf& h = batches[0].batch;
      const uint8_t* p = h.data();
      if (h.size() < kObj2HeaderSize || load_le<uint32_t>(p) != kObj2Magic ||
          load_le<uint32_t>(p + 4) != 2 || load_le<int32_t>(p + 8) != node.value() ||
          load_le<int64_t>(p + 16) != epoch.value() || load_le<uint64_t>(p + 24) != start)
        return bad("bad header");
      count = load_le<uint32_t>(p + 12);
      const uint32_t n = load_le<uint32_t>(p + 32);
      if (h.size() != kObj2HeaderSize + uint64_t{n} * kObj2StreamEntrySize)
        return bad("bad stream table");
      for (uint32_t i = 0; i < n; ++i) {
        const uint8_t* q = p + kObj2HeaderSize + i * kObj2StreamEntrySize;
        epochs[StreamId(load_le<uint64_t>(q))] = Epoch(load_le<int64_t>(q + 8));
      }
      continue;
    }
    auto ep = epochs.find(e.stream);
    if (e.stream.value() == 0 || ep == epochs.end()) return bad("block of an unlisted stream");
    for (auto& d : batches) {
      WalRecord r;
      r.stream = e.stream;
      r.epoch = ep->second;
      r.base = d.base;
      r.count = d.count;
      r.max_ts = d.max_timestamp;
      r.payload = std::move(d.batch);
      visit(start + 1 + k++, std::move(r));
    }
  }
  if (k != count) return bad("record count mismatch");
  auto obj = std::make_shared<WalObject>();
  obj->size = data.size();
  obj->start = WalPos(static_cast<int64_t>(start));
  obj->end = WalPos(static_cast<int64_t>(start + data.size()));
  obj->records = count;
  obj->ranges = ranges_of_blocks(layout.index);
  return obj;
}

bool is_format2(const Buf& data) {
  return data.size() >= objfmt::kFooterSize &&
         load_le<uint64_t>(data.data() + data.size() - 8) == objfmt::kFooterMagic &&
         (data.size() < 4 || load_le<uint32_t>(data.data()) != kObjMagic);
}

}  // namespace

bool is_tombstone(const Buf& data) {
  return data.size() == kTombstoneSize && load_le<uint32_t>(data.data()) == kTombstoneMagic;
}

Status ObjectWal::claim_epoch() {
  SHALE_ASSIGN_OR_RETURN(auto cur, meta_.get(epoch_key_));
  meta::Txn t;
  if (!cur.kvs.empty()) {
    int64_t stored = 0;
    const std::string& v = cur.kvs[0].value;
    std::from_chars(v.data(), v.data() + v.size(), stored);
    if (opts_.next_epoch) epoch_ = Epoch(stored + 1);
    if (stored >= epoch_.value())
      return Status(Errc::kFenced, fmt::format("object wal: node {} epoch {} <= stored epoch {}",
                                               opts_.node.value(), epoch_.value(), stored));
    t.compares.push_back(meta::Compare::mod_rev(epoch_key_, cur.kvs[0].mod_revision));
  } else {
    if (opts_.next_epoch) epoch_ = Epoch(1);
    t.compares.push_back(meta::Compare::absent(epoch_key_));
  }
  for (const auto& c : opts_.claim_guard) t.compares.push_back(c);
  t.success.push_back(meta::PutOp{epoch_key_, std::to_string(epoch_.value())});
  SHALE_ASSIGN_OR_RETURN(auto r, meta_.txn(t));
  if (!r.succeeded) return Status(Errc::kFenced, "object wal: lost the epoch claim race");
  return Status();
}

int64_t ObjectWal::wall_now_ms() const {
  if (opts_.wall_ms) return opts_.wall_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Buf ObjectWal::tombstone() const {
  std::vector<uint8_t> t(kTombstoneSize);
  store_le<uint32_t>(t.data(), kTombstoneMagic);
  store_le<uint32_t>(t.data() + 4, 1);
  store_le<int64_t>(t.data() + 8, epoch_.value());
  store_le<int64_t>(t.data() + 16, wall_now_ms());
  return Buf::take(std::move(t));
}

// Called after our epoch claim, so the entry's writer can no longer commit anything. Its PUT
// may still be in flight: a conditional PUT of a tombstone decides the race for good. If the
// tombstone wins, the writer's PUT can never land (it gets 412, reads the tombstone, and is
// fenced), so it never acknowledged and never will: the entry is dropped. If it loses, the
// writer's object landed and is used.
Result<std::optional<Buf>> ObjectWal::object_or_tombstone(const std::string& key) {
  auto got = store_.get(key);
  if (got.ok()) {
    if (is_tombstone(got->data)) return std::optional<Buf>();
    return std::optional<Buf>(std::move(got->data));
  }
  if (got.status().code() != Errc::kNotFound || !store_.capabilities().conditional_put)
    return got.status();
  Status put = store_.put(key, tombstone(), {.if_none_match = true});
  if (put.ok()) {
    SHALE_LOG_WARN("wal", "object wal: {} named by the index never landed: tombstoned", key);
    return std::optional<Buf>();
  }
  if (put.code() != Errc::kAlreadyExists) return put;
  got = store_.get(key);  // the writer's PUT (or an earlier tombstone) won the race
  if (!got.ok()) return got.status();
  if (is_tombstone(got->data)) return std::optional<Buf>();
  return std::optional<Buf>(std::move(got->data));
}

// Deletes index entries under our epoch, before anything is written at their positions again.
Status ObjectWal::drop_entries(const std::vector<uint64_t>& starts) {
  for (size_t i = 0; i < starts.size(); i += kMaxTrimDeletesPerTxn) {
    meta::Txn t;
    t.compares.push_back(meta::Compare::value_eq(epoch_key_, std::to_string(epoch_.value())));
    for (size_t j = i; j < std::min(starts.size(), i + kMaxTrimDeletesPerTxn); ++j)
      t.success.push_back(meta::DeleteOp{index_key(starts[j]), {}});
    SHALE_ASSIGN_OR_RETURN(auto r, meta_.txn(t));
    if (!r.succeeded) return Status(Errc::kFenced, "object wal: fenced while dropping entries");
  }
  return Status();
}

// This node's objects that no committed index entry references: uploads whose commit never
// happened, a fenced writer's, objects of dropped entries. Tombstones are kept tombstone_keep.
Status ObjectWal::sweep(const std::map<uint64_t, Committed>& live_entries) {
  // Read after our epoch claim: an adopter's keep key is committed before the trim that drops
  // the entry, and trims before the claim are over, so every adopted object is in one of them.
  SHALE_ASSIGN_OR_RETURN(std::set<std::string> live, kept_objects());
  for (const auto& [s, c] : live_entries) live.insert(c.key);
  std::vector<std::string> garbage;
  std::string token;
  size_t tombstones = 0;
  do {
    SHALE_ASSIGN_OR_RETURN(
        auto page,
        store_.list(fmt::format("{}{:010}/", opts_.key_prefix, opts_.node.value()), token));
    for (const auto& o : page.objects) {
      if (live.count(o.key)) continue;
      if (o.size == kTombstoneSize) {
        auto t = store_.get(o.key);
        if (!t.ok()) return t.status();
        if (is_tombstone(t->data)) {
          const int64_t age = wall_now_ms() - load_le<int64_t>(t->data.data() + 16);
          if (age < opts_.tombstone_keep.count()) continue;
          ++tombstones;
        }
      }
      garbage.push_back(o.key);
    }
    token = page.next_token;
  } while (!token.empty());
  if (!garbage.empty()) {
    SHALE_LOG_INFO("wal", "object wal node {}: deleting {} uncommitted object(s), {} tombstone(s)",
                   opts_.node.value(), garbage.size() - tombstones, tombstones);
    SHALE_RETURN_IF_ERROR(store_.remove(garbage));
  }
  tombstones_deleted_ += tombstones;
  return Status();
}

Status ObjectWal::recover(const std::function<void(WalPos, const WalRecord&)>& visit) {
  SHALE_RETURN_IF_ERROR(claim_epoch());
  SHALE_ASSIGN_OR_RETURN(auto trim, meta_.get(trim_key_));
  uint64_t trim_pos = 0;
  if (!trim.kvs.empty()) trim_pos = std::stoull(trim.kvs[0].value);
  const std::string idx_prefix =
      fmt::format("{}{:010}/idx/", opts_.meta_prefix, opts_.node.value());
  SHALE_ASSIGN_OR_RETURN(auto idx, meta_.get(idx_prefix, meta::prefix_end(idx_prefix)));
  std::map<uint64_t, Committed> committed;
  std::vector<uint64_t> dropped;
  uint64_t end = trim_pos;
  for (const auto& kv : idx.kvs) {
    const uint64_t start = std::stoull(kv.key.substr(idx_prefix.size()));
    std::istringstream in(kv.value);
    int64_t epoch = 0;
    Committed c;
    if (!(in >> epoch >> c.end >> c.key))
      return Status(Errc::kCorruption, "object wal: bad index entry " + kv.key);
    end = std::max(end, c.end);  // positions never go back, even over dropped entries
    // Acks run in append order, so nothing at or after an entry whose object never landed was
    // acknowledged: drop those entries too (replaying them would leave a hole before them).
    if (!dropped.empty()) {
      dropped.push_back(start);
      continue;
    }
    SHALE_ASSIGN_OR_RETURN(auto obj, object_or_tombstone(c.key));
    if (!obj) {
      dropped.push_back(start);
      continue;
    }
    auto replay = [&](uint64_t pos, WalRecord r) {
      if (pos >= trim_pos) visit(WalPos(pos), r);
    };
    if (is_format2(*obj)) {
      std::vector<std::pair<uint64_t, WalRecord>> recs;
      SHALE_ASSIGN_OR_RETURN(
          std::shared_ptr<WalObject> desc,
          decode_object2(*obj, start, Epoch(epoch), opts_.node,
                         [&](uint64_t pos, WalRecord r) { recs.emplace_back(pos, std::move(r)); }));
      desc->key = c.key;
      desc->keep_key = keep_key_for(c.key);
      {
        // Published before the records are visited: the visitor may look them up (object_at).
        std::lock_guard lk(mu_);
        adoptable_[start] = std::move(desc);
      }
      for (auto& [pos, r] : recs) replay(pos, std::move(r));
    } else {
      SHALE_RETURN_IF_ERROR(decode_object(*obj, start, Epoch(epoch), opts_.node, replay));
    }
    if (start + obj->size() != c.end)
      return Status(Errc::kCorruption, "object wal: size mismatch for " + c.key);
    committed.emplace(start, std::move(c));
  }
  if (!dropped.empty()) {
    SHALE_LOG_WARN("wal",
                   "object wal node {}: dropping {} index entries from position {}: "
                   "their objects never landed, nothing of them was acknowledged",
                   opts_.node.value(), dropped.size(), dropped.front());
    SHALE_RETURN_IF_ERROR(drop_entries(dropped));
    dropped_entries_ += dropped.size();
  }
  SHALE_RETURN_IF_ERROR(sweep(committed));
  std::lock_guard lk(mu_);
  committed_ = std::move(committed);
  trim_pos_ = trim_pos;
  next_pos_ = durable_end_ = end;
  recovered_ = true;
  return Status();
}

}  // namespace shale::wal
