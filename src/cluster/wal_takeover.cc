#include "cluster/wal_takeover.h"

#include <chrono>

#include "base/log.h"
#include "cluster/records.h"

namespace shale::cluster {

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
  out.millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
                   .count();
  return out;
}

}  // namespace shale::cluster
