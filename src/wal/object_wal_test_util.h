// Helpers shared by the object WAL tests (object_wal_test.cc, object_wal_parallel_test.cc).
#pragma once

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "meta/embedded_meta_store.h"
#include "meta/faulty_meta_store.h"
#include "objstore/faulty_object_store.h"
#include "objstore/mem_object_store.h"
#include "wal/object_wal.h"

namespace shale::wal {

inline WalRecord rec(uint64_t stream, int64_t base, std::string payload) {
  return WalRecord{StreamId(stream), Epoch(1), Offset(base), 1, Buf::copy(payload)};
}

struct Env {
  objstore::MemObjectStore store;
  std::unique_ptr<meta::MetaStore> meta = meta::make_mem_meta();
  bool format1 = false;  // tests that compute positions from format 1's sizes set it
  ObjectWalOptions opts(int64_t epoch, uint64_t flush_bytes = 1 << 20, int delay_ms = 5,
                        CommitOrder order = CommitOrder::kAuto) {
    ObjectWalOptions o;
    o.commit_order = order;
    o.node = NodeId(3);
    o.epoch = Epoch(epoch);
    o.flush_bytes = flush_bytes;
    o.flush_delay = std::chrono::milliseconds(delay_ms);
    o.objfmt_objects = !format1;
    return o;
  }
  size_t objects() { return store.list("wal/")->objects.size(); }
};

// Appends and waits for every callback; returns the results in append order.
inline std::vector<Result<WalPos>> append_all(ObjectWal& w, const std::vector<WalRecord>& recs) {
  std::vector<std::promise<Result<WalPos>>> ps(recs.size());
  std::vector<std::future<Result<WalPos>>> fs;
  for (auto& p : ps) fs.push_back(p.get_future());
  for (size_t i = 0; i < recs.size(); ++i)
    w.append(recs[i], [&ps, i](Result<WalPos> r) { ps[i].set_value(std::move(r)); });
  std::vector<Result<WalPos>> out;
  for (auto& f : fs) out.push_back(f.get());
  return out;
}

inline std::vector<std::pair<WalPos, std::string>> replay(ObjectWal& w, Status* st = nullptr) {
  std::vector<std::pair<WalPos, std::string>> out;
  Status s = w.recover([&](WalPos p, const WalRecord& r) {
    out.emplace_back(p,
                     fmt::format("{}:{}:{}", r.stream.value(), r.base.value(), r.payload.view()));
  });
  if (st)
    *st = s;
  else
    EXPECT_TRUE(s.ok()) << s.to_string();
  return out;
}

// The next txn lands but reports a timeout; every txn after it fails before reaching the store
// until the returned fault is removed (a metadata outage that began mid-commit).
inline int land_then_fail_txns(meta::FaultyMetaStore& faulty) {
  faulty.add_fault({.ops = static_cast<uint32_t>(meta::MetaOp::kTxn),
                    .nth = 1,
                    .action = meta::MetaFault::Action::kFailAfter,
                    .code = Errc::kTimeout});
  return faulty.add_fault(
      {.ops = static_cast<uint32_t>(meta::MetaOp::kTxn), .nth = 2, .and_after = true});
}

}  // namespace shale::wal
