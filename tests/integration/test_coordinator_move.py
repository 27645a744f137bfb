"""Committed offsets across coordinator moves (issue #7; tests/cluster/README.md, "committed
offsets went backwards").

One member of a group commits 1, 2, 3, ... to one partition, each commit sent only after the
previous one was answered, always to the coordinator FindCoordinator names, while the group's
__consumer_offsets partition moves back and forth between two brokers. With one sequential
writer no client retry can reorder commits (librdkafka's can: see the scenario run), so
OffsetFetch must return the last acknowledged offset or the one in flight, never less: a lower
value is an acknowledged commit the move lost (not uploaded by the old owner before the new one
replayed, or acknowledged by an owner that had already lost the partition). The member joins and
syncs right before the first move: every later coordinator must know its generation (else
ILLEGAL_GENERATION). That window (SyncGroup answered before the group record was written) is
narrower than a move here, since a release waits for the writes in flight; the unit test
CoordDurability.SyncGroupIsAnsweredOnlyOnceTheGenerationIsDurable covers it. About 10 s.
"""
import threading
import time

from confluent_kafka import Consumer, TopicPartition

from cluster_util import find_coordinator
from test_cluster import cluster, create, move_offsets_partition, stable_member  # noqa: F401
from test_groups_wire import GroupWire

RETRIABLE = (14, 15, 16)  # COORDINATOR_LOAD_IN_PROGRESS, _NOT_AVAILABLE, NOT_COORDINATOR


class SequentialCommitter:
    """Commits 1, 2, 3, ... as (generation, member), one at a time, following the coordinator."""

    def __init__(self, cluster, group, topic, generation, member):
        self.cluster, self.group, self.topic = cluster, group, topic
        self.generation, self.member = generation, member
        self.acked = 0          # the last acknowledged offset
        self.errors = []        # non-retriable answers, exceptions
        self._stop = threading.Event()
        self._wires = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _wire(self, node):
        if node not in self._wires:
            self._wires[node] = GroupWire(self.cluster.brokers[node].bootstrap)
        return self._wires[node]

    def _run(self):
        try:
            self._commit_until_stopped()
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.errors.append(repr(e))

    def _commit_until_stopped(self):
        n = 1
        while not self._stop.is_set():
            node = coordinator(self.cluster, self.group)
            res = self._wire(node).commit(self.group, self.generation, self.member,
                                          [(self.topic, 0, n, "")])
            e = res[(self.topic, 0)]
            if e == 0:
                self.acked = n
                n += 1
            elif e in RETRIABLE:
                time.sleep(0.02)
            else:
                self.errors.append((n, node, e))
                return

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive()
        for w in self._wires.values():
            w.close()


def coordinator(cluster, group, timeout=20):
    deadline = time.time() + timeout
    while True:
        err, node = find_coordinator(cluster.one(), group)
        if err == 0:
            return node
        assert time.time() < deadline, err
        time.sleep(0.1)


def committed(bootstrap, group, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        deadline = time.time() + 20
        while True:
            try:
                tp = c.committed([TopicPartition(topic, 0)], 5)[0]
                if tp.error is None:
                    return tp.offset
            except Exception:  # noqa: BLE001 - the coordinator is moving: retry
                pass
            assert time.time() < deadline, "committed offsets unreadable"
            time.sleep(0.1)
    finally:
        c.close()


def test_acknowledged_commits_survive_coordinator_moves(cluster):  # noqa: F811
    for i in (1, 2):
        cluster.start(i)
    create(cluster, "mv", 1)
    group = "moving-committer"
    home = coordinator(cluster, group)  # (creates __consumer_offsets)
    w = GroupWire(cluster.brokers[home].bootstrap)
    generation, member = stable_member(w, group)
    w.close()
    writer = SequentialCommitter(cluster, group, "mv", generation, member)
    writer.start()
    try:
        for k in range(4):
            time.sleep(0.5)  # commits land on the current owner
            move_offsets_partition(cluster, group, 3 - home if k % 2 == 0 else home)
            before = writer.acked
            got = committed(cluster.bootstrap(), group, "mv")
            assert not writer.errors, writer.errors
            assert got >= before, f"move {k + 1}: committed {got} < acknowledged {before}"
        time.sleep(0.5)
    finally:
        writer.stop()
    assert not writer.errors, writer.errors
    assert writer.acked > 20, f"only {writer.acked} commits in 2.5 s"
    assert committed(cluster.bootstrap(), group, "mv") == writer.acked
    print(f"\n{writer.acked} sequential commits acknowledged across 4 coordinator moves")
