// Process-level crash test: runs stream_kill_writer on the real disk, SIGKILLs it at random
// moments 10 times (each run recovers what the previous left and continues), then opens the
// store in-process and checks that every acknowledged batch is there, byte for byte, with
// contiguous offsets.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <sstream>
#include <thread>

#include "meta/embedded_meta_store.h"
#include "objstore/local_object_store.h"
#include "stream/kill_payload.h"
#include "wal/file_wal.h"

namespace shale::stream {
namespace {

// Runs the writer for `ms`, kills it, returns the highest acknowledged offset (-1 if none).
int64_t run_and_kill(const std::string& dir, int ms) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execl(STREAM_KILL_WRITER_PATH, STREAM_KILL_WRITER_PATH, dir.c_str(), nullptr);
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string text;
  std::thread reader([&] {
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  reader.join();
  ::close(fds[0]);
  EXPECT_TRUE(WIFSIGNALED(status)) << "writer exited early with status " << status;
  int64_t last = -1;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {  // log lines share stdout; a torn last line is ignored
    if (line.size() <= 4 || line.rfind("ACK ", 0) != 0) continue;
    last = std::max(last, static_cast<int64_t>(std::stoll(line.substr(4))));
  }
  return last;
}

TEST(StreamKillTest, AcknowledgedAppendsSurviveSigkill) {
  const std::string dir =
      std::filesystem::temp_directory_path() / ("shale_stream_kill_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::mt19937 rng(std::random_device{}());
  int64_t acked = -1;
  for (int run = 0; run < 10; ++run) {
    int64_t last = run_and_kill(dir, 150 + static_cast<int>(rng() % 500));
    if (last >= 0) {
      EXPECT_GT(last, acked) << "run " << run << " did not resume after the acknowledged end";
      acked = std::max(acked, last);
    }
  }
  ASSERT_GE(acked, 0) << "the writer never acknowledged anything";

  auto fs = io::make_posix_fs();
  auto objects = objstore::LocalObjectStore::open(*fs, dir + "/objects");
  auto meta = meta::open_embedded_meta(*fs, dir + "/meta", SystemClock::instance());
  ASSERT_TRUE(objects.ok() && meta.ok());
  wal::FileWalOptions wo;
  wo.dir = dir + "/wal";
  wal::FileWal wal(*fs, wo);
  StoreOptions so = kill_store_options();
  so.background = false;
  auto store = open_stream_store(so, wal, **objects, **meta, SystemClock::instance());
  ASSERT_TRUE(store->start().ok());
  auto info = store->info(StreamId(1));
  ASSERT_TRUE(info.ok());
  EXPECT_GT(info->end.value(), acked);
  int64_t at = 0;
  while (at <= acked) {
    auto r = store->read_sync(StreamId(1), Offset(at), 256 << 10);
    ASSERT_TRUE(r.ok()) << r.status().to_string() << " at " << at;
    ASSERT_FALSE(r->batches.empty());
    for (const Buf& b : r->batches) {
      ASSERT_EQ(load_be<int64_t>(b.data()), at);
      ASSERT_TRUE(b == kill_payload(at)) << "bytes differ at " << at;
      ++at;
    }
  }
  std::printf("stream kill test: %lld acknowledged batches verified after 10 SIGKILLs\n",
              static_cast<long long>(acked + 1));
  store->stop();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace shale::stream
