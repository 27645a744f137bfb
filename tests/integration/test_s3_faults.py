"""Fault injection between Shale and Ceph RGW (tests/integration/s3_fault_proxy.py) under a
continuous acks=all produce, object WAL on S3: 503 SlowDown bursts, connection resets, hangs
(the S3 client times out after 2 s, the producer's request after 2 s) and slow responses.

What a client sees is asserted: the producer runs with retries=0, so every error code the broker
returns reaches a delivery report. Checks: produce slows down during the faults; every error is
a retriable one (the broker's REQUEST_TIMED_OUT / NOT_LEADER_OR_FOLLOWER / KAFKA_STORAGE_ERROR,
or librdkafka's own timeouts when no answer came in time), never a non-retriable code; nothing
acknowledged is lost or duplicated (consume everything, compare with the delivery reports; every
value is produced once, so it may be in the log at most once); the broker recovers by itself
when the faults stop (every message produced after a short grace is acknowledged) and it
neither crashes nor hangs."""
import collections
import threading
import time

import conftest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
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
# Retriable errors a produce may end with while S3 misbehaves: the broker's answers, or no answer
# within request.timeout.ms / message.timeout.ms (librdkafka's local codes).
RETRIABLE = {KafkaError.REQUEST_TIMED_OUT, KafkaError.NOT_LEADER_FOR_PARTITION,
             KafkaError.KAFKA_STORAGE_ERROR, KafkaError._TIMED_OUT, KafkaError._MSG_TIMED_OUT,
             KafkaError._TIMED_OUT_QUEUE}
RECOVERY_GRACE_S = 3.0  # after the last fault, every produced message must be acknowledged


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
        ack_times, sent_at = [], {}
        done = threading.Event()

        def report(err, msg):
            with lock:
                if err is None:
                    acked[msg.value().decode()] = msg.offset()
                    ack_times.append(time.time())
                else:
                    failed.append((msg.value().decode(), err))

        def produce():
            # retries=0: each broker error code reaches the delivery report.
            p = Producer({"bootstrap.servers": s.bootstrap, "acks": "all", "linger.ms": 5,
                          "enable.idempotence": False, "retries": 0,
                          "request.timeout.ms": 2000, "message.timeout.ms": 120000,
                          "queue.buffering.max.messages": 20000})
            i = 0
            while not done.is_set():
                v = f"m{i:07d}"
                sent_at[v] = time.time()
                p.produce("f", v.encode(), partition=0, on_delivery=report)
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
        codes = collections.Counter(e.name() for _, e in failed)
        print("produce errors seen by the client:", dict(codes))
        # The hang (3 s) outlasts request.timeout.ms (2 s): the error path is exercised.
        assert failed, "no produce error during a 3 s S3 hang with a 2 s request timeout"
        bad = [(v, e) for v, e in failed if e.code() not in RETRIABLE]
        assert not bad, bad[:5]  # only retriable codes, never e.g. UNKNOWN_SERVER_ERROR
        healed = windows[-1][1] + RECOVERY_GRACE_S
        late = [(v, e) for v, e in failed if sent_at[v] >= healed]
        assert not late, late[:5]  # recovered without a restart
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
        dups = [v for v, n in collections.Counter(log.values()).items() if n > 1]
        assert not dups, dups[:5]  # each value was produced once (retries=0)
    finally:
        proxy.set(None)
        rc, _ = s.stop()
        proxy.stop()
    assert rc == 0, s.logs()[-3000:]
