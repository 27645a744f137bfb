#include "target.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

namespace shale::bench {

namespace fs = std::filesystem;

int64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

double proc_stat_cpu_seconds(const std::string& stat_path) {
  std::ifstream in(stat_path);
  std::string line;
  if (!std::getline(in, line)) return -1;
  // The command name (field 2) may hold spaces; fields after the last ')' start at field 3.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

namespace {

std::set<std::string> thread_ids() {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc/self/task", ec))
    out.insert(e.path().filename().string());
  return out;
}

class MockTarget final : public Target {
 public:
  MockTarget(rd_kafka_t* owner, rd_kafka_mock_cluster_t* cluster, std::vector<std::string> tids)
      : owner_(owner), cluster_(cluster), tids_(std::move(tids)) {
    bootstrap_ = rd_kafka_mock_cluster_bootstraps(cluster_);
  }
  ~MockTarget() override { (void)stop(); }

  const char* label() const override { return "mock"; }
  const std::string& bootstrap() const override { return bootstrap_; }

  Status create_topic(const std::string& name, int partitions) override {
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions, 1);
    if (err) return {Errc::kIoError, fmt::format("mock topic {}: {}", name, rd_kafka_err2str(err))};
    return {};
  }

  double cpu_seconds() const override {
    if (tids_.empty()) {
      rusage ru;
      getrusage(RUSAGE_SELF, &ru);
      return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
             (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    }
    double sum = 0;
    for (const auto& tid : tids_)
      sum += std::max(0.0, proc_stat_cpu_seconds("/proc/self/task/" + tid + "/stat"));
    return sum;
  }

  std::string cpu_source() const override {
    return tids_.empty() ? "getrusage of the whole bench process (mock thread not found)"
                         : "/proc/self/task/<tid>/stat of the mock cluster's own thread";
  }

  Status stop() override {
    if (cluster_) rd_kafka_mock_cluster_destroy(cluster_);
    if (owner_) rd_kafka_destroy(owner_);
    cluster_ = nullptr;
    owner_ = nullptr;
    return {};
  }

 private:
  rd_kafka_t* owner_;
  rd_kafka_mock_cluster_t* cluster_;
  std::vector<std::string> tids_;  // threads that appeared when the cluster started
  std::string bootstrap_;
};

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

bool port_accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

class ProcessTarget final : public Target {
 public:
  ProcessTarget(pid_t pid, std::string dir, std::string bootstrap)
      : pid_(pid), dir_(std::move(dir)), bootstrap_(std::move(bootstrap)) {}
  ~ProcessTarget() override { (void)stop(); }

  const char* label() const override { return "shale"; }
  const std::string& bootstrap() const override { return bootstrap_; }

  Status create_topic(const std::string& name, int partitions) override {
    char errstr[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap_.c_str(), errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) return {Errc::kInternal, errstr};
    rd_kafka_NewTopic_t* nt =
        rd_kafka_NewTopic_new(name.c_str(), partitions, 1, errstr, sizeof(errstr));
    rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
    Status st;
    if (!ev) {
      st = Status(Errc::kTimeout, "CreateTopics: no answer in 30 s");
    } else if (rd_kafka_event_error(ev)) {
      st = Status(Errc::kIoError, rd_kafka_event_error_string(ev));
    } else {
      size_t n = 0;
      const rd_kafka_topic_result_t** r =
          rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
      for (size_t i = 0; i < n; ++i) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(r[i]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
          st =
              Status(Errc::kIoError, fmt::format("CreateTopics {}: {}", name, rd_kafka_err2str(e)));
      }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
    return st;
  }

  double cpu_seconds() const override {
    return proc_stat_cpu_seconds(fmt::format("/proc/{}/stat", pid_));
  }
  std::string cpu_source() const override { return "/proc/<pid>/stat of the shale process"; }

  void evict_page_cache() override {
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(dir_, ec)) {
      if (!e.is_regular_file()) continue;
      int fd = open(e.path().c_str(), O_RDONLY);
      if (fd < 0) continue;
      fdatasync(fd);  // dirty pages cannot be dropped
      posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      close(fd);
    }
  }

  Status stop() override {
    if (pid_ <= 0) return {};
    kill(pid_, SIGTERM);
    int status = 0;
    const int64_t deadline = mono_ns() + 10'000'000'000;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (mono_ns() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
    std::error_code ec;
    fs::remove_all(dir_, ec);
    return {};
  }

 private:
  pid_t pid_;
  std::string dir_;
  std::string bootstrap_;
};

}  // namespace

Result<std::unique_ptr<Target>> start_mock_target() {
  char errstr[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
  rd_kafka_t* owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (!owner) return Error{Errc::kInternal, errstr};
  const std::set<std::string> before = thread_ids();
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(owner, 1);
  if (!cluster) {
    rd_kafka_destroy(owner);
    return Error{Errc::kInternal, "rd_kafka_mock_cluster_new failed"};
  }
  std::vector<std::string> fresh;
  for (const auto& t : thread_ids())
    if (!before.count(t)) fresh.push_back(t);
  return std::unique_ptr<Target>(new MockTarget(owner, cluster, std::move(fresh)));
}

Result<std::unique_ptr<Target>> start_process_target(const std::string& shale_bin,
                                                     const std::string& data_root) {
  std::error_code ec;
  fs::create_directories(data_root, ec);
  std::string templ = (fs::path(data_root) / "shale-XXXXXX").string();
  if (!mkdtemp(templ.data())) return Error{Errc::kIoError, "mkdtemp under " + data_root};
  const int port = free_port();
  if (port <= 0) return Error{Errc::kIoError, "no free port"};
  const std::string listen = fmt::format("127.0.0.1:{}", port);
  const std::string data_dir = templ + "/data";
  const std::string log_path = templ + ".log";  // kept after stop() for post-mortems
  const pid_t pid = fork();
  if (pid < 0) return Error{Errc::kIoError, "fork failed"};
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // an interrupted bench must not leave brokers behind
    int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log >= 0) {
      dup2(log, 1);
      dup2(log, 2);
    }
    // --http 127.0.0.1:0: an ephemeral admin port, so no fixed port can collide.
    execl(shale_bin.c_str(), shale_bin.c_str(), "serve", "--data-dir", data_dir.c_str(), "--listen",
          listen.c_str(), "--http", "127.0.0.1:0", static_cast<char*>(nullptr));
    _exit(127);
  }
  auto target = std::make_unique<ProcessTarget>(pid, templ, listen);
  const int64_t deadline = mono_ns() + 20'000'000'000;
  while (!port_accepts(port)) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid)
      return Error{Errc::kUnavailable,
                   fmt::format("{} exited early (see {})", shale_bin, log_path)};
    if (mono_ns() > deadline)
      return Error{Errc::kTimeout,
                   fmt::format("{} did not listen on {} in 20 s", shale_bin, listen)};
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return std::unique_ptr<Target>(std::move(target));
}

}  // namespace shale::bench
