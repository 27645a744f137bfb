#include "meta/meta_format.h"

#include "base/crc32c.h"
#include "base/endian.h"

namespace shale::meta {
namespace {

class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}
  template <typename T>
  void num(T v) {
    char b[sizeof(T)];
    store_le<T>(b, v);
    out_->append(b, sizeof(T));
  }
  void str(std::string_view s) {
    num<uint32_t>(static_cast<uint32_t>(s.size()));
    out_->append(s);
  }

 private:
  std::string* out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <typename T>
  bool num(T* v) {
    if (in_.size() - pos_ < sizeof(T)) return false;
    *v = load_le<T>(in_.data() + pos_);
    pos_ += sizeof(T);
    return true;
  }
  bool str(std::string* s) {
    uint32_t n;
    if (!num(&n) || in_.size() - pos_ < n) return false;
    s->assign(in_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == in_.size(); }
  size_t pos() const { return pos_; }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

Status corrupt(const char* what, size_t at) {
  return Status(Errc::kCorruption, fmt::format("meta {}: malformed at byte {}", what, at));
}

bool parse_seq(const std::string& name, std::string_view prefix, std::string_view suffix,
               uint64_t* seq) {
  if (name.size() <= prefix.size() + suffix.size()) return false;
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  if (name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.size() != 20) return false;
  uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *seq = v;
  return true;
}

}  // namespace

bool Batch::changes_keys() const {
  for (const auto& e : effects) {
    if (e.kind == Effect::Kind::kPut || e.kind == Effect::Kind::kDelete) return true;
  }
  return false;
}

size_t encoded_batch_size(const Batch& b) {
  size_t n = 8 + 4;
  for (const auto& e : b.effects) {
    n += 1;
    switch (e.kind) {
      case Effect::Kind::kPut:
        n += 4 + e.key.size() + 4 + e.value.size() + 8;
        break;
      case Effect::Kind::kDelete:
        n += 4 + e.key.size();
        break;
      case Effect::Kind::kLeaseGrant:
        n += 16;
        break;
      case Effect::Kind::kLeaseRevoke:
        n += 8;
        break;
    }
  }
  return n;
}

void encode_batch(const Batch& b, std::string* out) {
  Writer w(out);
  w.num<int64_t>(b.revision);
  w.num<uint32_t>(static_cast<uint32_t>(b.effects.size()));
  for (const auto& e : b.effects) {
    w.num<uint8_t>(static_cast<uint8_t>(e.kind));
    switch (e.kind) {
      case Effect::Kind::kPut:
        w.str(e.key);
        w.str(e.value);
        w.num<int64_t>(e.lease);
        break;
      case Effect::Kind::kDelete:
        w.str(e.key);
        break;
      case Effect::Kind::kLeaseGrant:
        w.num<int64_t>(e.lease);
        w.num<int64_t>(e.ttl_ms);
        break;
      case Effect::Kind::kLeaseRevoke:
        w.num<int64_t>(e.lease);
        break;
    }
  }
}

Result<Batch> decode_batch(std::string_view payload) {
  Reader r(payload);
  Batch b;
  uint32_t n;
  if (!r.num(&b.revision) || !r.num(&n)) return corrupt("record", r.pos());
  if (n > payload.size()) return corrupt("record effect count", 8);
  b.effects.resize(n);
  for (auto& e : b.effects) {
    uint8_t kind;
    if (!r.num(&kind)) return corrupt("record", r.pos());
    e.kind = static_cast<Effect::Kind>(kind);
    bool ok = false;
    switch (e.kind) {
      case Effect::Kind::kPut:
        ok = r.str(&e.key) && r.str(&e.value) && r.num(&e.lease);
        break;
      case Effect::Kind::kDelete:
        ok = r.str(&e.key);
        break;
      case Effect::Kind::kLeaseGrant:
        ok = r.num(&e.lease) && r.num(&e.ttl_ms);
        break;
      case Effect::Kind::kLeaseRevoke:
        ok = r.num(&e.lease);
        break;
    }
    if (!ok) return corrupt("record effect", r.pos());
  }
  if (!r.done()) return corrupt("record trailing bytes", r.pos());
  return b;
}

void encode_snapshot(const SnapshotData& s, std::string* out) {
  std::string payload;
  Writer p(&payload);
  p.num<int64_t>(s.revision);
  p.num<int64_t>(s.next_lease_id);
  p.num<uint64_t>(s.kvs.size());
  for (const auto& kv : s.kvs) {
    p.str(kv.key);
    p.str(kv.value);
    p.num<int64_t>(kv.create_revision.value());
    p.num<int64_t>(kv.mod_revision.value());
    p.num<int64_t>(kv.version);
    p.num<int64_t>(kv.lease.value());
  }
  p.num<uint64_t>(s.leases.size());
  for (const auto& [id, ttl] : s.leases) {
    p.num<int64_t>(id);
    p.num<int64_t>(ttl);
  }
  Writer w(out);
  w.num<uint32_t>(kSnapshotMagic);
  w.num<uint32_t>(kSnapshotVersion);
  w.num<uint64_t>(payload.size());
  w.num<uint32_t>(crc32c(payload.data(), payload.size()));
  out->append(payload);
}

Result<SnapshotData> decode_snapshot(std::string_view file) {
  Reader h(file);
  uint32_t magic, version, crc;
  uint64_t len;
  if (!h.num(&magic) || !h.num(&version) || !h.num(&len) || !h.num(&crc)) {
    return corrupt("snapshot header", 0);
  }
  if (magic != kSnapshotMagic) return Status(Errc::kCorruption, "meta snapshot: bad magic");
  if (version != kSnapshotVersion) {
    return Status(Errc::kCorruption, fmt::format("meta snapshot: unknown version {}", version));
  }
  if (file.size() - kSnapshotHeaderSize != len) return corrupt("snapshot length", 8);
  std::string_view payload = file.substr(kSnapshotHeaderSize);
  if (crc32c(payload.data(), payload.size()) != crc) {
    return Status(Errc::kCorruption, "meta snapshot: checksum mismatch");
  }
  Reader r(payload);
  SnapshotData s;
  uint64_t nkv, nlease;
  if (!r.num(&s.revision) || !r.num(&s.next_lease_id) || !r.num(&nkv)) {
    return corrupt("snapshot", kSnapshotHeaderSize + r.pos());
  }
  if (nkv > payload.size()) return corrupt("snapshot kv count", kSnapshotHeaderSize + 16);
  s.kvs.resize(nkv);
  for (auto& kv : s.kvs) {
    int64_t c, m, l;
    if (!r.str(&kv.key) || !r.str(&kv.value) || !r.num(&c) || !r.num(&m) || !r.num(&kv.version) ||
        !r.num(&l)) {
      return corrupt("snapshot kv", kSnapshotHeaderSize + r.pos());
    }
    kv.create_revision = Revision(c);
    kv.mod_revision = Revision(m);
    kv.lease = LeaseId(l);
  }
  if (!r.num(&nlease) || nlease > payload.size()) {
    return corrupt("snapshot lease count", kSnapshotHeaderSize + r.pos());
  }
  s.leases.resize(nlease);
  for (auto& [id, ttl] : s.leases) {
    if (!r.num(&id) || !r.num(&ttl))
      return corrupt("snapshot lease", kSnapshotHeaderSize + r.pos());
  }
  if (!r.done()) return corrupt("snapshot trailing bytes", kSnapshotHeaderSize + r.pos());
  return s;
}

std::string journal_name(uint64_t seq) {
  return fmt::format("journal-{:020d}.log", seq);
}
std::string snapshot_name(uint64_t seq) {
  return fmt::format("snapshot-{:020d}.snap", seq);
}
bool parse_journal_name(const std::string& name, uint64_t* seq) {
  return parse_seq(name, "journal-", ".log", seq);
}
bool parse_snapshot_name(const std::string& name, uint64_t* seq) {
  return parse_seq(name, "snapshot-", ".snap", seq);
}

}  // namespace shale::meta
