"""Continuous load for the scenario run, and its checker (tests/cluster/README.md).

    w = Workload(cluster.bootstrap, "scen", partitions=6)
    w.start()
    w.begin("sigkill")            # client-visible errors and acks are booked to this phase
    ...                           # the scenario
    w.stop()
    problems = check_records(w.acked, read, w.probes)   # read = cluster_util.consume_all(...)

Producers: idempotent (enable.idempotence), acks=all; each owns a fixed set of partitions and
writes "<partition>:<seq>" with seq 0, 1, 2, ... per partition, so the checker knows exactly
what each partition must hold and in which order. A delivery callback books every ack (seq and
time) and every error (by Kafka error name) under the current phase. A fatal producer error
(the idempotent producer gave up) is booked and a new producer continues the sequence.
Consumers: one group, subscribed, auto-commit every 200 ms; their errors are booked too, and
every acknowledged commit (on_commit) in the order the acks arrive, so the checker can tell a
committed offset that went down because a client's commit landed late (librdkafka retries an
OffsetCommit answered NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS or cut off, and a newer
auto-commit can overtake the retry: a Kafka broker stores it too) from one the broker lost.
Threads only; every client is closed by stop().
"""
import collections
import logging
import os
import threading
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition


class Workload:
    def __init__(self, bootstrap, topic, partitions, producers=2, rate=120, consumers=2,
                 group="scenario-group"):
        self.bootstrap = bootstrap  # callable: the current bootstrap list
        self.topic, self.partitions, self.group = topic, partitions, group
        self.n_producers, self.rate, self.n_consumers = producers, rate, consumers
        self.acked = {p: [] for p in range(partitions)}       # seqs, in ack order
        self.ack_times = {p: [] for p in range(partitions)}   # time.time() of each ack
        self.sent = collections.Counter()                     # phase -> records produced
        self.consumed = collections.Counter()                 # phase -> records consumed
        self.errors = collections.defaultdict(collections.Counter)  # phase -> {error: count}
        # records written outside the workload: value -> (partition, acked); an acked one must be
        # read exactly once, an unanswered one at most once
        self.probes = {}
        self.phase = "warm-up"
        # committed offsets: the highest seen per partition, and every decrease seen (phase,
        # partition, before, after); -1 (none) after an offset counts as a decrease. A decrease is
        # "explained" if a commit of the lower offset was acknowledged after one of the higher
        # (the client wrote it last): see unexplained_drops().
        self.committed_high = {}
        self.committed_drops = []
        # partition -> {offset: [ack numbers]}, ack numbers counting up over every consumer
        self.commit_acks = collections.defaultdict(lambda: collections.defaultdict(list))
        self._acks = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []

    # ---- phases
    def begin(self, phase):
        with self._lock:
            self.phase = phase

    def _book(self, what):
        with self._lock:
            self.errors[self.phase][what] += 1

    def _error_cb(self, who):
        def cb(err):
            self._book(f"{who}:{err.name()}" + (":fatal" if err.fatal() else ""))
        return cb

    # ---- threads
    def start(self):
        for i in range(self.n_producers):
            self._threads.append(threading.Thread(target=self._produce, args=(i,), daemon=True))
        for i in range(self.n_consumers):
            self._threads.append(threading.Thread(target=self._consume, daemon=True))
        for t in self._threads:
            t.start()

    def stop(self, flush_timeout=120):
        self._flush_timeout = flush_timeout
        self._stop.set()
        for t in self._threads:
            t.join(flush_timeout + 30)
            assert not t.is_alive(), "a workload thread did not stop"

    def _new_producer(self):
        return Producer({"bootstrap.servers": self.bootstrap(), "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5,
                         # no record may time out in a scenario: any failure is a real one
                         "message.timeout.ms": 120000,
                         # A paused or cut-off broker never answers: librdkafka gives up on
                         # a request after socket.timeout.ms (60 s by default), and an
                         # idempotent producer cannot deliver a partition's later records
                         # before that. 10 s bounds the client-side stall.
                         "socket.timeout.ms": 10000,
                         "error_cb": self._error_cb("producer")})

    def _replace(self, prod, e):
        """Books a fatal producer error and continues with a new producer (a new producer id;
        the sequences of the dead one's unacknowledged records are simply skipped)."""
        self._book(f"producer:fatal:{e.args[0].name() if e.args else type(e).__name__}")
        try:
            prod.flush(5)
        except KafkaException:
            pass
        return self._new_producer()

    def _produce(self, index):
        mine = [p for p in range(self.partitions) if p % self.n_producers == index]
        seq = {p: 0 for p in mine}
        period = len(mine) / self.rate
        prod = self._new_producer()

        def delivered(err, msg):
            p = msg.partition()
            if err:
                self._book(f"delivery:{err.name()}")
                return
            with self._lock:
                self.acked[p].append(int(msg.value().split(b":")[1]))
                self.ack_times[p].append(time.time())

        while not self._stop.is_set():
            t0 = time.time()
            for p in mine:
                try:
                    prod.produce(self.topic, value=f"{p}:{seq[p]}".encode(), partition=p,
                                 on_delivery=delivered)
                    seq[p] += 1
                    with self._lock:
                        self.sent[self.phase] += 1
                except BufferError:
                    self._book("producer:queue-full")
                except KafkaException as e:  # the idempotent producer failed fatally
                    prod = self._replace(prod, e)
            try:
                prod.poll(max(0.0, period - (time.time() - t0)))
            except KafkaException as e:  # a fatal error surfaces from poll() too
                prod = self._replace(prod, e)
        left = prod.flush(self._flush_timeout)
        if left:
            self._book(f"producer:unflushed:{left}")

    def _consume(self):
        conf = {"bootstrap.servers": self.bootstrap(), "group.id": self.group,
                "enable.auto.commit": True, "auto.commit.interval.ms": 200,
                "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 1000, "socket.timeout.ms": 10000,
                "error_cb": self._error_cb("consumer"), "on_commit": self._on_commit}
        log_path = os.environ.get("SHALE_SCENARIO_COMMIT_LOG")
        if log_path:  # librdkafka's own account of every commit, its retries and answers
            conf.update(debug="cgrp,topic,protocol", logger=_commit_logger(log_path))
        c = Consumer(conf)
        c.subscribe([self.topic])
        try:
            while not self._stop.is_set():
                m = c.poll(0.2)
                if m is None:
                    continue
                if m.error():
                    if m.error().code() != KafkaError._PARTITION_EOF:
                        self._book(f"consumer:{m.error().name()}")
                    continue
                with self._lock:
                    self.consumed[self.phase] += 1
        finally:
            c.close()

    def _on_commit(self, err, partitions):
        """Books every partition's acknowledged commit (err None) in ack order."""
        with self._lock:
            for tp in partitions or []:
                # (a partition with nothing to commit is listed too, at offset -1001)
                if err is None and tp.error is None and tp.topic == self.topic and tp.offset >= 0:
                    self._acks += 1
                    self.commit_acks[tp.partition][tp.offset].append(self._acks)
        if os.environ.get("SHALE_SCENARIO_COMMIT_LOG") and err is None:
            logging.getLogger("scenario.commits").info(
                "ACKED [%s] %s", threading.current_thread().name,
                [(tp.partition, tp.offset) for tp in partitions or [] if tp.offset >= 0])

    # ---- observations
    def committed(self, timeout=30):
        """Sum over the partitions of the group's committed offsets (OffsetFetch; retried while
        the coordinator moves). Books any partition whose committed offset went below the
        highest one read before in committed_drops: a coordinator never serves less than what
        it acknowledged."""
        c = Consumer({"bootstrap.servers": self.bootstrap(), "group.id": self.group,
                      "enable.auto.commit": False})
        deadline = time.time() + timeout
        try:
            while True:
                try:
                    tps = c.committed([TopicPartition(self.topic, p)
                                       for p in range(self.partitions)], timeout=5)
                    if all(tp.error is None for tp in tps):
                        self._note_committed(tps)
                        return sum(max(tp.offset, 0) for tp in tps)
                except Exception:  # noqa: BLE001 - coordinator moving
                    pass
                if time.time() > deadline:
                    raise AssertionError("committed offsets unreadable")
                time.sleep(0.2)
        finally:
            c.close()

    def _note_committed(self, tps):
        with self._lock:
            for tp in tps:
                high = self.committed_high.get(tp.partition)
                if high is not None and tp.offset < high:
                    self.committed_drops.append((self.phase, tp.partition, high, tp.offset))
                high = tp.offset if high is None else max(high, tp.offset)
                self.committed_high[tp.partition] = high

    def unexplained_drops(self):
        """The committed_drops no client write explains: a drop from `high` to `low` is explained
        if a commit of `low` to that partition was acknowledged after a commit of `high` (the
        group's last write was the lower offset; Kafka serves that too), or if `high` was never
        acknowledged (its answer lost, e.g. in a kill) and `low` was: the checker guards
        acknowledged commits. Call after stop(): an ack reaches on_commit in a later poll()
        than the broker applied it."""
        with self._lock:
            out = []
            for drop in self.committed_drops:
                _, p, high, low = drop
                acks = self.commit_acks[p]
                if not (acks[low] and (not acks[high] or acks[low][-1] > acks[high][0])):
                    out.append(drop)
            return out

    def late_commits(self):
        """Acknowledged commits that set a partition below an offset acknowledged before it
        (a client's own late write): [(partition, higher, lower)], in ack order."""
        with self._lock:
            out = []
            for p, by_offset in self.commit_acks.items():
                high = None
                for _, off in sorted((n, o) for o, ns in by_offset.items() for n in ns):
                    if high is not None and off < high:
                        out.append((p, high, off))
                    high = off if high is None else max(high, off)
            return out

    def acks_since(self, t):
        with self._lock:
            return {p: [x for x in ts if x >= t] for p, ts in self.ack_times.items()}

    def first_ack_after(self, t, parts, timeout=60):
        """Seconds from t until every partition in parts had an ack after t."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            acks = self.acks_since(t)
            if all(acks[p] for p in parts):
                return max(acks[p][0] for p in parts) - t if parts else 0.0
            time.sleep(0.05)
        raise AssertionError(f"partitions {[p for p in parts if not acks[p]]} got no ack within "
                             f"{timeout}s of the fault")

    def resumed_after(self, t, parts, moved, timeout=60):
        """Seconds from a fault at t until acks resumed on every partition in parts: per
        partition, the end of the longest gap between acks from t - 1 s on (acks of requests
        answered just before the fault do not count as recovery). moved: a time after the
        partitions had new owners; every partition must have an ack after it."""
        self.first_ack_after(moved, parts, timeout)
        worst = 0.0
        with self._lock:
            for p in parts:
                ts = [x for x in self.ack_times[p] if x >= t - 1]
                gaps = [(b - a, b) for a, b in zip(ts, ts[1:]) if b >= t]
                if gaps:
                    worst = max(worst, max(gaps)[1] - t)
        return worst

    def longest_pause(self, t0, t1):
        """The longest time any partition went without an ack within [t0, t1] (seconds)."""
        worst = 0.0
        with self._lock:
            for ts in self.ack_times.values():
                inside = [t0] + [x for x in ts if t0 <= x <= t1] + [t1]
                worst = max(worst, max(b - a for a, b in zip(inside, inside[1:])))
        return worst


def _commit_logger(path):
    """A logger keeping only librdkafka's lines about OffsetCommit (and coordinator changes)."""
    log = logging.getLogger("scenario.commits")
    if not log.handlers:
        h = logging.FileHandler(path)
        h.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        h.addFilter(lambda r: any(k in r.getMessage() for k in
                                  ("OffsetCommit", "COMMIT", "Retrying", "coordinator", "ACKED",
                                   "OffsetFetch", "ASSIGN", "REVOKE", "generation")))
        log.addHandler(h)
        log.setLevel(logging.DEBUG)
        log.propagate = False
    return log


def check_records(acked, read, probes=None):
    """The checker. acked: {partition: [seq]}; read: {partition: [(offset, key, value)]} from a
    full read from offset 0. Returns a list of problems (empty = every acknowledged record read
    back exactly once, no duplicate at all, every partition in producer-sequence order, every
    acked probe present once and no other probe more than once)."""
    problems = []
    probes = probes or {}
    found_probes = collections.Counter()
    for p, acks in acked.items():
        seqs = []
        for _, _, v in read.get(p, []):
            head, _, tail = v.partition(b":")
            if head == str(p).encode() and tail.isdigit():
                seqs.append(int(tail))
            elif v.decode(errors="replace") in probes and probes[v.decode()][0] == p:
                found_probes[v.decode()] += 1
            else:
                problems.append(f"partition {p}: unexpected value {v[:40]!r}")
        counts = collections.Counter(seqs)
        dups = sorted(s for s, n in counts.items() if n > 1)
        if dups:
            problems.append(f"partition {p}: {len(dups)} duplicated seqs, first {dups[:5]}")
        lost = sorted(set(acks) - set(counts))
        if lost:
            problems.append(f"partition {p}: {len(lost)} acked records lost, first {lost[:5]}")
        bad = [(a, b) for a, b in zip(seqs, seqs[1:]) if b <= a]
        if bad:
            problems.append(f"partition {p}: out of order at {bad[:3]}")
    for value, (part, was_acked) in probes.items():
        if found_probes[value] > 1 or (was_acked and found_probes[value] != 1):
            problems.append(f"probe {value} (partition {part}, acked {was_acked}) read "
                            f"{found_probes[value]} times")
    return problems
