"""The idempotent producer (enable.idempotence) against real brokers.

1. librdkafka (confluent_kafka, acks=all, max.in.flight=5) produces N keyed, numbered messages
   through tcp_chaos_proxy, which cuts connections at random bytes: every message must be stored
   exactly once, in order per partition.
2. The same with a SIGKILL and restart of the broker in the middle of producing (retries after
   the restart must be recognised as duplicates from the rebuilt producer state).
3. Raw protocol: InitProducerId, a replayed acked batch gets its original offset, a sequence gap
   OUT_OF_ORDER_SEQUENCE_NUMBER (45), a stale epoch INVALID_PRODUCER_EPOCH (47), a transactional
   id TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53); the broker keeps serving throughout.
"""
import os
import signal
import struct
import threading
import time

import conftest
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from tcp_chaos_proxy import ChaosProxy
from test_compat_wire import Reader, call, crc32c, kstr, varint

NONE, OUT_OF_ORDER, INVALID_PRODUCER_EPOCH, TXN_ID_AUTH_FAILED = 0, 45, 47, 53
NOT_LEADER = 6


def start_on(monkeypatch, data_dir, port, http_port, *extra):
    ports = iter([port, http_port])
    monkeypatch.setattr(conftest, "free_port", lambda: next(ports))
    return conftest.Shale(data_dir, extra)


def create_topic(bootstrap, name, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the result
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(10)


def make_producer(bootstrap, errors):
    return Producer({
        "bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
        "max.in.flight.requests.per.connection": 5, "linger.ms": 2,
        "batch.num.messages": 50, "message.timeout.ms": 90000,
        "reconnect.backoff.ms": 20, "reconnect.backoff.max.ms": 300,
        "socket.timeout.ms": 5000, "retry.backoff.ms": 20,
        "error_cb": lambda e: errors.append(e) if e.fatal() else None})


def produce_all(p, topic, n, delivered, failed, pace=0):
    def cb(err, msg):
        (failed if err else delivered).append(msg.value() if not err else (msg.value(), err))
    for i in range(n):
        while True:
            try:
                p.produce(topic, key=f"k{i % 16}".encode(), value=str(i).encode(), on_delivery=cb)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
        if pace and i % 100 == 99:
            time.sleep(pace)


def check_exactly_once_in_order(bootstrap, topic, partitions, n):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{topic}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    per_part = {p: [] for p in range(partitions)}
    total, deadline = 0, time.time() + 60
    while total < n and time.time() < deadline:
        for m in c.consume(500, timeout=1):
            assert m.error() is None, m.error()
            per_part[m.partition()].append((m.offset(), int(m.value()), m.key()))
            total += 1
    # Nothing beyond n (duplicates would show up as more records).
    time.sleep(0.5)
    extra = c.consume(100, timeout=1)
    c.close()
    assert not extra, f"{len(extra)} records beyond the {n} produced"
    values = sorted(v for recs in per_part.values() for _, v, _ in recs)
    assert values == list(range(n)), \
        f"missing {sorted(set(range(n)) - set(values))[:10]}, " \
        f"dups {[v for i, v in enumerate(values) if i and values[i - 1] == v][:10]}"
    for p, recs in per_part.items():
        seq = [v for _, v, _ in recs]
        assert seq == sorted(seq), f"partition {p} out of order: {seq[:20]}"
        keys = {k for _, _, k in recs}
        for k in keys:  # a key always maps to one partition
            assert all(int(k[1:]) == v % 16 for _, v, kk in recs if kk == k)


def test_chaos_proxy_exactly_once_in_order(tmp_path, monkeypatch):
    proxy = ChaosProxy(seed=4, min_bytes=500, max_bytes=12000, cut=False)
    try:
        port, http_port = conftest.free_port(), conftest.free_port()
        s = start_on(monkeypatch, tmp_path, port, http_port, "--advertise", proxy.addr)
        proxy.target = ("127.0.0.1", port)
        create_topic(s.bootstrap, "idem", 4)
        proxy.cut = True  # from here on, connections are cut at random bytes
        n, delivered, failed, errors = 4000, [], [], []
        p = make_producer(proxy.addr, errors)
        produce_all(p, "idem", n, delivered, failed)
        assert p.flush(120) == 0
        assert not errors and not failed, (errors, failed[:5])
        assert len(delivered) == n
        assert proxy.cuts >= 5, f"only {proxy.cuts} cuts: the test did not exercise retries"
        proxy.cut = False  # the checking consumer also goes through the advertised proxy
        check_exactly_once_in_order(s.bootstrap, "idem", 4, n)
        dups = s.logs().count("duplicate of producer")
        print(f"cuts={proxy.cuts} connections={proxy.connections} duplicates={dups}")
    finally:
        proxy.stop()
    rc, _ = s.stop()
    assert rc == 0, s.logs()[-3000:]


def test_sigkill_restart_while_producing_idempotently(tmp_path, monkeypatch):
    proxy = ChaosProxy(seed=9, cut=False)
    try:
        port, http_port = conftest.free_port(), conftest.free_port()
        s = start_on(monkeypatch, tmp_path, port, http_port, "--advertise", proxy.addr)
        proxy.target = ("127.0.0.1", port)
        create_topic(s.bootstrap, "idemkill", 3)
        n, delivered, failed, errors = 6000, [], [], []
        p = make_producer(proxy.addr, errors)
        t = threading.Thread(target=produce_all,
                             args=(p, "idemkill", n, delivered, failed, 0.005))
        t.start()
        deadline = time.time() + 30
        while len(delivered) < n // 3 and time.time() < deadline:
            p.poll(0.01)
        assert len(delivered) >= n // 3
        os.kill(s.proc.pid, signal.SIGKILL)  # by PID: the broker this test started
        s.proc.wait()
        s.log.close()
        time.sleep(0.5)
        s = start_on(monkeypatch, tmp_path, port, http_port, "--advertise", proxy.addr)
        t.join(120)
        assert p.flush(120) == 0
        assert not errors and not failed, (errors, failed[:5])
        assert len(delivered) == n
        check_exactly_once_in_order(s.bootstrap, "idemkill", 3, n)
        logs = s.logs()
        print(f"after restart: duplicates={logs.count('duplicate of producer')} "
              f"rebuilt={logs.count('producer state from snapshot')}")
    finally:
        proxy.stop()
    rc, _ = s.stop()
    assert rc == 0, s.logs()[-3000:]


# --- raw protocol --------------------------------------------------------------------------------

def idem_batch(pid, epoch, seq, values):
    """A magic-2 uncompressed batch with producer id/epoch/base sequence."""
    recs = b""
    for i, v in enumerate(values):
        body = b"\x00" + varint(0) + varint(i) + varint(-1) + varint(len(v)) + v + varint(0)
        recs += varint(len(body)) + body
    now = int(time.time() * 1000)
    after_crc = struct.pack(">hiqqqhii", 0, len(values) - 1, now, now, pid, epoch, seq,
                            len(values)) + recs
    tail = struct.pack(">ib", -1, 2) + struct.pack(">I", crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(tail)) + tail


def produce_v3(bootstrap, topic, records):
    """Produce v3, acks=-1, partition 0 -> (error code, base offset)."""
    body = struct.pack(">hhi", -1, -1, 10000) + struct.pack(">i", 1) + kstr(topic) + \
        struct.pack(">ii", 1, 0) + struct.pack(">i", len(records)) + records
    r = call(bootstrap, 0, 3, body)
    assert r.take(">i") == 1 and r.string() == topic and r.take(">i") == 1
    _p, err, base, _ts = r.take(">ihqq")
    return err, base


def init_producer_id_v1(bootstrap, txn_id=None):
    body = (struct.pack(">h", -1) if txn_id is None else kstr(txn_id)) + struct.pack(">i", 60000)
    r = call(bootstrap, 22, 1, body)
    _throttle, err, pid, epoch = r.take(">ihqh")
    return err, pid, epoch


def init_producer_id_v3(bootstrap, pid, epoch):
    """Flexible (v3): compact null transactional id, current producer id/epoch (KIP-360)."""
    from kafka_wire import RawKafka
    c = RawKafka(bootstrap)
    try:
        c.send_request(22, 3, 9, b"\x00" + struct.pack(">iqh", 60000, pid, epoch) + b"\x00",
                       flexible_header=True)
        r = Reader(c.read_frame())
        assert r.take(">i") == 9
        assert r.take(">b") == 0  # response header tagged fields
        _throttle, err, new_pid, new_epoch = r.take(">ihqh")
        return err, new_pid, new_epoch
    finally:
        c.close()


def test_raw_duplicate_gap_and_stale_epoch(shale):
    create_topic(shale.bootstrap, "rawidem", 1)
    err, pid, epoch = init_producer_id_v1(shale.bootstrap)
    assert (err, epoch) == (NONE, 0) and pid >= 0
    err2, pid2, _ = init_producer_id_v1(shale.bootstrap)
    assert err2 == NONE and pid2 != pid

    first = idem_batch(pid, 0, 0, [b"a", b"b", b"c"])
    assert produce_v3(shale.bootstrap, "rawidem", first) == (NONE, 0)
    assert produce_v3(shale.bootstrap, "rawidem", idem_batch(pid, 0, 3, [b"d"])) == (NONE, 3)
    # The replay of an acknowledged batch: NONE with the original base offset, nothing stored.
    assert produce_v3(shale.bootstrap, "rawidem", first) == (NONE, 0)
    # A gap in the sequence.
    assert produce_v3(shale.bootstrap, "rawidem", idem_batch(pid, 0, 9, [b"x"]))[0] == OUT_OF_ORDER
    # KIP-360 epoch bump, then the old epoch is fenced.
    err, bumped_pid, bumped_epoch = init_producer_id_v3(shale.bootstrap, pid, 0)
    assert (err, bumped_pid, bumped_epoch) == (NONE, pid, 1)
    assert produce_v3(shale.bootstrap, "rawidem", idem_batch(pid, 1, 5, [b"x"]))[0] == OUT_OF_ORDER
    assert produce_v3(shale.bootstrap, "rawidem", idem_batch(pid, 1, 0, [b"e"])) == (NONE, 4)
    assert produce_v3(shale.bootstrap, "rawidem",
                      idem_batch(pid, 0, 4, [b"y"]))[0] == INVALID_PRODUCER_EPOCH
    # Transactions are not supported: a clear, fatal error for the client.
    assert init_producer_id_v1(shale.bootstrap, "txn-1")[0] == TXN_ID_AUTH_FAILED
    # Still serving: exactly the five accepted records are stored.
    c = Consumer({"bootstrap.servers": shale.bootstrap, "group.id": "rawidem"})
    lo, hi = c.get_watermark_offsets(TopicPartition("rawidem", 0), timeout=10)
    c.close()
    assert (lo, hi) == (0, 5)
    assert "refused batch" in shale.logs()
    # The outcomes are visible on /metrics: one duplicate, two gaps, one stale epoch.
    _, text = shale.http_get("/metrics")
    labels = '{topic="rawidem",partition="0"}'
    got = {name: float(text.split(f"\n{name}{labels} ", 1)[1].split("\n", 1)[0])
           for name in ("kafka_partition_producer_duplicates_total",
                        "kafka_partition_producer_out_of_order_total",
                        "kafka_partition_producer_fenced_epochs_total")}
    assert got == {"kafka_partition_producer_duplicates_total": 1,
                   "kafka_partition_producer_out_of_order_total": 2,
                   "kafka_partition_producer_fenced_epochs_total": 1}


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_producer_state_survives_restart(tmp_path, monkeypatch, how):
    port, http_port = conftest.free_port(), conftest.free_port()
    s = start_on(monkeypatch, tmp_path, port, http_port)
    create_topic(s.bootstrap, "idemrestart", 1)
    _, pid, _ = init_producer_id_v1(s.bootstrap)
    batches = [idem_batch(pid, 0, i, [str(i).encode()]) for i in range(3)]
    for i, b in enumerate(batches):
        assert produce_v3(s.bootstrap, "idemrestart", b) == (NONE, i)
    if how == "sigkill":  # no clean close: the state comes from the log tail
        os.kill(s.proc.pid, signal.SIGKILL)  # by PID: the broker this test started
        s.proc.wait()
        s.log.close()
    else:
        rc, _ = s.stop()
        assert rc == 0
    s = start_on(monkeypatch, tmp_path, port, http_port)
    try:
        assert produce_v3(s.bootstrap, "idemrestart", batches[2]) == (NONE, 2)
        # The gap is detected (the state survived: an unknown producer would be accepted), but
        # in the first 10 s after the partition reopened with history it is answered retriable
        # (NOT_LEADER_OR_FOLLOWER, 6): batches straddling an open must not kill the producer.
        assert produce_v3(s.bootstrap, "idemrestart",
                          idem_batch(pid, 0, 5, [b"x"]))[0] == NOT_LEADER
        assert produce_v3(s.bootstrap, "idemrestart", idem_batch(pid, 0, 3, [b"3"])) == (NONE, 3)
        # A fresh id after the restart is not one handed out before it.
        assert init_producer_id_v1(s.bootstrap)[1] > pid
    finally:
        rc, _ = s.stop()
    assert rc == 0

