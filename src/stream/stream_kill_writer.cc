// stream_kill_writer DIR: a whole stream store on the real disk (FileWal, LocalObjectStore,
// embedded metadata under DIR) appending to stream 1 forever and printing "ACK <offset>" for
// every acknowledged batch. stream_kill_test SIGKILLs it at random moments. Batch contents are
// a pure function of the offset (see kill_payload), so the checker needs no other record.
#include <cstdio>

#include "meta/embedded_meta_store.h"
#include "objstore/local_object_store.h"
#include "stream/kill_payload.h"
#include "stream/stream_store_impl.h"
#include "wal/file_wal.h"

using namespace shale;

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const std::string dir = argv[1];
  auto fs = io::make_posix_fs();
  (void)fs->mkdirs(dir);
  auto objects = objstore::LocalObjectStore::open(*fs, dir + "/objects");
  auto meta = meta::open_embedded_meta(*fs, dir + "/meta", SystemClock::instance());
  if (!objects.ok() || !meta.ok()) return 3;
  wal::FileWalOptions wo;
  wo.dir = dir + "/wal";
  wo.segment_size = 4 << 20;
  wo.max_total_size = 64 << 20;
  wal::FileWal wal(*fs, wo);
  stream::StoreOptions so = stream::kill_store_options();
  auto store = stream::open_stream_store(so, wal, **objects, **meta, SystemClock::instance());
  if (Status st = store->start(); !st.ok()) {
    std::fprintf(stderr, "start: %s\n", st.to_string().c_str());
    return 4;
  }
  StreamId id(1);
  if (!store->info(id).ok()) {
    auto c = store->create();
    if (!c.ok() || *c != id) return 5;
  }
  auto info = store->info(id);
  auto open = store->open(id, Epoch(info->epoch.value() + 1));
  if (!open.ok()) {
    std::fprintf(stderr, "open: %s\n", open.status().to_string().c_str());
    return 6;
  }
  const Epoch epoch(info->epoch.value() + 1);
  for (int64_t off = open->end.value();; ++off) {
    auto r = store->append_sync(id, epoch, stream::kill_payload(off), 1);
    if (!r.ok() || r->base.value() != off) {
      std::fprintf(stderr, "append at %lld failed\n", static_cast<long long>(off));
      return 7;
    }
    std::printf("ACK %lld\n", static_cast<long long>(off));
    std::fflush(stdout);
  }
}
