"""Load balancing on a real cluster (etcd + 3 brokers, tests/integration/cluster_util.py).

All six partitions of a topic are put on broker 1 (AlterPartitionReassignments), then a
librdkafka producer drives steady traffic into them. The controller's balancer (load mode,
short report interval via flags) must move load off broker 1 within a bounded time, reach a
spread and then stay put (no flapping); every acknowledged record is read back exactly once, in
order. Decisions show in the controller's log and on /metrics.
"""
import re
import subprocess
import threading
import time

from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic

from cluster_util import Cluster, alter_reassignments, check, consume_all
from conftest import SHALE_BIN, free_port

PARTITIONS = 6
BALANCER_FLAGS = (
    "--balancer-mode", "load", "--load-report-ms", "500", "--load-window-ms", "2000",
    "--balancer-sustain", "3", "--balancer-threshold-pct", "125", "--balancer-min-gain-pct", "10",
    "--balancer-cooldown-ms", "60000", "--balancer-max-moves", "10",
    "--balancer-move-window-ms", "60000",
    # No idle floor: count balancing must not undo the reassignment before traffic starts.
    "--balancer-idle-bytes-per-sec", "0",
)


def metric(broker, name):
    _, text = broker.http_get("/metrics")
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def settled_moves(broker, at_least, timeout=10):
    """shale_balancer_moves_total once it reaches at_least, or its value after timeout."""
    deadline = time.time() + timeout
    while True:
        moves = metric(broker, "shale_balancer_moves_total")
        if moves >= at_least or time.time() > deadline:
            return moves
        time.sleep(0.1)


class SteadyProducer(threading.Thread):
    """~200 records/s of 4 KiB round-robin over the partitions, idempotent, acks=all; keeps the
    acknowledged (partition, key, value, err) tuples in acknowledgement order."""

    def __init__(self, bootstrap, topic):
        super().__init__(daemon=True)
        self.topic, self.acked, self.failed = topic, [], []
        self.stop_flag = threading.Event()
        self.p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                           "enable.idempotence": True, "message.timeout.ms": 30000})

    def _cb(self, err, msg):
        (self.failed if err else self.acked).append((msg.partition(), msg.key(), msg.value(), err))

    def run(self):
        n, t0 = 0, time.time()
        pad = b"x" * 4000
        while not self.stop_flag.is_set():
            if n < (time.time() - t0) * 200:
                try:
                    self.p.produce(self.topic, value=f"v-{n}-".encode() + pad, key=f"k{n}".encode(),
                                   partition=n % PARTITIONS, on_delivery=self._cb)
                    n += 1
                except BufferError:
                    pass
            self.p.poll(0.002)
        self.p.flush(40)


def test_balancer_moves_load_off_a_hot_broker_and_then_stays_put(tmp_path):
    cluster = Cluster(tmp_path, balance=True)
    producer = None
    try:
        for i in (1, 2, 3):
            cluster.start(i, *BALANCER_FLAGS)
        admin = cluster.admin()
        admin.create_topics([NewTopic("hot", PARTITIONS, 1)])["hot"].result(15)
        cluster.leaders("hot")
        res = alter_reassignments(cluster.one(), {("hot", p): [1] for p in range(PARTITIONS)})
        assert all(err == 0 for err, _ in res.values()), res
        cluster.leaders("hot", want=lambda l: set(l.values()) == {1}, timeout=15)
        assert metric(cluster.brokers[1], "shale_balancer_moves_total") == 0

        producer = SteadyProducer(cluster.bootstrap(), "hot")
        t0 = time.time()
        producer.start()
        # Load moves off broker 1 to both others, as far as an even 2/2/2 spread.
        spread = cluster.leaders("hot", timeout=40, want=lambda l: sorted(
            list(l.values()).count(b) for b in (1, 2, 3)) == [2, 2, 2])
        balanced_after = time.time() - t0
        # The controller counts a move at its next pass, once it reads the record back; clients
        # may see the new leader before that.
        moves = settled_moves(cluster.brokers[1], at_least=4)
        # 6/0/0 → 2/2/2 takes 4 moves (5/1/0, 4/1/1, 3/2/1, 2/2/2); measurement noise on a busy
        # machine may cost one detour, not more.
        assert 4 <= moves <= 5, f"6/0/0 → 2/2/2 in {moves} moves"
        # No flapping: traffic goes on, nothing moves for a while.
        time.sleep(8)
        assert cluster.leaders("hot") == spread
        assert metric(cluster.brokers[1], "shale_balancer_moves_total") == moves
        assert metric(cluster.brokers[1], 'shale_balancer_enabled{mode="load"}') == 1
        for b in (1, 2, 3):  # about a third each, as the controller measures it
            assert 0.2 < metric(cluster.brokers[1], f'shale_balancer_broker_load{{broker="{b}"}}') < 0.47
        assert metric(cluster.brokers[1], 'shale_balancer_skipped_total{reason="hysteresis"}') > 0
        log = cluster.brokers[1].logs()
        lines = re.findall(r"balancer: move hot-\d from 1 to [23]: load .*", log)
        assert len(lines) >= 2, log[-3000:]

        producer.stop_flag.set()
        producer.join(60)
        assert not producer.failed, f"{len(producer.failed)} failed, first: {producer.failed[0]}"
        acked = producer.acked
        assert len(acked) > 1000, len(acked)
        check(acked, consume_all(cluster.bootstrap(), "hot", range(PARTITIONS), len(acked)))
        print(f"balanced after {balanced_after:.1f} s, {len(acked)} records acked")
    finally:
        if producer is not None and producer.is_alive():
            producer.stop_flag.set()
            producer.join(60)
        rcs = cluster.stop()
    assert all(rc == 0 for rc in rcs.values()), rcs


def test_unknown_balancer_mode_is_refused_at_start(tmp_path):
    p = subprocess.run([SHALE_BIN, "serve", "--data-dir", str(tmp_path), "--listen",
                        f"127.0.0.1:{free_port()}", "--http", f"127.0.0.1:{free_port()}",
                        "--balancer-mode", "bytes"], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "--balancer-mode must be off, count or load (got 'bytes')" in p.stdout + p.stderr
