#include "cluster/change_watch.h"

#include "base/log.h"

namespace shale::cluster {

ChangeWatch::ChangeWatch(meta::MetaStore& meta, std::string prefix, std::function<void()> on_change)
    : meta_(meta), prefix_(std::move(prefix)), on_change_(std::move(on_change)) {}

ChangeWatch::~ChangeWatch() {
  disarm();
}

Status ChangeWatch::arm() {
  disarm();
  // Any key gives the store revision; the watched range may be empty.
  SHALE_ASSIGN_OR_RETURN(meta::RangeResult r, meta_.get(prefix_, {}, 1));
  const Revision from(r.revision.value() + 1);
  auto id =
      meta_.watch(prefix_, meta::prefix_end(prefix_), from, [this](const meta::WatchUpdate& u) {
        if (u.compacted) {
          // The watch is over; the agent re-arms and re-reads everything.
          SHALE_LOG_INFO("cluster", "watch on {} compacted at revision {}: full re-read", prefix_,
                         u.compact_revision.value());
          armed_.store(false);
          on_change_();
          return;
        }
        if (u.events.empty()) return;
        events_.fetch_add(1);
        on_change_();
      });
  if (!id.ok()) return id.error();
  id_ = *id;
  armed_.store(true);
  arms_.fetch_add(1);
  return {};
}

void ChangeWatch::disarm() {
  if (id_ != 0) meta_.cancel_watch(id_);
  id_ = 0;
  armed_.store(false);
}

}  // namespace shale::cluster
