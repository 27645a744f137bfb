#include "cluster/wal_takeover.h"

#include <chrono>
#include <set>

#include "base/log.h"
#include "cluster/records.h"
#include "stream/meta_records.h"

namespace shale::cluster {
namespace {

// Deletes the objects under `prefix` that no object record and no pending delete references:
// uploads of earlier takeovers of this node that were put but never committed (a controller that
// crashed between put and commit, or lost the commit race to the node's own restart). Reads the
// index fresh (not a stream store's memory), so an object committed by anyone is never touched.
Result<size_t> sweep_takeover_leftovers(meta::MetaStore& meta, objstore::ObjectStore& objects,
                                        const std::string& prefix) {
  std::vector<std::string> listed;
  std::string token;
  do {
    SHALE_ASSIGN_OR_RETURN(objstore::ListPage page, objects.list(prefix, token));
    for (const auto& o : page.objects) listed.push_back(o.key);
    token = page.next_token;
  } while (!token.empty());
  if (listed.empty()) return size_t{0};
  std::set<std::string> known;
  const std::string op(stream::kObjectsPrefix), gp(stream::kGcPrefix);
  SHALE_ASSIGN_OR_RETURN(meta::RangeResult objs, meta.get(op, meta::prefix_end(op)));
  for (const auto& kv : objs.kvs) {
    SHALE_ASSIGN_OR_RETURN(stream::ObjectRecord rec, stream::decode_object(ObjectId(0), kv.value));
    known.insert(rec.key);
  }
  SHALE_ASSIGN_OR_RETURN(meta::RangeResult gc, meta.get(gp, meta::prefix_end(gp)));
  for (const auto& kv : gc.kvs) {
    SHALE_ASSIGN_OR_RETURN(stream::PendingDelete pd, stream::decode_pending_delete(kv.value));
    known.insert(pd.key);
  }
  std::vector<std::string> orphans;
  for (auto& k : listed) {
    if (!known.count(k)) orphans.push_back(std::move(k));
  }
  if (!orphans.empty()) SHALE_RETURN_IF_ERROR(objects.remove(orphans));
  return orphans.size();
}

}  // namespace

std::string takeover_key_prefix(const std::string& store_prefix) {
  return store_prefix + "/takeover";
}

Result<WalTakeoverStats> take_over_object_wal(meta::MetaStore& meta, objstore::ObjectStore& objects,
                                              Clock& clock, int32_t node,
                                              stream::StoreOptions store,
                                              wal::ObjectWalOptions wal) {
  const auto started = std::chrono::steady_clock::now();
  wal.node = NodeId(node);
  wal.next_epoch = true;
  wal.claim_guard.push_back(meta::Compare::absent(broker_key(node)));
  wal::ObjectWal w(objects, meta, wal);

  store.node = NodeId(node);
  // Its own key space: the node's restart sweeps <prefix>/n<node>/ and must never see (and
  // delete) an object this takeover put and is about to commit.
  const std::string prefix = takeover_key_prefix(store.key_prefix);
  store.key_prefix = prefix;
  store.background = false;     // no uploader/maintenance threads: one explicit upload below
  store.upload_on_stop = true;  // stop() retries the upload once if the first one lost a race
  store.sweep_orphans = false;  // a zombie's in-flight put must not vanish under it
  store.crash_hook = nullptr;
  auto s = stream::open_stream_store(store, w, objects, meta, clock);
  SHALE_RETURN_IF_ERROR(s->start());  // claims the WAL epoch, replays
  WalTakeoverStats out;
  out.wal_epoch = w.epoch().value();
  out.recovered_bytes = s->stats().unuploaded_bytes;
  Status st = s->flush_uploads();  // uploads at the dead owner's epoch, then trims the WAL
  if (st.ok() && s->stats().unuploaded_bytes != 0) {
    st = Status(Errc::kUnavailable, "un-uploaded records remain");
  }
  out.uploads = s->stats().uploads;
  s->stop();
  if (!st.ok()) {
    return Status(st.code(),
                  fmt::format("taking over the WAL of broker {}: {}", node, st.message()));
  }
  // Committed: an earlier takeover of this node that has not committed yet can no longer commit
  // (its stream revisions are stale), so whatever of them is unreferenced is garbage.
  auto swept = sweep_takeover_leftovers(meta, objects, fmt::format("{}/n{}/", prefix, node));
  if (!swept.ok()) {
    SHALE_LOG_WARN("cluster", "sweeping leftovers of earlier takeovers of broker {}: {}", node,
                   swept.error().to_string());
  } else if (*swept > 0) {
    SHALE_LOG_INFO("cluster", "deleted {} uncommitted objects of earlier takeovers of broker {}",
                   *swept, node);
  }
  out.swept = swept.ok() ? *swept : 0;
  out.millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
                   .count();
  return out;
}

}  // namespace shale::cluster
