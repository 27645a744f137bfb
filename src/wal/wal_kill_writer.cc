// wal_kill_writer: appends records to a FileWal on the real disk until it is killed, for the
// process-level crash test (wal_kill_test.cc). Usage: wal_kill_writer DIR [SEED]
//
// Output on stdout, one line per event, each written with a single write(2) so a SIGKILL never
// leaves half a line:
//   R <n> <max_id>   recovery replayed n records, the largest id was max_id
//   A <id> <pos>     record id is acknowledged (durable) at WAL position pos
//   T <id>           trim() returned OK: records up to and including id are released
// Records are make_record(id, size) from wal_test_util.h, so the test can check their bytes.
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <random>
#include <string>

#include "io/fs.h"
#include "wal/file_wal.h"
#include "wal/wal_test_util.h"

namespace {

void emit(const std::string& line) {
  std::string s = line + "\n";
  ssize_t n = ::write(1, s.data(), s.size());
  (void)n;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace shale;       // NOLINT
  using namespace shale::wal;  // NOLINT
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [SEED]\n", argv[0]);
    return 2;
  }
  const uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
  auto fs = io::make_posix_fs();
  FileWalOptions o;
  o.dir = argv[1];
  o.segment_size = 1 << 20;
  o.max_total_size = 16 << 20;
  FileWal wal(*fs, o);
  uint64_t n = 0, max_id = 0;
  // Recent records, for trimming; recovered ones too, or a full WAL would never drain.
  std::deque<std::pair<uint64_t, WalPos>> acked;
  Status st = wal.recover([&](WalPos pos, const WalRecord& r) {
    ++n;
    max_id = std::max(max_id, testing::record_id(r));
    acked.emplace_back(testing::record_id(r), pos);
  });
  if (!st.ok()) {
    std::fprintf(stderr, "recover: %s\n", st.to_string().c_str());
    return 1;
  }
  emit(fmt::format("R {} {}", n, max_id));
  if (!wal.start().ok()) return 1;

  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  std::mt19937_64 rng(seed);
  for (uint64_t id = max_id + 1;; ++id) {
    {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return in_flight < 32; });
      ++in_flight;
      // Keep about the last 2000 records; trim the rest now and then.
      if (acked.size() > 3000) {
        auto [tid, tpos] = acked[acked.size() - 2000];
        acked.erase(acked.begin(), acked.end() - 2000);
        l.unlock();
        if (wal.trim(tpos + 1).ok()) emit(fmt::format("T {}", tid));
      }
    }
    wal.append(testing::make_record(id, 16 + rng() % 4000), [&, id](Result<WalPos> r) {
      if (r.ok()) emit(fmt::format("A {} {}", id, r->value()));
      std::lock_guard<std::mutex> l(mu);
      if (r.ok()) acked.emplace_back(id, *r);
      --in_flight;
      cv.notify_all();
    });
  }
}
