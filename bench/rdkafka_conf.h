// Helpers shared by the benchmark's librdkafka clients (kafka_read, kafka_write).
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdio>
#include <string>

namespace shale::bench {

// Sets one librdkafka property; on failure prints "TOOL: KEY: reason" and returns false.
inline bool conf_set(rd_kafka_conf_t* conf, const char* tool, const char* key,
                     const std::string& value) {
  char errstr[256];
  if (rd_kafka_conf_set(conf, key, value.c_str(), errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK)
    return true;
  std::fprintf(stderr, "%s: %s: %s\n", tool, key, errstr);
  return false;
}

}  // namespace shale::bench
