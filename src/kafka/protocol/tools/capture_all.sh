#!/usr/bin/env bash
# Re-captures the golden request fixtures in testdata/ from real clients (kcat, librdkafka in C,
# confluent-kafka-python, kafka-python, kafkajs) talking to kafka_capture, a fake broker built on this
# codec. Usage: capture_all.sh BUILD_DIR   (BUILD_DIR holds kafka_capture). Loopback only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../testdata"
cap=$(find "$1" -name kafka_capture -type f -perm -u+x | head -1)
port=${PORT:-19301}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run() {  # run PREFIX CLIENT-COMMAND...
  local prefix=$1; shift
  "$cap" "$port" "$out" "$prefix" 6 & local pid=$!
  sleep 0.5
  timeout 5 "$@" >/dev/null 2>&1 || true
  wait "$pid"
  port=$((port + 1))
}

run kcat kcat -b 127.0.0.1:$port -L -t shaletest
run kcat sh -c "echo hello | kcat -b 127.0.0.1:$port -P -t shaletest -p 0"
cc -o "$tmp/librdkafka_capture" "$here/librdkafka_capture.c" -lrdkafka
run librdkafka_c "$tmp/librdkafka_capture" 127.0.0.1:$port
run confluent_kafka_python /usr/bin/python3 -c "
from confluent_kafka import Producer
p = Producer({'bootstrap.servers': '127.0.0.1:$port', 'client.id': 'shale-capture',
              'enable.idempotence': True})
p.produce('shaletest', key=b'k', value=b'v', partition=0)
p.flush(4)"
run kafka_python /usr/bin/python3 -c "
import kafka
p = kafka.KafkaProducer(bootstrap_servers='127.0.0.1:$port', client_id='shale-capture',
                        request_timeout_ms=3000)
p.send('shaletest', key=b'k', value=b'v', partition=0).get(timeout=4)
p.close(timeout=1)"
run kafkajs env NODE_DIR="$here/../../../../tests/node" node "$here/kafkajs_capture.js" 127.0.0.1:$port
ls -l "$out"
