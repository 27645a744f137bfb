#!/usr/bin/python3
"""A first throughput/latency figure, not a test: one confluent-kafka-python (librdkafka) producer
of 1 KiB messages with acks=all for ~5 s against a broker, printing MB/s and p50/p99 ack latency
(delivery report time minus produce() time, so it includes librdkafka's queueing and linger).

Usage: tests/clients/quick_perf.py [--bootstrap HOST:PORT] [--seconds 5] [--size 1024]
       [--linger-ms 5] [--inflight N]
Without --bootstrap it starts `build/shale serve` (or $SHALE_BIN) on a temporary data dir."""
import argparse
import os
import socket
import subprocess
import tempfile
import time
import urllib.request

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(tmp):
    port, http = free_port(), free_port()
    binary = os.environ.get("SHALE_BIN", os.path.join(REPO, "build", "shale"))
    log = open(os.path.join(tmp, "shale.log"), "wb")
    proc = subprocess.Popen([binary, "serve", "--data-dir", os.path.join(tmp, "data"),
                             "--listen", f"127.0.0.1:{port}", "--http", f"127.0.0.1:{http}"],
                            stdout=log, stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http}/readyz", timeout=1) as r:
                if r.status == 200:
                    return proc, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("broker not ready")


def pct(sorted_vals, p):
    return sorted_vals[min(len(sorted_vals) - 1, int(len(sorted_vals) * p))]


def run(bootstrap, seconds, size, linger_ms, inflight):
    admin = AdminClient({"bootstrap.servers": bootstrap})  # alive until the future resolves
    admin.create_topics([NewTopic("perf", 1, 1)])["perf"].result(10)
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": linger_ms,
                  "compression.type": "none", "queue.buffering.max.messages": inflight,
                  "batch.size": 1 << 20})
    payload = os.urandom(size)
    lat, errors = [], [0]

    def on_delivery(err, _msg, t0):
        if err:
            errors[0] += 1
        else:
            lat.append(time.perf_counter() - t0)

    start = time.perf_counter()
    sent = 0
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        try:
            p.produce("perf", payload, partition=0,
                      on_delivery=lambda e, m, t0=t0: on_delivery(e, m, t0))
            sent += 1
        except BufferError:
            p.poll(0.001)
            continue
        p.poll(0)
    p.flush(60)
    elapsed = time.perf_counter() - start
    lat.sort()
    mb = len(lat) * size / elapsed / 1e6
    print(f"acked {len(lat)} of {sent} x {size} B in {elapsed:.2f} s, errors {errors[0]}")
    print(f"throughput {mb:.1f} MB/s ({len(lat) / elapsed:.0f} msg/s), acks=all, "
          f"linger.ms={linger_ms}, max in flight {inflight}")
    if lat:
        print(f"ack latency p50 {pct(lat, 0.50) * 1e3:.2f} ms  p99 {pct(lat, 0.99) * 1e3:.2f} ms"
              f"  max {lat[-1] * 1e3:.2f} ms")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--linger-ms", type=int, default=5)
    ap.add_argument("--inflight", type=int, default=100000)
    a = ap.parse_args()
    if a.bootstrap:
        run(a.bootstrap, a.seconds, a.size, a.linger_ms, a.inflight)
        return
    with tempfile.TemporaryDirectory() as tmp:
        proc, bootstrap = start_broker(tmp)
        try:
            run(bootstrap, a.seconds, a.size, a.linger_ms, a.inflight)
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
