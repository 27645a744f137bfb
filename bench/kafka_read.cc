// kafka_read: reads one partition from its first offset with librdkafka's C API and discards
// what it reads, the Kafka-side counterpart of `s3_raw get` (whose bytes also go nowhere).
// bench/s3_bench.py times a broker's cold catch-up with it. Prints one JSON object on stdout:
//   {"messages": N, "bytes": B, "errors": E, "seconds": S, "first_s": F, "mib_s": R}
// where S runs from just before the assign to the N-th message, and F to the first (connect,
// metadata and the broker's first, cold read). Not a test.
//
//   kafka_read BOOTSTRAP TOPIC PARTITION MESSAGES [--timeout-s 300]
//
// The consumer is set up as s3_bench.py's Python one was (16 MiB partition fetches, up to
// 64 MiB per response, 256 MiB of local queue), but it keeps no copy of a payload: librdkafka
// hands out messages that point into its fetch buffers, where confluent-kafka-python makes a
// Python bytes object of each (BENCHMARKS.md section 5q).
//
// Its heap is backed by transparent huge pages: unless GLIBC_TUNABLES is set (an empty value
// counts), it runs itself again with GLIBC_TUNABLES=glibc.malloc.hugetlb=1. A fresh process
// otherwise faults in its first fetch buffers 4 KiB at a time: ~12,600 faults per consume, most
// of them during the first three 16 MiB fetches, on the core the broker shares. s3_raw's GET
// buffers are huge-page backed too (s3::RecvBuffer), so both sides start alike (section 5r).
// KAFKA_READ_DEBUG=broker,fetch,... turns on librdkafka's debug log (stderr).
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "rdkafka_conf.h"

namespace {

using Clock = std::chrono::steady_clock;

bool set(rd_kafka_conf_t* conf, const char* key, const std::string& value) {
  return shale::bench::conf_set(conf, "kafka_read", key, value);
}

}  // namespace

int main(int argc, char** argv) {
  if (!std::getenv("GLIBC_TUNABLES")) {
    setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", 1);
    execv("/proc/self/exe", argv);
    std::perror("kafka_read: execv /proc/self/exe (going on with 4 KiB pages)");
  }
  if (argc < 5) {
    std::fprintf(stderr, "usage: kafka_read BOOTSTRAP TOPIC PARTITION MESSAGES [--timeout-s S]\n");
    return 2;
  }
  const std::string bootstrap = argv[1], topic = argv[2];
  const int partition = std::atoi(argv[3]);
  const long long want = std::atoll(argv[4]);
  double timeout_s = 300;
  for (int i = 5; i + 1 < argc; i += 2)
    if (std::strcmp(argv[i], "--timeout-s") == 0) timeout_s = std::atof(argv[i + 1]);

  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (!set(conf, "bootstrap.servers", bootstrap) || !set(conf, "group.id", "bench-read") ||
      !set(conf, "enable.auto.commit", "false") || !set(conf, "fetch.max.bytes", "67108864") ||
      !set(conf, "max.partition.fetch.bytes", "16777216") ||
      !set(conf, "queued.max.messages.kbytes", "262144") || !set(conf, "log_level", "3"))
    return 2;
  if (const char* d = std::getenv("KAFKA_READ_DEBUG"); d && *d) {  // librdkafka's debug contexts
    if (!set(conf, "debug", d) || !set(conf, "log_level", "7")) return 2;
  }
  char errstr[256];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
  if (!rk) {
    std::fprintf(stderr, "kafka_read: rd_kafka_new: %s\n", errstr);
    return 1;
  }
  rd_kafka_poll_set_consumer(rk);

  const Clock::time_point t0 = Clock::now();
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, topic.c_str(), partition)->offset = 0;
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);

  long long got = 0, bytes = 0, errors = 0;
  Clock::time_point first = t0, last = t0;
  const auto deadline =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  while (got < want && Clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (!m) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (got++ == 0) first = Clock::now();
      bytes += static_cast<long long>(m->len + m->key_len);
      last = Clock::now();
    } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      ++errors;
      std::fprintf(stderr, "kafka_read: %s\n", rd_kafka_message_errstr(m));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);

  const double secs = std::chrono::duration<double>(last - t0).count();
  const double first_s = std::chrono::duration<double>(first - t0).count();
  std::printf(
      "{\"messages\": %lld, \"bytes\": %lld, \"errors\": %lld, \"seconds\": %.6f, "
      "\"first_s\": %.6f, \"mib_s\": %.3f}\n",
      got, bytes, errors, secs, first_s,
      secs > 0 ? static_cast<double>(bytes) / 1048576.0 / secs : 0.0);
  return got == want ? 0 : 1;
}
