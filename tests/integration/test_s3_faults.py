"""Fault injection between Shale and Ceph RGW (tests/integration/s3_fault_proxy.py) under a
continuous acks=all produce, object WAL on S3: 503 SlowDown bursts, connection resets, hangs
(the S3 client times out after 2 s) and slow responses. Checks: produce slows down during the
faults, nothing acknowledged is lost (consume everything, compare with the delivery reports),
the broker recovers by itself when the faults stop, and it neither crashes nor hangs."""
import threading
import time

import conftest
from confluent_kafka import Consumer, Producer, TopicPartition
from s3_fault_proxy import FaultProxy
from s3_support import create_topic, credentials_config, new_prefix

PHASES = [  # (mode, probability, seconds)
    (None, 0, 3.0),
    ("slowdown", 1.0, 2.0),
    ("reset", 0.5, 2.0),
    ("hang", 1.0, 3.0),
    ("slow", 1.0, 2.0),
    (None, 0, 6.0),
]


def test_faults_slow_produce_lose_nothing_and_heal(tmp_path, rgw):
    proxy = FaultProxy(int(rgw.endpoint.rsplit(":", 1)[1])).start()
    prefix = new_prefix()
    uri = rgw.uri(prefix, endpoint=f"http://127.0.0.1:{proxy.port}", timeout_ms=2000,
                  max_attempts=3)
    d = tmp_path / "b"
    d.mkdir()
    s = conftest.Shale(d, ["--object-store", uri, "--config", credentials_config(tmp_path, rgw),
                           "--wal", "object", "--wal-flush-ms", "10",
                           "--upload-interval-ms", "300"])
    try:
        create_topic(s.bootstrap, "f")
        acked, failed, lock = {}, [], threading.Lock()
        ack_times = []
        done = threading.Event()

        def report(err, msg):
            with lock:
                if err is None:
                    acked[msg.value().decode()] = msg.offset()
                    ack_times.append(time.time())
                else:
                    failed.append((msg.value().decode(), err))

        def produce():
            p = Producer({"bootstrap.servers": s.bootstrap, "acks": "all", "linger.ms": 5,
                          "enable.idempotence": False, "request.timeout.ms": 5000,
                          "message.timeout.ms": 120000, "queue.buffering.max.messages": 20000})
            i = 0
            while not done.is_set():
                p.produce("f", f"m{i:07d}".encode(), partition=0, on_delivery=report)
                i += 1
                p.poll(0.002)
            assert p.flush(120) == 0
        th = threading.Thread(target=produce)
        th.start()
        windows = []
        for mode, prob, secs in PHASES:
            proxy.set(mode, prob)
            t0 = time.time()
            time.sleep(secs)
            windows.append((mode, t0, time.time()))
            assert s.proc.poll() is None, s.logs()[-3000:]  # no crash
        done.set()
        th.join(timeout=150)
        assert not th.is_alive(), "producer did not finish: the broker hangs"

        def rate(t0, t1):
            return sum(1 for t in ack_times if t0 <= t < t1) / (t1 - t0)
        rates = [(m, round(rate(t0, t1))) for m, t0, t1 in windows]
        print("acks/s per phase:", rates, "proxy:", proxy.counts)
        clean = rates[0][1]
        assert clean > 50
        assert rates[3][1] < clean / 2  # hung S3: produce slows down (no acks without the WAL)
        assert rates[-1][1] > clean / 4  # healed by itself once the faults stopped
        assert all(proxy.counts[m] > 0 for m in ("slowdown", "reset", "hang", "slow"))
        assert not failed, failed[:5]  # the client retried; no message was given up
        assert "retrying" in s.logs()  # the object WAL outlasted the outage

        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "f",
                      "enable.auto.commit": False})
        lo, hi = c.get_watermark_offsets(TopicPartition("f", 0), timeout=10)
        c.assign([TopicPartition("f", 0, 0)])
        log, end = {}, time.time() + 60
        while len(log) < hi and time.time() < end:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                log[m.offset()] = m.value().decode()
        c.close()
        assert sorted(log) == list(range(hi))
        for v, off in acked.items():
            assert log[off] == v, (v, off)  # every acknowledged message, where it was acked
    finally:
        proxy.set(None)
        rc, _ = s.stop()
        proxy.stop()
    assert rc == 0, s.logs()[-3000:]
