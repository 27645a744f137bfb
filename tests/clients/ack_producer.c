/* A librdkafka producer for crash tests: produces N messages "m<i>" to partition 0 of TOPIC with
 * acks=all, no idempotence and no retries (so a message the broker acknowledged is never sent
 * twice by the client), spreading them over about SPREAD_MS milliseconds. For every delivery report
 * it prints one line to stdout and flushes it:
 *   ack <i> <offset>        the broker acknowledged message i at offset
 *   fail <i> <error name>   the message was not acknowledged
 * Usage: ack_producer BOOTSTRAP TOPIC N SPREAD_MS      Exit 0 once every message has a report. */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  (void)opaque;
  long i = (long)(intptr_t)m->_private;
  if (m->err)
    printf("fail %ld %s\n", i, rd_kafka_err2name(m->err));
  else
    printf("ack %ld %lld\n", i, (long long)m->offset);
  fflush(stdout);
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v) {
  char err[256];
  if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "config %s=%s: %s\n", k, v, err);
    exit(2);
  }
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s BOOTSTRAP TOPIC N SPREAD_MS\n", argv[0]);
    return 2;
  }
  const char *topic = argv[2];
  long n = atol(argv[3]);
  long spread_ms = atol(argv[4]);
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", argv[1]);
  set(conf, "acks", "all");
  set(conf, "enable.idempotence", "false");
  set(conf, "message.send.max.retries", "0");
  set(conf, "linger.ms", "1");
  set(conf, "message.timeout.ms", "30000");
  set(conf, "reconnect.backoff.ms", "50");
  set(conf, "reconnect.backoff.max.ms", "200");
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    fprintf(stderr, "rd_kafka_new: %s\n", err);
    return 2;
  }
  struct timespec pause = {0, n > 0 ? (spread_ms * 1000000L) / n : 0};
  for (long i = 0; i < n; i++) {
    char value[32];
    int len = snprintf(value, sizeof value, "m%ld", i);
    rd_kafka_resp_err_t e;
    while ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                                  RD_KAFKA_V_VALUE(value, (size_t)len),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_OPAQUE((void *)(intptr_t)i), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(rk, 10);
    if (e) {
      printf("fail %ld %s\n", i, rd_kafka_err2name(e));
      fflush(stdout);
    }
    rd_kafka_poll(rk, 0);
    nanosleep(&pause, NULL);
  }
  rd_kafka_flush(rk, 60000);
  int left = rd_kafka_outq_len(rk);
  rd_kafka_destroy(rk);
  return left == 0 ? 0 : 1;
}
