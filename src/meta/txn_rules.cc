#include "meta/txn_rules.h"

#include <algorithm>

namespace shale::meta {
namespace {

// Compare c on the key that put p writes: does p's own write make c fail?
bool falsified_by(const Compare& c, const PutOp& p) {
  if (c.key != p.key || c.op != Compare::Op::kEqual) return false;
  switch (c.target) {
    case Compare::Target::kVersion:      // a put raises the version
    case Compare::Target::kModRevision:  // ... and moves the mod revision
      return true;
    case Compare::Target::kCreateRevision:  // 0 = absent; a put creates it
      return c.number == 0;
    case Compare::Target::kValue:
      return c.value != p.value;
  }
  return false;
}

}  // namespace

Status check_txn_size(const Txn& t) {
  if (std::max({t.compares.size(), t.success.size(), t.failure.size()}) > kMaxTxnOps) {
    return Status(Errc::kInvalidArgument,
                  fmt::format("{} ({} compares, {} success ops, {} failure ops; at most {} each)",
                              kTooManyTxnOpsMessage, t.compares.size(), t.success.size(),
                              t.failure.size(), kMaxTxnOps));
  }
  return Status();
}

bool compare_holds(const Compare& c, const std::optional<KeyValue>& kv) {
  if (c.target == Compare::Target::kValue) {
    if (!kv) return false;  // etcd: a value compare on a missing key fails
    int r = kv->value.compare(c.value);
    switch (c.op) {
      case Compare::Op::kEqual:
        return r == 0;
      case Compare::Op::kNotEqual:
        return r != 0;
      case Compare::Op::kGreater:
        return r > 0;
      case Compare::Op::kLess:
        return r < 0;
    }
    return false;
  }
  int64_t v = 0;
  if (kv) {
    switch (c.target) {
      case Compare::Target::kVersion:
        v = kv->version;
        break;
      case Compare::Target::kCreateRevision:
        v = kv->create_revision.value();
        break;
      case Compare::Target::kModRevision:
        v = kv->mod_revision.value();
        break;
      case Compare::Target::kValue:
        break;
    }
  }
  switch (c.op) {
    case Compare::Op::kEqual:
      return v == c.number;
    case Compare::Op::kNotEqual:
      return v != c.number;
    case Compare::Op::kGreater:
      return v > c.number;
    case Compare::Op::kLess:
      return v < c.number;
  }
  return false;
}

std::vector<const PutOp*> fencing_puts(const Txn& t) {
  std::vector<const PutOp*> out;
  for (const Op& op : t.success) {
    if (std::holds_alternative<GetOp>(op)) return {};
    const auto* p = std::get_if<PutOp>(&op);
    if (p == nullptr) continue;
    if (std::any_of(t.compares.begin(), t.compares.end(),
                    [&](const Compare& c) { return falsified_by(c, *p); })) {
      out.push_back(p);
    }
  }
  return out;
}

bool landed(const Txn& t, const std::vector<const PutOp*>& fencing,
            const std::vector<KeyValue>& now, Revision* revision) {
  if (fencing.empty()) return false;
  std::optional<Revision> rev;
  for (const PutOp* p : fencing) {
    auto kv =
        std::find_if(now.begin(), now.end(), [&](const KeyValue& k) { return k.key == p->key; });
    if (kv == now.end() || kv->value != p->value || kv->lease != p->lease) return false;
    if (rev && *rev != kv->mod_revision) return false;
    rev = kv->mod_revision;
    for (const Compare& c : t.compares) {
      if (falsified_by(c, *p) && compare_holds(c, *kv)) return false;
    }
  }
  if (revision != nullptr) *revision = *rev;
  return true;
}

}  // namespace shale::meta
