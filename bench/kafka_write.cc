// kafka_write: produces MESSAGES messages of SIZE random bytes (one buffer, sent again and again)
// to one partition with librdkafka's C API, acks=all, and waits for every delivery report: the
// Kafka-side counterpart of `s3_raw upload` (a C client that PUTs one buffer's bytes).
// bench/s3_bench.py times a broker's produce throughput with it. Prints one JSON object on stdout:
//   {"messages": N, "bytes": B, "errors": E, "seconds": S, "mib_s": R}
// where S runs from the first produce to the last delivery report; the connection and the
// topic's metadata are set up before it starts. Exits 1 if any message failed. Not a test.
//
//   kafka_write BOOTSTRAP TOPIC PARTITION MESSAGES SIZE [--timeout-s 300]
//
// The producer is set up as s3_bench.py's Python one was (linger.ms 5, 1 MiB batches, 256 MiB
// of local queue), but hands librdkafka its payload without a copy: confluent-kafka-python copies
// every message (RD_KAFKA_MSG_F_COPY) and runs a Python call per message, on the core the broker
// shares (BENCHMARKS.md section 5s).
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "rdkafka_conf.h"

namespace {

using Clock = std::chrono::steady_clock;

bool set(rd_kafka_conf_t* conf, const char* key, const std::string& value) {
  return shale::bench::conf_set(conf, "kafka_write", key, value);
}

struct Delivered {
  long long ok = 0, errors = 0;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* d = static_cast<Delivered*>(opaque);
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++d->ok;
  } else if (d->errors++ < 10) {
    std::fprintf(stderr, "kafka_write: delivery: %s\n", rd_kafka_err2str(m->err));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr,
                 "usage: kafka_write BOOTSTRAP TOPIC PARTITION MESSAGES SIZE [--timeout-s S]\n");
    return 2;
  }
  const std::string bootstrap = argv[1], topic = argv[2];
  const int partition = std::atoi(argv[3]);
  const long long want = std::atoll(argv[4]);
  const size_t size = static_cast<size_t>(std::atoll(argv[5]));
  double timeout_s = 300;
  for (int i = 6; i + 1 < argc; i += 2)
    if (std::strcmp(argv[i], "--timeout-s") == 0) timeout_s = std::atof(argv[i + 1]);

  Delivered delivered;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (!set(conf, "bootstrap.servers", bootstrap) || !set(conf, "acks", "all") ||
      !set(conf, "linger.ms", "5") || !set(conf, "batch.size", "1048576") ||
      !set(conf, "message.max.bytes", "8388608") ||
      !set(conf, "queue.buffering.max.kbytes", "262144") || !set(conf, "log_level", "3"))
    return 2;
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, &delivered);
  char errstr[256];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (!rk) {
    std::fprintf(stderr, "kafka_write: rd_kafka_new: %s\n", errstr);
    return 1;
  }
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  // The topic's leader before the clock starts, as s3_raw knows its bucket (librdkafka otherwise
  // looks a new topic up on its 1 s metadata scan; BENCHMARKS.md section 5n).
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000); e) {
    std::fprintf(stderr, "kafka_write: metadata: %s\n", rd_kafka_err2str(e));
    return 1;
  }
  rd_kafka_metadata_destroy(md);

  std::vector<char> payload(size);
  std::mt19937_64 rng(42);
  for (char& c : payload) c = static_cast<char>(rng());

  const Clock::time_point t0 = Clock::now();
  const auto deadline =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  long long sent = 0;
  // No copy (msgflags 0): the payload outlives every delivery. A full local queue is drained by
  // serving delivery reports (rd_kafka_poll), as the Python loop does on BufferError; with
  // RD_KAFKA_MSG_F_BLOCK instead, produce() waits for room that only this thread's poll frees.
  while (sent < want && Clock::now() < deadline) {
    if (rd_kafka_produce(rkt, partition, 0, payload.data(), payload.size(), nullptr, 0, nullptr) !=
        0) {
      const rd_kafka_resp_err_t e = rd_kafka_last_error();
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk, 10);
        continue;
      }
      std::fprintf(stderr, "kafka_write: produce: %s\n", rd_kafka_err2str(e));
      break;
    }
    ++sent;
    rd_kafka_poll(rk, 0);
  }
  while (rd_kafka_outq_len(rk) > 0 && Clock::now() < deadline) rd_kafka_poll(rk, 50);
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);

  const long long bytes = delivered.ok * static_cast<long long>(size);
  std::printf(
      "{\"messages\": %lld, \"bytes\": %lld, \"errors\": %lld, \"seconds\": %.6f, "
      "\"mib_s\": %.3f}\n",
      delivered.ok, bytes, delivered.errors, secs,
      secs > 0 ? static_cast<double>(bytes) / 1048576.0 / secs : 0.0);
  return delivered.ok == want && delivered.errors == 0 ? 0 : 1;
}
