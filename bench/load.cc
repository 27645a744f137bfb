#include "load.h"

#include <librdkafka/rdkafka.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <thread>

namespace shale::bench {

namespace {

// State shared by the threads of one run_live() call.
struct Shared {
  int64_t start = 0;
  int64_t warm_end = 0;
  std::atomic<int64_t> end{0};  // lowered if the window closes early
  std::atomic<bool> stop_consumers{false};
  std::atomic<uint64_t> sent_total{0};
  std::atomic<uint64_t> acked_total{0};
  std::atomic<uint64_t> consumed_total{0};
  std::atomic<int> producers_running{0};
  bool in_window(int64_t t) const { return t >= warm_end && t < end.load(); }
};

// Per-thread results; written only by the owning thread, read after join.
struct Stats {
  HdrHistogram lat;
  uint64_t count = 0;
  uint64_t bytes = 0;
  uint64_t errors = 0;
  std::string error;
  Shared* shared = nullptr;
  void fail(const char* what) {
    ++errors;
    if (error.empty()) error = what;
  }
};

void sleep_ns(int64_t ns) {
  if (ns <= 0) return;
  timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  nanosleep(&ts, nullptr);
}

void set(rd_kafka_conf_t* conf, const char* key, const std::string& value) {
  char errstr[256];
  rd_kafka_conf_set(conf, key, value.c_str(), errstr, sizeof(errstr));
}

// Delivery reports run on the producer's own thread (inside rd_kafka_poll/flush).
void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* st = static_cast<Stats*>(opaque);
  if (m->err) {
    st->fail(rd_kafka_err2str(m->err));
    return;
  }
  st->shared->acked_total.fetch_add(1, std::memory_order_relaxed);
  const auto sent = static_cast<int64_t>(reinterpret_cast<intptr_t>(m->_private));
  if (!st->shared->in_window(sent)) return;
  st->lat.record(mono_ns() - sent);
  ++st->count;
  st->bytes += m->len + m->key_len;
}

rd_kafka_t* make_producer(const std::string& bootstrap, const Workload& w, Stats* st) {
  char errstr[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", bootstrap);
  set(conf, "acks", w.acks);
  set(conf, "linger.ms", std::to_string(w.linger_ms));
  set(conf, "batch.size", std::to_string(w.batch_size));
  set(conf, "compression.type", w.compression);
  set(conf, "partitioner", "murmur2_random");  // the Java client's partitioner
  set(conf, "message.timeout.ms", "30000");    // a dead broker fails a run in 30 s, not 300
  set(conf, "log_level", "3");
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, st);
  return rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
}

rd_kafka_t* make_consumer(const std::string& bootstrap, const std::string& group, bool eof,
                          int fetch_wait_ms) {
  char errstr[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", bootstrap);
  set(conf, "group.id", group);
  set(conf, "auto.offset.reset", "earliest");
  set(conf, "enable.partition.eof", eof ? "true" : "false");
  set(conf, "fetch.wait.max.ms", std::to_string(fetch_wait_ms));
  set(conf, "log_level", "3");
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
  if (rk) rd_kafka_poll_set_consumer(rk);
  return rk;
}

// Partitions (topic, partition) with index % n == idx, starting at the beginning.
rd_kafka_topic_partition_list_t* slice(const std::vector<std::string>& topics, int partitions,
                                       int idx, int n) {
  auto* list = rd_kafka_topic_partition_list_new(16);
  int i = 0;
  for (const auto& t : topics)
    for (int p = 0; p < partitions; ++p, ++i)
      if (i % n == idx)
        rd_kafka_topic_partition_list_add(list, t.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  return list;
}

void produce_loop(const std::string& bootstrap, const LiveSpec& spec, Shared& sh, Stats& st,
                  int idx) {
  const Workload& w = *spec.w;
  rd_kafka_t* rk = make_producer(bootstrap, w, &st);
  if (!rk) {
    st.fail("rd_kafka_new(producer) failed");
    sh.producers_running.fetch_sub(1);
    return;
  }
  std::vector<rd_kafka_topic_t*> rkts;
  for (const auto& t : spec.topics) rkts.push_back(rd_kafka_topic_new(rk, t.c_str(), nullptr));
  std::mt19937_64 rng(0x5eed + idx);
  std::string payload(w.message_size, '\0');
  for (auto& c : payload) c = static_cast<char>(rng());  // incompressible filler
  std::memcpy(payload.data(), &kMessageMagic, sizeof(kMessageMagic));
  std::uniform_int_distribution<int64_t> customer(0, std::max<int64_t>(w.key_space, 1) - 1);
  char key[32];
  const double per_rate = spec.rate / spec.w->producers;
  uint64_t sent = 0;
  size_t next_topic = 0;
  bool failed = false;
  while (!failed) {
    const int64_t now = mono_ns();
    if (now >= sh.end.load()) break;
    if (spec.max_messages > 0 && sh.sent_total.load() >= static_cast<uint64_t>(spec.max_messages))
      break;
    int64_t batch = 256;
    if (per_rate > 0) {
      const auto due =
          static_cast<int64_t>((now - sh.start) * 1e-9 * per_rate) - static_cast<int64_t>(sent);
      if (due <= 0) {
        rd_kafka_poll(rk, 0);
        const auto next = sh.start + static_cast<int64_t>((sent + 1) * 1e9 / per_rate);
        sleep_ns(std::min<int64_t>(next - now, 2'000'000));
        continue;
      }
      batch = std::min<int64_t>(due, 1000);
    }
    for (int64_t i = 0; i < batch && !failed; ++i) {
      size_t key_len = 0;
      if (w.keys == KeyMode::kRandom) {
        const uint64_t r[2] = {rng(), rng()};
        std::memcpy(key, r, sizeof(r));
        key_len = sizeof(r);
      } else if (w.keys == KeyMode::kHighCardinality) {
        key_len = static_cast<size_t>(
            snprintf(key, sizeof(key), "customer-%lld", static_cast<long long>(customer(rng))));
      }
      rd_kafka_topic_t* rkt = rkts[next_topic++ % rkts.size()];
      // Even spread: runs of 64 messages per partition, so batches stay large.
      const int32_t partition = spec.spread_evenly
                                    ? static_cast<int32_t>(((sent / 64) * spec.w->producers + idx) %
                                                           static_cast<uint64_t>(spec.partitions))
                                    : RD_KAFKA_PARTITION_UA;
      bool produced = false;
      while (!produced && !failed && mono_ns() < sh.end.load()) {
        const int64_t ts = mono_ns();
        std::memcpy(payload.data() + 8, &ts, sizeof(ts));
        produced = rd_kafka_produce(rkt, partition, RD_KAFKA_MSG_F_COPY, payload.data(),
                                    payload.size(), key_len ? key : nullptr, key_len,
                                    reinterpret_cast<void*>(static_cast<intptr_t>(ts))) == 0;
        if (produced) break;
        if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
          st.fail(rd_kafka_err2str(rd_kafka_last_error()));
          failed = true;
        }
        rd_kafka_poll(rk, 1);  // local queue full: serve delivery reports, then retry
      }
      if (!produced) break;
      ++sent;
      sh.sent_total.fetch_add(1, std::memory_order_relaxed);
    }
    rd_kafka_poll(rk, 0);
  }
  if (rd_kafka_flush(rk, 35000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    st.fail("flush timed out");
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(rk, 0);
  }
  for (auto* t : rkts) rd_kafka_topic_destroy(t);
  rd_kafka_destroy(rk);
  sh.producers_running.fetch_sub(1);
}

void consume_loop(const std::string& bootstrap, const LiveSpec& spec, Shared& sh, Stats& st,
                  int idx) {
  rd_kafka_t* rk = make_consumer(bootstrap, fmt::format("bench-live-{}-{}", mono_ns(), idx), false,
                                 spec.w->fetch_wait_ms);
  if (!rk) {
    st.fail("rd_kafka_new(consumer) failed");
    return;
  }
  auto* list = slice(spec.topics, spec.partitions, idx, spec.w->consumers);
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  while (!sh.stop_consumers.load()) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 50);
    if (!m) continue;
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) st.fail(rd_kafka_err2str(m->err));
    } else if (m->len >= kHeaderBytes) {
      const int64_t now = mono_ns();
      uint64_t magic;
      int64_t sent;
      std::memcpy(&magic, m->payload, sizeof(magic));
      std::memcpy(&sent, static_cast<const char*>(m->payload) + 8, sizeof(sent));
      if (magic == kMessageMagic) {
        sh.consumed_total.fetch_add(1, std::memory_order_relaxed);
        if (sh.in_window(sent)) st.lat.record(now - sent);
        if (sh.in_window(now)) {
          ++st.count;
          st.bytes += m->len + m->key_len;
        }
      }
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
}

}  // namespace

LiveResult run_live(const std::string& bootstrap, const LiveSpec& spec) {
  const Workload& w = *spec.w;
  Shared sh;
  sh.start = mono_ns();
  sh.warm_end = sh.start + static_cast<int64_t>(spec.warmup_s * 1e9);
  sh.end = sh.warm_end + static_cast<int64_t>(spec.duration_s * 1e9);
  std::vector<Stats> pstats(w.producers), cstats(w.consumers);
  std::vector<std::thread> producers, consumers;
  for (int i = 0; i < w.consumers; ++i) {
    cstats[i].shared = &sh;
    consumers.emplace_back([&, i] { consume_loop(bootstrap, spec, sh, cstats[i], i); });
  }
  sh.producers_running = w.producers;
  for (int i = 0; i < w.producers; ++i) {
    pstats[i].shared = &sh;
    producers.emplace_back([&, i] { produce_loop(bootstrap, spec, sh, pstats[i], i); });
  }
  LiveResult r;
  sleep_ns(sh.warm_end - mono_ns());
  const double cpu0 = spec.cpu ? spec.cpu->cpu_seconds() : -1;
  if (spec.at_window_start) spec.at_window_start();
  int64_t now = mono_ns();
  while (now < sh.end.load() && sh.producers_running.load() > 0 &&
         !(spec.stop_early && spec.stop_early->load())) {
    sleep_ns(std::min<int64_t>(sh.end.load() - now, 10'000'000));
    now = mono_ns();
  }
  sh.end = std::min(now, sh.end.load());
  if (spec.cpu) r.cpu_s = spec.cpu->cpu_seconds() - cpu0;
  for (auto& t : producers) t.join();
  // Let consumers catch up with everything acknowledged: up to 10 s, or until they make no
  // progress for 1 s (a broker that dropped data, like the mock past its retention).
  const int64_t catch_up = mono_ns() + 10'000'000'000;
  uint64_t seen = sh.consumed_total.load();
  int64_t last_progress = mono_ns();
  while (w.consumers > 0 && sh.consumed_total.load() < sh.acked_total.load() &&
         mono_ns() < catch_up && mono_ns() - last_progress < 1'000'000'000) {
    sleep_ns(10'000'000);
    if (sh.consumed_total.load() != seen) {
      seen = sh.consumed_total.load();
      last_progress = mono_ns();
    }
  }
  sh.stop_consumers = true;
  for (auto& t : consumers) t.join();

  r.window_s = static_cast<double>(sh.end.load() - sh.warm_end) / 1e9;
  for (auto& s : pstats) {
    r.produce_lat.merge(s.lat);
    r.acked += s.count;
    r.acked_bytes += s.bytes;
    r.produce_errors += s.errors;
    if (r.error.empty()) r.error = s.error;
  }
  for (auto& s : cstats) {
    r.e2e_lat.merge(s.lat);
    r.consumed += s.count;
    r.consumed_bytes += s.bytes;
    if (r.error.empty()) r.error = s.error;
  }
  if (w.consumers > 0 && sh.acked_total.load() > sh.consumed_total.load())
    r.lost = sh.acked_total.load() - sh.consumed_total.load();
  return r;
}

ReadResult read_to_end(const std::string& bootstrap, const std::string& topic, int partitions,
                       int consumers, const std::string& group, double max_s) {
  std::mutex mu;
  std::set<int> at_end;  // partitions that reported end-of-partition; guarded by mu
  std::atomic<bool> done{false};
  std::atomic<int64_t> first{0}, last{0};
  std::atomic<uint64_t> msgs{0}, bytes{0};
  const int64_t deadline = mono_ns() + static_cast<int64_t>(max_s * 1e9);
  auto body = [&](int idx) {
    const std::string gid = group.empty() ? fmt::format("bench-read-{}-{}", mono_ns(), idx) : group;
    rd_kafka_t* rk = make_consumer(bootstrap, gid, true, 500);
    if (!rk) return;
    if (group.empty()) {
      auto* list = slice({topic}, partitions, idx, consumers);
      rd_kafka_assign(rk, list);
      rd_kafka_topic_partition_list_destroy(list);
    } else {
      auto* list = rd_kafka_topic_partition_list_new(1);
      rd_kafka_topic_partition_list_add(list, topic.c_str(), RD_KAFKA_PARTITION_UA);
      rd_kafka_subscribe(rk, list);
      rd_kafka_topic_partition_list_destroy(list);
    }
    while (!done.load() && mono_ns() < deadline) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
      if (!m) continue;
      const int64_t now = mono_ns();
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        std::lock_guard<std::mutex> lock(mu);
        at_end.insert(m->partition);
        if (static_cast<int>(at_end.size()) == partitions) {
          last = now;
          done = true;
        }
      } else if (!m->err) {
        int64_t zero = 0;
        first.compare_exchange_strong(zero, now);
        msgs.fetch_add(1, std::memory_order_relaxed);
        bytes.fetch_add(m->len + m->key_len, std::memory_order_relaxed);
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < consumers; ++i) threads.emplace_back(body, i);
  for (auto& t : threads) t.join();
  ReadResult r;
  r.messages = msgs.load();
  r.bytes = bytes.load();
  r.complete = done.load();
  const int64_t end = r.complete ? last.load() : mono_ns();
  if (first.load() > 0) r.seconds = static_cast<double>(end - first.load()) / 1e9;
  return r;
}

}  // namespace shale::bench
