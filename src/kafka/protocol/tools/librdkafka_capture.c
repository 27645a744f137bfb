// Minimal librdkafka client used by capture_all.sh: ApiVersions + Metadata against ARGV[1].
#include <librdkafka/rdkafka.h>
#include <stdio.h>
int main(int argc, char** argv) {
  char err[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof(err));
  rd_kafka_conf_set(conf, "client.id", "shale-capture-c", err, sizeof(err));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  const struct rd_kafka_metadata* md;
  rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, 3000);
  printf("metadata: %s\n", rd_kafka_err2str(e));
  if (!e) rd_kafka_metadata_destroy(md);
  rd_kafka_destroy(rk);
  return 0;
}
