"""Consumer groups end to end against a real `shale serve`: librdkafka (confluent-kafka-python)
and kafka-python group consumers, rebalances on crash and clean leave, cooperative-sticky,
static membership, offsets across a broker restart.

Consumers that must be SIGKILLed run as subprocesses that print their assignment as JSON lines.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import Shale

ck = pytest.importorskip("confluent_kafka")
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

SESSION_MS = 6000

CONSUMER_SCRIPT = r"""
import json, sys, time
from confluent_kafka import Consumer
bootstrap, group, topic, strategy = sys.argv[1:5]
conf = {"bootstrap.servers": bootstrap, "group.id": group, "session.timeout.ms": %d,
        "heartbeat.interval.ms": 500, "auto.offset.reset": "earliest",
        "partition.assignment.strategy": strategy}
conf["enable.auto.commit"] = False
c = Consumer(conf)
owned = set()
def report():
    print(json.dumps({"owned": sorted(owned)}), flush=True)
def on_assign(cons, parts):
    owned.update(p.partition for p in parts)
    if strategy == "cooperative-sticky":
        cons.incremental_assign(parts)
    report()
def on_revoke(cons, parts):
    owned.difference_update(p.partition for p in parts)
    if strategy == "cooperative-sticky":
        cons.incremental_unassign(parts)
    report()
c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
while True:
    m = c.poll(0.2)
    if m is not None and m.error() is None:
        # Reported before the commit: a SIGKILL in between redelivers it (at-least-once).
        # The pause keeps the consumers busy for ~2 s, so the kill lands mid-stream.
        print(json.dumps({"got": m.value().decode()}), flush=True)
        time.sleep(0.02)
        c.commit(message=m, asynchronous=False)
""" % SESSION_MS


def create_topic(bootstrap, name, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    for f in fs.values():
        f.result(15)


def wait_coordinator_loaded(bootstrap, topic, timeout=30):
    """The coordinator replays __consumer_offsets on first use and answers
    COORDINATOR_LOAD_IN_PROGRESS meanwhile, which librdkafka's commit() does not retry."""
    c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": "grp-warmup"})
    deadline = time.time() + timeout
    try:
        while True:
            try:
                c.commit(offsets=[ck.TopicPartition(topic, 0, 0)], asynchronous=False)
                return
            except ck.KafkaException as e:
                loading = e.args[0].code() in (ck.KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                                               ck.KafkaError.COORDINATOR_NOT_AVAILABLE)
                if not loading or time.time() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        c.close()


def produce(bootstrap, topic, n, partitions, extra=None):
    conf = {"bootstrap.servers": bootstrap, "linger.ms": 5}
    conf.update(extra or {})
    p = ck.Producer(conf)
    for i in range(n):
        p.produce(topic, value=f"m{i}".encode(), partition=i % partitions)
    assert p.flush(30) == 0


class ConsumerProc:
    """A group consumer in a subprocess; `owned` tracks its latest reported assignment."""

    def __init__(self, bootstrap, group, topic, strategy="range"):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CONSUMER_SCRIPT, bootstrap, group, topic, strategy],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.owned = []
        self.got = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            ev = json.loads(line)
            with self.lock:
                if "owned" in ev:
                    self.owned = ev["owned"]
                else:
                    self.got.append(ev["got"])

    def get(self):
        with self.lock:
            return list(self.owned)

    def values(self):
        with self.lock:
            return list(self.got)

    def kill(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def terminate(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        self.proc.wait()


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return time.time()
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def covers(procs, partitions):
    got = sorted(p for c in procs for p in c.get())
    return got == list(range(partitions))


class CommitWatcher:
    """Samples a group's committed offsets every 50 ms; records any that move backwards."""

    def __init__(self, bootstrap, group, topic, partitions):
        self.c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": group})
        self.tps = [ck.TopicPartition(topic, p) for p in range(partitions)]
        self.last = [-1] * partitions
        self.backwards = []
        self.samples = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                got = self.c.committed(self.tps, 5)
            except ck.KafkaException:
                continue
            for tp in got:
                if tp.offset < 0:
                    continue
                if tp.offset < self.last[tp.partition]:
                    self.backwards.append((tp.partition, self.last[tp.partition], tp.offset))
                self.last[tp.partition] = tp.offset
            self.samples += 1
            time.sleep(0.05)

    def close(self):
        self.stop.set()
        self.thread.join()
        self.c.close()


def test_three_consumers_one_killed_others_take_over(shale):
    create_topic(shale.bootstrap, "g6", 6)
    produce(shale.bootstrap, "g6", 300, 6)
    procs = [ConsumerProc(shale.bootstrap, "grp-kill", "g6") for _ in range(3)]
    watcher = CommitWatcher(shale.bootstrap, "grp-kill", "g6", 6)
    try:
        wait_for(lambda: covers(procs, 6) and all(len(c.get()) == 2 for c in procs), 60,
                 "6 partitions spread over 3 consumers")
        t0 = time.time()
        killed_owned = set(procs[0].get())
        procs[0].kill()
        t1 = wait_for(lambda: covers(procs[1:], 6), SESSION_MS / 1000 + 15,
                      "the survivors to take over")
        # The dead member is only noticed when its session expires, then one rebalance.
        print(f"takeover after SIGKILL: {t1 - t0:.2f}s (session timeout {SESSION_MS} ms)")
        assert t1 - t0 < SESSION_MS / 1000 + 10
        p = ck.Producer({"bootstrap.servers": shale.bootstrap, "linger.ms": 5})
        for i in range(300):
            p.produce("g6", value=f"n{i}".encode(), partition=i % 6)
        assert p.flush(30) == 0
        wait_for(lambda: watcher.last == [100] * 6, 30, "every message committed")
    finally:
        for c in procs:
            c.kill()
        watcher.close()
    # At-least-once: every message was handed to some consumer (the killed one's uncommitted
    # ones again to a survivor); committed offsets never moved backwards.
    produced = {f"m{i}" for i in range(300)} | {f"n{i}" for i in range(300)}
    seen = [v for c in procs for v in c.values()]
    # The killed consumer's unfinished work (its partitions' first 300 messages) went to the
    # survivors.
    taken_over = {v for c in procs[1:] for v in c.values()
                  if v.startswith("m") and int(v[1:]) % 6 in killed_owned}
    assert taken_over - set(procs[0].values()), "the kill should land while it still had work"
    assert set(seen) == produced, sorted(produced - set(seen))[:10]
    print(f"{len(seen) - len(produced)} redelivered after the SIGKILL")
    assert watcher.backwards == [], watcher.backwards
    assert watcher.samples > 10


def in_process_consumer(bootstrap, group, **extra):
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
            "session.timeout.ms": 30000, "heartbeat.interval.ms": 500,
            "enable.auto.commit": False}
    conf.update(extra)
    return ck.Consumer(conf)


def poll_until(consumers, pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for c in consumers:
            c.poll(0.05)
        if pred():
            return time.time()
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_leave_group_on_close_hands_partitions_over_fast(shale):
    create_topic(shale.bootstrap, "leave2", 4)
    a = in_process_consumer(shale.bootstrap, "grp-close")
    b = in_process_consumer(shale.bootstrap, "grp-close")
    a.subscribe(["leave2"])
    b.subscribe(["leave2"])
    poll_until([a, b], lambda: len(a.assignment()) == 2 and len(b.assignment()) == 2, 60,
               "both consumers assigned")
    t0 = time.time()
    a.close()  # sends LeaveGroup
    t1 = poll_until([b], lambda: len(b.assignment()) == 4, 25, "b to own all partitions")
    b.close()
    # Far below the 30 s session timeout: the leave triggered the rebalance.
    print(f"takeover after close(): {t1 - t0:.2f}s (session timeout 30000 ms)")
    assert t1 - t0 < 10


def test_cooperative_sticky(shale):
    create_topic(shale.bootstrap, "coop", 6)
    produce(shale.bootstrap, "coop", 60, 6)
    events = []

    def make(name):
        c = in_process_consumer(shale.bootstrap, "grp-coop",
                                **{"partition.assignment.strategy": "cooperative-sticky"})

        def on_assign(cons, parts):
            events.append((name, "assign", sorted(p.partition for p in parts)))
            cons.incremental_assign(parts)

        def on_revoke(cons, parts):
            events.append((name, "revoke", sorted(p.partition for p in parts)))
            cons.incremental_unassign(parts)

        c.subscribe(["coop"], on_assign=on_assign, on_revoke=on_revoke)
        return c

    a = make("a")
    poll_until([a], lambda: len(a.assignment()) == 6, 60, "a owns all 6")
    b = make("b")
    poll_until([a, b], lambda: len(a.assignment()) == 3 and len(b.assignment()) == 3, 60,
               "3 + 3 after the cooperative rebalance")
    # Cooperative: a only ever gave up the three partitions b got (never all six).
    a_revokes = [e[2] for e in events if e[0] == "a" and e[1] == "revoke"]
    assert all(len(r) < 6 for r in a_revokes), events
    assert sorted(p.partition for p in a.assignment() + b.assignment()) == list(range(6))
    a.close()
    b.close()


def test_static_membership_rejoin_keeps_assignment(shale):
    create_topic(shale.bootstrap, "static", 4)
    conf = {"session.timeout.ms": 30000}
    a = in_process_consumer(shale.bootstrap, "grp-static", **conf, **{"group.instance.id": "a"})
    b = in_process_consumer(shale.bootstrap, "grp-static", **conf, **{"group.instance.id": "b"})
    a.subscribe(["static"])
    b.subscribe(["static"])
    poll_until([a, b], lambda: len(a.assignment()) == 2 and len(b.assignment()) == 2, 60,
               "both static members assigned")
    b_parts = sorted(p.partition for p in b.assignment())
    b.close()  # a static member does not leave the group on close
    b2 = in_process_consumer(shale.bootstrap, "grp-static", **conf, **{"group.instance.id": "b"})
    b2.subscribe(["static"])
    poll_until([a, b2], lambda: len(b2.assignment()) == 2, 30, "b's restart gets its partitions")
    assert sorted(p.partition for p in b2.assignment()) == b_parts
    assert len(a.assignment()) == 2  # a was not disturbed
    admin = AdminClient({"bootstrap.servers": shale.bootstrap})
    desc = admin.describe_consumer_groups(["grp-static"])["grp-static"].result(10) \
        if hasattr(admin, "describe_consumer_groups") else None
    if desc is not None:
        assert len(desc.members) == 2
    a.close()
    b2.close()


def test_offsets_commit_fetch_and_survive_restart(tmp_path):
    s = Shale(tmp_path)
    try:
        create_topic(s.bootstrap, "offs", 2)
        produce(s.bootstrap, "offs", 20, 2)
        c = in_process_consumer(s.bootstrap, "grp-offs")
        c.subscribe(["offs"])
        got = 0
        deadline = time.time() + 60
        while got < 20 and time.time() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                got += 1
        assert got == 20
        c.commit(asynchronous=False)
        committed = c.committed([ck.TopicPartition("offs", 0), ck.TopicPartition("offs", 1)], 10)
        assert [tp.offset for tp in committed] == [10, 10]
        c.close()
    finally:
        rc, _ = s.stop()
        assert rc == 0, s.logs()
    s2 = Shale(tmp_path)
    try:
        c = in_process_consumer(s2.bootstrap, "grp-offs")
        committed = c.committed([ck.TopicPartition("offs", 0), ck.TopicPartition("offs", 1)], 10)
        assert [tp.offset for tp in committed] == [10, 10]
        c.close()
    finally:
        rc, _ = s2.stop()
        assert rc == 0, s2.logs()


def test_kafka_python_group_consumer(shale):
    kafka = pytest.importorskip("kafka")
    create_topic(shale.bootstrap, "kp", 3)
    produce(shale.bootstrap, "kp", 30, 3)
    c = kafka.KafkaConsumer("kp", bootstrap_servers=shale.bootstrap, group_id="grp-kp",
                            auto_offset_reset="earliest", enable_auto_commit=False,
                            consumer_timeout_ms=20000)
    values = set()
    for msg in c:
        values.add(msg.value)
        if len(values) == 30:
            break
    assert len(values) == 30
    c.commit()
    tp = kafka.TopicPartition("kp", 0)
    assert c.committed(tp) == 10
    c.close()


def test_standalone_commit_and_admin_views(shale):
    create_topic(shale.bootstrap, "solo", 1)
    produce(shale.bootstrap, "solo", 5, 1)
    wait_coordinator_loaded(shale.bootstrap, "solo")
    c = in_process_consumer(shale.bootstrap, "grp-solo")
    c.assign([ck.TopicPartition("solo", 0, 0)])
    c.commit(offsets=[ck.TopicPartition("solo", 0, 3)], asynchronous=False)
    assert c.committed([ck.TopicPartition("solo", 0)], 10)[0].offset == 3
    c.close()
    admin = AdminClient({"bootstrap.servers": shale.bootstrap})
    groups = admin.list_groups(timeout=10)
    assert "grp-solo" in [g.id for g in groups]
