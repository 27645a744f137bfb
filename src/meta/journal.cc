#include "meta/journal.h"

#include <algorithm>

#include "base/crc32c.h"
#include "base/endian.h"
#include "base/log.h"
#include "io/file_util.h"
#include "io/path.h"

namespace shale::meta {
namespace {

std::string header_bytes(uint64_t seq) {
  std::string h(kJournalHeaderSize, '\0');
  store_le<uint32_t>(h.data(), kJournalMagic);
  store_le<uint32_t>(h.data() + 4, kJournalVersion);
  store_le<uint64_t>(h.data() + 8, seq);
  return h;
}

}  // namespace

Result<std::unique_ptr<Journal>> Journal::recover(io::Filesystem& fs, std::string dir,
                                                  KvState* state, RecoveryStats* stats) {
  SHALE_RETURN_IF_ERROR(io::mkdirs_durable(fs, dir));
  std::unique_ptr<Journal> j(new Journal(fs, std::move(dir)));
  SHALE_ASSIGN_OR_RETURN(std::vector<std::string> names, fs.list(j->dir_));
  std::vector<uint64_t> snapshots, journals;
  for (const auto& n : names) {
    uint64_t seq;
    if (parse_snapshot_name(n, &seq)) snapshots.push_back(seq);
    if (parse_journal_name(n, &seq)) journals.push_back(seq);
  }
  std::sort(snapshots.begin(), snapshots.end());
  std::sort(journals.begin(), journals.end());
  uint64_t base = 0;
  if (!snapshots.empty()) {
    base = snapshots.back();
    SHALE_ASSIGN_OR_RETURN(Buf b, io::read_file(fs, io::join_path(j->dir_, snapshot_name(base))));
    auto snap = decode_snapshot(b.view());
    if (!snap.ok()) {
      return Status(Errc::kCorruption,
                    fmt::format("{}: {}", snapshot_name(base), snap.error().message));
    }
    state->restore(*snap);
    stats->snapshot_seq = base;
  }
  std::vector<uint64_t> live;
  for (uint64_t s : journals) {
    if (s >= base) live.push_back(s);
  }
  for (size_t i = 0; i < live.size(); ++i) {
    SHALE_RETURN_IF_ERROR(j->replay(live[i], i + 1 == live.size(), state, stats));
  }
  if (live.empty()) {
    SHALE_RETURN_IF_ERROR(j->start_journal(base));
  } else {
    j->seq_ = live.back();
    SHALE_ASSIGN_OR_RETURN(
        j->file_, fs.open(io::join_path(j->dir_, journal_name(j->seq_)), io::OpenMode::kReadWrite));
    // offset_ was set by replay() of the last journal.
  }
  (void)fs.remove(io::join_path(j->dir_, std::string(kSnapshotTempName)));
  SHALE_RETURN_IF_ERROR(j->remove_older_than(base));
  return j;
}

Status Journal::replay(uint64_t seq, bool last, KvState* state, RecoveryStats* stats) {
  const std::string path = io::join_path(dir_, journal_name(seq));
  SHALE_ASSIGN_OR_RETURN(Buf data, io::read_file(fs_, path));
  const std::string_view v = data.view();
  auto torn = [&](uint64_t at, const std::string& why) -> Status {
    if (!last) {
      return Status(
          Errc::kCorruption,
          fmt::format("{}: {} at byte {} in a journal that is not the last", path, why, at));
    }
    SHALE_LOG_WARN("meta", "{}: {} at byte {}; dropping {} torn tail bytes", path, why, at,
                   v.size() - at);
    stats->torn_bytes_dropped += v.size() - at;
    SHALE_ASSIGN_OR_RETURN(auto f, fs_.open(path, io::OpenMode::kReadWrite));
    if (at < kJournalHeaderSize) {
      const std::string h = header_bytes(seq);
      SHALE_RETURN_IF_ERROR(f->truncate(0));
      SHALE_RETURN_IF_ERROR(f->pwrite(0, h.data(), h.size()));
      at = kJournalHeaderSize;
    } else {
      SHALE_RETURN_IF_ERROR(f->truncate(at));
    }
    SHALE_RETURN_IF_ERROR(f->sync());
    offset_ = at;
    return Status();
  };
  if (v.size() < kJournalHeaderSize || load_le<uint32_t>(v.data()) != kJournalMagic ||
      load_le<uint64_t>(v.data() + 8) != seq) {
    return torn(0, "missing or bad journal header");
  }
  if (load_le<uint32_t>(v.data() + 4) != kJournalVersion) {
    return Status(Errc::kCorruption, fmt::format("{}: unknown journal version", path));
  }
  uint64_t pos = kJournalHeaderSize;
  while (pos < v.size()) {
    if (v.size() - pos < kRecordHeaderSize) return torn(pos, "short record header");
    const uint32_t len = load_le<uint32_t>(v.data() + pos);
    const uint32_t crc = load_le<uint32_t>(v.data() + pos + 4);
    if (len == 0 || len > kMaxRecordPayload || v.size() - pos - kRecordHeaderSize < len) {
      return torn(pos, fmt::format("bad record length {}", len));
    }
    const std::string_view payload = v.substr(pos + kRecordHeaderSize, len);
    if (crc32c(payload.data(), payload.size()) != crc) return torn(pos, "record checksum mismatch");
    auto batch = decode_batch(payload);
    if (!batch.ok()) {
      return Status(Errc::kCorruption,
                    fmt::format("{} at byte {}: {}", path, pos, batch.error().message));
    }
    Status st = state->apply(*batch);
    if (!st.ok()) {
      return Status(Errc::kCorruption, fmt::format("{} at byte {}: {}", path, pos, st.message()));
    }
    ++stats->records_replayed;
    pos += kRecordHeaderSize + len;
  }
  offset_ = pos;
  return Status();
}

Status Journal::start_journal(uint64_t seq) {
  const std::string path = io::join_path(dir_, journal_name(seq));
  SHALE_ASSIGN_OR_RETURN(auto f, fs_.open(path, io::OpenMode::kCreate));
  const std::string h = header_bytes(seq);
  SHALE_RETURN_IF_ERROR(f->truncate(0));
  SHALE_RETURN_IF_ERROR(f->pwrite(0, h.data(), h.size()));
  SHALE_RETURN_IF_ERROR(f->sync());
  SHALE_RETURN_IF_ERROR(fs_.sync_dir(dir_));
  file_ = std::move(f);
  seq_ = seq;
  offset_ = h.size();
  return Status();
}

Status Journal::append(const std::vector<const Batch*>& batches) {
  if (broken_) return Status(Errc::kIoError, "meta journal failed earlier; reopen the store");
  std::string buf;
  for (const Batch* b : batches) {
    const size_t start = buf.size();
    buf.resize(start + kRecordHeaderSize);
    encode_batch(*b, &buf);
    const size_t len = buf.size() - start - kRecordHeaderSize;
    if (len > kMaxRecordPayload) {  // the store rejects such batches before planning on
      broken_ = true;               // them; here it would leave memory ahead of the disk
      return Status(Errc::kInternal, fmt::format("meta batch of {} bytes too large", len));
    }
    store_le<uint32_t>(buf.data() + start, static_cast<uint32_t>(len));
    store_le<uint32_t>(buf.data() + start + 4, crc32c(buf.data() + start + kRecordHeaderSize, len));
  }
  Status st = file_->pwrite(offset_, buf.data(), buf.size());
  if (st.ok()) st = file_->sync();
  if (!st.ok()) {
    broken_ = true;
    return st;
  }
  offset_ += buf.size();
  return Status();
}

Status Journal::snapshot(const KvState& state) {
  if (broken_) return Status(Errc::kIoError, "meta journal failed earlier; reopen the store");
  const uint64_t next = seq_ + 1;
  std::string bytes;
  encode_snapshot(state.snapshot(), &bytes);
  const std::string tmp = io::join_path(dir_, std::string(kSnapshotTempName));
  Status st = [&]() -> Status {
    SHALE_ASSIGN_OR_RETURN(auto f, fs_.open(tmp, io::OpenMode::kCreate));
    SHALE_RETURN_IF_ERROR(f->truncate(0));
    SHALE_RETURN_IF_ERROR(f->pwrite(0, bytes.data(), bytes.size()));
    return f->sync();
  }();
  if (st.ok()) st = fs_.rename(tmp, io::join_path(dir_, snapshot_name(next)));
  if (!st.ok()) {
    // Nothing visible changed: keep appending to the current journal.
    (void)fs_.remove(tmp);
    return st;
  }
  // From here the new snapshot may be what recovery loads, so records must go to journal-next.
  st = fs_.sync_dir(dir_);
  if (st.ok()) st = start_journal(next);
  if (!st.ok()) {
    broken_ = true;
    return st;
  }
  return remove_older_than(next);
}

Status Journal::remove_older_than(uint64_t seq) {
  SHALE_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_.list(dir_));
  bool any = false;
  for (const auto& n : names) {
    uint64_t s;
    if ((parse_snapshot_name(n, &s) || parse_journal_name(n, &s)) && s < seq) {
      SHALE_RETURN_IF_ERROR(fs_.remove(io::join_path(dir_, n)));
      any = true;
    }
  }
  return any ? fs_.sync_dir(dir_) : Status();
}

}  // namespace shale::meta
