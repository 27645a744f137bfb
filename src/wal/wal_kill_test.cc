// Process-level crash test: runs wal_kill_writer on the real disk, SIGKILLs it at random moments
// ~10 times (each run recovers what the previous left), then recovers and checks that every
// acknowledged record that was not trimmed is present, intact, at its acknowledged position.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "io/fs.h"
#include "wal/file_wal.h"
#include "wal/wal_test_util.h"

namespace shale::wal {
namespace {

struct RunOutput {
  std::map<uint64_t, int64_t> acked;
  uint64_t trimmed = 0;  // ids <= trimmed were released
};

// Starts the writer, kills it after `ms`, and parses everything it printed.
void run_and_kill(const std::string& dir, uint64_t seed, int ms, RunOutput* out) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    std::string s = std::to_string(seed);
    ::execl(WAL_KILL_WRITER_PATH, WAL_KILL_WRITER_PATH, dir.c_str(), s.c_str(), nullptr);
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string text;
  std::thread reader([&] {
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof(buf))) > 0) text.append(buf, n);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  reader.join();
  ::close(fds[0]);
  ASSERT_TRUE(WIFSIGNALED(status)) << "writer exited early with status " << status;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    char kind = 0;
    l >> kind;
    uint64_t id = 0;
    if (kind == 'A') {
      int64_t pos = 0;
      l >> id >> pos;
      out->acked[id] = pos;
    } else if (kind == 'T') {
      l >> id;
      out->trimmed = std::max(out->trimmed, id);
    }
  }
}

TEST(WalKill, AcknowledgedRecordsSurviveSigkill) {
  char tmpl[] = "/tmp/wal_kill_XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = std::string(tmpl) + "/wal";
  uint64_t seed = std::random_device{}();
  std::printf("WalKill seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  RunOutput all;
  int productive_runs = 0;  // runs that got anything acknowledged before the kill
  for (int i = 0; i < 10; ++i) {
    RunOutput o;
    run_and_kill(dir, rng(), 150 + static_cast<int>(rng() % 1000), &o);
    if (::testing::Test::HasFatalFailure()) return;
    if (!o.acked.empty()) ++productive_runs;
    for (auto& [id, pos] : o.acked) all.acked[id] = pos;
    all.trimmed = std::max(all.trimmed, o.trimmed);
  }
  auto fs = io::make_posix_fs();
  FileWalOptions opts;
  opts.dir = dir;
  FileWal wal(*fs, opts);
  testing::Recovered rec;
  Status st = testing::recover_into(wal, &rec);
  ASSERT_TRUE(st.ok()) << st.to_string();
  std::map<uint64_t, int64_t> got;
  for (size_t i = 0; i < rec.recs.size(); ++i) {
    ASSERT_TRUE(testing::record_intact(rec.recs[i])) << "record at " << rec.pos[i].value();
    if (i > 0) {
      ASSERT_GT(rec.pos[i], rec.pos[i - 1]);
    }
    got[testing::record_id(rec.recs[i])] = rec.pos[i].value();
  }
  size_t checked = 0;
  for (auto& [id, pos] : all.acked) {
    if (id <= all.trimmed) continue;
    auto it = got.find(id);
    ASSERT_TRUE(it != got.end()) << "acknowledged record " << id << " lost";
    EXPECT_EQ(it->second, pos) << "record " << id;
    ++checked;
  }
  std::printf("WalKill: %zu acknowledged records in 10 runs, %zu checked after the last kill\n",
              all.acked.size(), checked);
  EXPECT_GT(checked, 0u);
  EXPECT_GE(productive_runs, 5) << "the writer rarely got going before it was killed";
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace shale::wal
