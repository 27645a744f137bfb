"""A Shale cluster on loopback: one etcd, three brokers (tests/integration/cluster_util.py).

What is checked, with real Kafka clients (librdkafka via confluent_kafka):
  - Metadata / DescribeCluster list every live broker; the controller spreads partitions;
    a broker that does not own a partition answers NOT_LEADER_OR_FOLLOWER (6);
  - SIGKILL of a broker: its partitions accept produce elsewhere after about the lease TTL, and
    nothing acked and uploaded before the kill is lost, duplicated or reordered;
  - SIGSTOP past the lease then SIGCONT: the woken broker refuses every write at once
    (NOT_LEADER_OR_FOLLOWER) and nothing it might write becomes visible;
  - AlterPartitionReassignments moves a partition with its un-uploaded data (and its errors);
  - a group whose __consumer_offsets partition moved away answers NOT_COORDINATOR (16) at the
    old coordinator at once, and a coordinator that gets it back serves what the log says, not
    what it remembered;
  - `shale cluster decommission` empties a broker; a new broker receives partitions (balancer);
  - etcd unreachable: owners stop serving once their lease is in doubt (no broker serves a
    partition then: no split brain) and resume when etcd is back.
  - object WAL: SIGKILL during acks=all produce (5 s upload interval) loses no acked record:
    the controller takes the dead broker's WAL over before failing its partitions over; a
    SIGSTOPped broker whose WAL was taken over exits (75) when it wakes up;
The other tests use the file WAL on the brokers' own disks: records acked in the last upload
interval (100 ms here) before a SIGKILL are not served after failover (docs/deployment.md), so
they pause produce before killing.
"""
import re
import signal
import time

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import NewTopic

from cluster_util import (Cluster, alter_reassignments, check, consume_all, find_coordinator,
                          list_reassignments, produce, shale_cli)
from test_compat_wire import produce as raw_produce, record_batch
from test_groups_wire import GroupWire, s as wire_str

NOT_LEADER_OR_FOLLOWER = 6
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_REPLICA_ASSIGNMENT = 39
NO_REASSIGNMENT_IN_PROGRESS = 85
NOT_COORDINATOR = 16
UNKNOWN_MEMBER_ID = 25
MEMBER_ID_REQUIRED = 79


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    yield c
    rcs = c.stop()
    bad = {i: rc for i, rc in rcs.items() if rc not in (0, -9)}
    assert not bad, f"brokers exited badly: {bad}"


def create(cluster, topic, partitions):
    admin = cluster.admin()  # keep the client alive until the future resolves
    fs = admin.create_topics([NewTopic(topic, partitions, 1)])
    fs[topic].result(15)
    return cluster.leaders(topic)


def records(partitions, n, tag):
    return [(i % partitions, f"k{i}".encode(), f"{tag}-{i}".encode()) for i in range(n)]


def test_metadata_lists_live_brokers_and_leaders_are_spread(cluster):
    for i in (1, 2, 3):
        cluster.start(i, "--rack", f"r{i}")
    leaders = create(cluster, "spread", 6)
    md = cluster.admin().list_topics(timeout=5)
    assert sorted(md.brokers) == [1, 2, 3]
    assert {b.port for b in md.brokers.values()} == {b.port for b in cluster.brokers.values()}
    assert md.controller_id in (1, 2, 3)
    assert sorted(leaders.values()) == [1, 1, 2, 2, 3, 3]
    # Each broker serves exactly its own partitions.
    for part, leader in leaders.items():
        other = cluster.brokers[leader % 3 + 1]
        assert raw_produce(other.bootstrap, "spread", part, record_batch([b"x"])) == \
            NOT_LEADER_OR_FOLLOWER
    # Clients find their way from any bootstrap broker.
    acked = produce(cluster.brokers[2].bootstrap, "spread", records(6, 600, "a"))
    check(acked, consume_all(cluster.brokers[3].bootstrap, "spread", range(6), 600))


def test_sigkill_failover(cluster):
    for i in (1, 2, 3):
        cluster.start(i)
    leaders = create(cluster, "fo", 3)
    acked = produce(cluster.bootstrap(), "fo", records(3, 300, "before"))
    time.sleep(0.5)  # > upload interval: everything acked is in object storage now
    victim = leaders[0]
    t0 = time.time()
    cluster.kill(victim)
    after = cluster.leaders("fo", exclude=(victim,), timeout=20)
    assert victim not in after.values()
    acked += produce(cluster.bootstrap(exclude=(victim,)), "fo", [(0, b"probe", b"probe")])
    failover = time.time() - t0
    print(f"\nSIGKILL failover: partition 0 accepted produce again {failover:.2f} s after the kill "
          f"(lease {cluster.lease} s)")
    assert failover < cluster.lease + 8
    acked += produce(cluster.bootstrap(exclude=(victim,)), "fo", records(3, 300, "after"))
    read = consume_all(cluster.bootstrap(exclude=(victim,)), "fo", range(3), len(acked))
    check(acked, read)


@pytest.mark.parametrize("wal", ["file", "object"])
def test_sigstop_past_lease_is_fenced(cluster, wal):
    # Object WAL: a 5 s upload interval keeps "before" in the WAL the controller takes over.
    for i in (1, 2, 3):
        if wal == "object":
            cluster.start(i, "--wal", "object", upload_interval_ms=5000)
        else:
            cluster.start(i)
    leaders = create(cluster, "fence", 1)
    acked = produce(cluster.bootstrap(), "fence", records(1, 100, "before"))
    if wal == "file":
        time.sleep(0.5)  # > upload interval: the file WAL cannot be taken over
    victim = leaders[0]
    zombie = cluster.brokers[victim]
    cluster.kill(victim, signal.SIGSTOP)
    try:
        cluster.leaders("fence", exclude=(victim,), timeout=20)
        acked += produce(cluster.bootstrap(exclude=(victim,)), "fence",
                         records(1, 100, "during"))
    finally:
        cluster.kill(victim, signal.SIGCONT)
    if wal == "object":
        # Its WAL was taken over (epoch + 1): the woken broker can never acknowledge again, so
        # it exits (75) for its supervisor to restart it, instead of rejoining with a dead WAL.
        assert zombie.proc.wait(timeout=10) == 75
        assert "object WAL was taken over" in zombie.logs()
        del cluster.brokers[victim]
        zombie.log.close()
    else:
        # The woken broker refuses writes at once, and keeps refusing.
        assert raw_produce(zombie.bootstrap, "fence", 0, record_batch([b"zombie-1"])) == \
            NOT_LEADER_OR_FOLLOWER
        time.sleep(1.0)
        assert raw_produce(zombie.bootstrap, "fence", 0, record_batch([b"zombie-2"])) == \
            NOT_LEADER_OR_FOLLOWER
    acked += produce(cluster.bootstrap(), "fence", records(1, 100, "after"))
    read = consume_all(cluster.bootstrap(), "fence", [0], len(acked))
    check(acked, read)
    assert not any(v.startswith(b"zombie") for _, _, v in read[0])


def test_reassignment_moves_a_partition_with_its_unuploaded_data(cluster):
    for i in (1, 2):
        cluster.start(i, upload_interval_ms=60000)  # the tail stays in the owner's WAL
    leaders = create(cluster, "mv", 1)
    src = leaders[0]
    dst = 3 - src
    acked = produce(cluster.bootstrap(), "mv", records(1, 200, "before"))
    assert list_reassignments(cluster.one()) == {}
    t0 = time.time()
    res = alter_reassignments(cluster.one(), {("mv", 0): [dst]})
    assert res[None][0] == 0 and res[("mv", 0)][0] == 0, res
    cluster.leaders("mv", want=lambda l: l[0] == dst)
    acked += produce(cluster.brokers[dst].bootstrap, "mv", [(0, b"probe", b"probe")])
    print(f"\nmove of mv-0 from broker {src} to {dst}: {time.time() - t0:.2f} s until the new "
          "owner acknowledged a produce")
    assert raw_produce(cluster.brokers[src].bootstrap, "mv", 0, record_batch([b"x"])) == \
        NOT_LEADER_OR_FOLLOWER
    acked += produce(cluster.bootstrap(), "mv", records(1, 200, "after"))
    check(acked, consume_all(cluster.bootstrap(), "mv", [0], len(acked)))
    # Errors, as Kafka reports them.
    res = alter_reassignments(cluster.one(), {("mv", 0): [99], ("nope", 0): [1],
                                                    ("mv", 5): [1]})
    assert res[("mv", 0)][0] == INVALID_REPLICA_ASSIGNMENT
    assert res[("nope", 0)][0] == UNKNOWN_TOPIC_OR_PARTITION
    assert res[("mv", 5)][0] == UNKNOWN_TOPIC_OR_PARTITION
    assert alter_reassignments(cluster.one(), {("mv", 0): None})[("mv", 0)][0] == \
        NO_REASSIGNMENT_IN_PROGRESS


def test_etcd_unreachable_stops_serving_then_recovers(cluster):
    for i in (1, 2):
        cluster.start(i)
    create(cluster, "eu", 2)
    acked = produce(cluster.bootstrap(), "eu", records(2, 100, "before"))
    time.sleep(0.5)
    t0 = time.time()
    cluster.etcd.stop()  # SIGTERM, waits for the exit
    # Every probe record is distinct: probes sent before a broker stopped serving are stored
    # (not in `acked`, but read back), and the checker counts equal values as duplicates.
    probe = iter(range(1 << 30))
    try:
        # Within the lease TTL every broker stops serving; none serves anything after that.
        while time.time() - t0 < cluster.lease + 5:
            codes = {(i, p): raw_produce(b.bootstrap, "eu", p,
                                         record_batch([f"during-outage-{next(probe)}".encode()]))
                     for i, b in cluster.brokers.items() for p in (0, 1)}
            if all(c == NOT_LEADER_OR_FOLLOWER for c in codes.values()):
                break
            time.sleep(0.1)
        stopped = time.time() - t0
        assert stopped <= cluster.lease + 2, codes
        time.sleep(1.0)
        for i, b in cluster.brokers.items():
            for p in (0, 1):
                assert raw_produce(b.bootstrap, "eu", p,
                                   record_batch([f"x-{next(probe)}".encode()])) == \
                    NOT_LEADER_OR_FOLLOWER
    finally:
        cluster.etcd.start()
    print(f"\netcd stopped: every broker refused produce {stopped:.2f} s after the stop began "
          f"(lease {cluster.lease} s)")
    cluster.leaders("eu")
    acked += produce(cluster.bootstrap(), "eu", records(2, 100, "after"))
    read = consume_all(cluster.bootstrap(), "eu", [0, 1], len(acked))
    check(acked, read)


def group_consume(bootstrap, topic, group, n, timeout=40):
    """Consumes n records with a consumer group (subscribe, commit each message synchronously)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    c.subscribe([topic])
    got, deadline = [], time.time() + timeout
    try:
        while len(got) < n and time.time() < deadline:
            m = c.poll(0.2)
            if m is None or m.error():
                continue
            got.append(m.value())
            c.commit(message=m, asynchronous=False)
    finally:
        c.close()
    return got


def test_groups_follow_their_coordinator_across_a_failover(cluster):
    for i in (1, 2, 3):
        cluster.start(i)
    create(cluster, "g", 3)
    produce(cluster.bootstrap(), "g", records(3, 90, "a"))
    first = group_consume(cluster.bootstrap(), "g", "grp", 90)
    assert len(first) == 90
    # Kill the group's coordinator; its __consumer_offsets partition fails over with the
    # committed offsets (uploaded: wait an upload interval first).
    err, coord = find_coordinator(cluster.one(), "grp")
    assert err == 0 and coord in (1, 2, 3)
    time.sleep(0.5)
    cluster.kill(coord)
    cluster.leaders("__consumer_offsets", exclude=(coord,))
    acked = produce(cluster.bootstrap(exclude=(coord,)), "g", records(3, 60, "b"))
    second = group_consume(cluster.bootstrap(exclude=(coord,)), "g", "grp", 60)
    assert sorted(second) == sorted(v for _, _, v, _ in acked), "the group resumed elsewhere"


def offsets_partition(group, partitions=50):
    """Kafka's partition of a group in __consumer_offsets (Java String.hashCode)."""
    h = 0
    for ch in group:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    return (h & 0x7FFFFFFF) % partitions


def move_offsets_partition(cluster, group, dst):
    p = offsets_partition(group)
    res = alter_reassignments(cluster.one(), {("__consumer_offsets", p): [dst]})
    assert res[("__consumer_offsets", p)][0] == 0, res
    deadline = time.time() + 20
    while find_coordinator(cluster.one(), group) != (0, dst):
        assert time.time() < deadline, "the coordinator did not move"
        time.sleep(0.05)


def stable_member(w, group):
    """Joins `group` through `w` (retrying while the coordinator loads) and syncs: (gen, member)."""
    deadline = time.time() + 20
    while True:
        j = w.join(group)
        if j["error"] == MEMBER_ID_REQUIRED:
            j = w.join(group, j["member"])
        if j["error"] == 0:
            break
        assert time.time() < deadline, j
        time.sleep(0.1)
    err, _ = w.sync(group, j["generation"], j["member"], assignments=[(j["member"], b"a")])
    assert err == 0
    return j["generation"], j["member"]


def test_a_lost_offsets_partition_answers_not_coordinator_and_is_replayed_when_regained(cluster):
    for i in (1, 2):
        cluster.start(i)
    create(cluster, "cg", 1)
    group = "moving-group"
    deadline = time.time() + 20
    while (found := find_coordinator(cluster.one(), group))[0] != 0:  # creates __consumer_offsets
        assert time.time() < deadline, found
        time.sleep(0.1)
    src = found[1]
    dst = 3 - src
    old = GroupWire(cluster.brokers[src].bootstrap)
    gen, member = stable_member(old, group)
    assert old.commit(group, gen, member, [("cg", 0, 7, "")]) == {("cg", 0): 0}

    move_offsets_partition(cluster, group, dst)
    # The old coordinator answers NOT_COORDINATOR to everything about the group, at once.
    assert old.heartbeat(group, gen, member) == NOT_COORDINATOR
    assert old.commit(group, gen, member, [("cg", 0, 8, "")]) == {("cg", 0): NOT_COORDINATOR}
    assert old.join(group, member)["error"] == NOT_COORDINATOR
    assert old.sync(group, gen, member)[0] == NOT_COORDINATOR
    # On the new coordinator the member leaves (the group is now empty there, in the log).
    # (FindCoordinator names the new owner as soon as it is assigned; until it has opened and
    # replayed the partition it answers 16 / 14 and clients retry.)
    new = GroupWire(cluster.brokers[dst].bootstrap)
    try:
        deadline = time.time() + 20
        while (e := new.call(13, 0, wire_str(group) + wire_str(member)).i16()) != 0:  # LeaveGroup
            assert e in (14, NOT_COORDINATOR) and time.time() < deadline, e
            time.sleep(0.05)
    finally:
        new.close()

    # Back to the old coordinator: it replays the log instead of trusting its stale memory, in
    # which the member was still in the group.
    move_offsets_partition(cluster, group, src)
    deadline = time.time() + 20
    while (e := old.heartbeat(group, gen, member)) != UNKNOWN_MEMBER_ID:
        assert e in (14, NOT_COORDINATOR) and time.time() < deadline, e  # 14: replaying
        time.sleep(0.05)
    old.close()


def test_decommission_then_scale_out(tmp_path):
    cluster = Cluster(tmp_path, balance=True)
    try:
        for i in (1, 2, 3):
            cluster.start(i)
        create(cluster, "dc", 6)
        acked = produce(cluster.bootstrap(), "dc", records(6, 300, "a"))
        rc, out = shale_cli("cluster", "decommission", "3", "--metadata",
                            f"etcd://{cluster.etcd.endpoints}", "--wait-seconds", "60")
        assert rc == 0, out
        assert "broker 3 is decommissioned" in out
        cluster.leaders("dc", want=lambda l: 3 not in l.values(), timeout=5)  # next agent pass
        acked += produce(cluster.bootstrap(), "dc", records(6, 300, "b"))
        # Scale out: a new broker receives partitions from the balancer.
        cluster.start(4)
        cluster.leaders("dc", want=lambda l: list(l.values()).count(4) >= 2, timeout=30)
        acked += produce(cluster.bootstrap(), "dc", records(6, 300, "c"))
        check(acked, consume_all(cluster.bootstrap(), "dc", range(6), len(acked)))
        rc, out = shale_cli("cluster", "status", "--metadata", f"etcd://{cluster.etcd.endpoints}")
        assert rc == 0 and "broker 4" in out, out
    finally:
        rcs = cluster.stop()
    assert all(rc == 0 for rc in rcs.values()), rcs


def test_sigkill_during_produce_loses_no_acked_record_with_the_object_wal(cluster):
    """Object WAL: the broker is SIGKILLed while acks=all produce runs (no pause), with a 5 s
    upload interval so what it acknowledged is only in its WAL. The controller takes that WAL
    over (fencing it), uploads the records at the dead owner's epoch, then fails over: every
    acknowledged record is read back exactly once, in order."""
    for i in (1, 2, 3):
        cluster.start(i, "--wal", "object", upload_interval_ms=5000)
    leaders = create(cluster, "tk", 3)
    victim = leaders[0]
    acked, failed = [], []

    def cb(err, msg):
        (failed if err else acked).append((msg.partition(), msg.key(), msg.value(), err))

    p = Producer({"bootstrap.servers": cluster.bootstrap(), "acks": "all", "linger.ms": 2,
                  "enable.idempotence": True, "message.timeout.ms": 30000})
    t0, killed_at, n = time.time(), None, 0
    while time.time() - t0 < 9:
        part = n % 3
        try:
            p.produce("tk", value=f"r-{n}".encode(), key=f"k{n}".encode(), partition=part,
                      on_delivery=cb)
            n += 1
        except BufferError:
            pass
        p.poll(0.001)
        if killed_at is None and time.time() - t0 > 1.5:
            victim_acked = sum(1 for a in acked if a[0] == 0)
            cluster.kill(victim)  # mid-stream: requests to it are in flight
            killed_at = time.time()
    p.flush(40)
    assert not failed, f"{len(failed)} records failed, first: {failed[0]}"
    assert victim_acked > 50, "the victim acknowledged too little before the kill"
    after = cluster.leaders("tk", exclude=(victim,), timeout=20)
    assert victim not in after.values()
    read = consume_all(cluster.bootstrap(exclude=(victim,)), "tk", range(3), len(acked))
    check(acked, read)
    logs = "".join(b.logs() for i, b in cluster.brokers.items() if i != victim)
    m = re.search(rf"took over broker {victim}'s object WAL \(epoch \d+\): (\d+) bytes", logs)
    assert m and int(m.group(1)) > 0, "no WAL takeover with recovered bytes in the logs"
    rec = re.search(rf"recovered the WAL of dead broker {victim} in (\d+) ms", logs)
    assert rec
    print(f"\nobject-WAL takeover: {len(acked)} acked ({victim_acked} on the victim before the "
          f"kill), {m.group(1)} bytes recovered from its WAL in {rec.group(1)} ms")
