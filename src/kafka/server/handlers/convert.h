// Small conversions shared by the handlers in this folder (broker types <-> wire types).
#pragma once

#include "broker/uuid.h"
#include "kafka/protocol/wire.h"

namespace shale::kafka {

inline Uuid to_kafka_uuid(const broker::Uuid& u) {
  Uuid out;
  out.bytes = u.bytes;
  return out;
}

inline broker::Uuid from_kafka_uuid(const Uuid& u) {
  broker::Uuid out;
  out.bytes = u.bytes;
  return out;
}

}  // namespace shale::kafka
