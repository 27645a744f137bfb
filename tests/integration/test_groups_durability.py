"""__consumer_offsets stays bounded (snapshot + trim) and replays exactly across restarts;
committed offsets of empty groups expire (offsets.retention.minutes / .check.interval.ms)."""
import contextlib
import time

import pytest

from conftest import Shale
from test_groups import create_topic, in_process_consumer, wait_coordinator_loaded

ck = pytest.importorskip("confluent_kafka")

OFFSETS_PARTITIONS = 50


def java_hash(s):
    h = 0
    for unit in s.encode("utf-16-be").hex(" ", 2).split():
        h = (31 * h + int(unit, 16)) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def offsets_partition(group):
    return (java_hash(group) & 0x7FFFFFFF) % OFFSETS_PARTITIONS


def watermarks(bootstrap, partition):
    c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        return c.get_watermark_offsets(ck.TopicPartition("__consumer_offsets", partition), 10)
    finally:
        c.close()


def committed(bootstrap, group, topic, partition=0):
    c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        return c.committed([ck.TopicPartition(topic, partition)], 10)[0].offset
    finally:
        c.close()


@contextlib.contextmanager
def serving(data_dir, args=()):
    """A broker on `data_dir` for the block; it must stop cleanly (exit 0) at the end."""
    s = Shale(data_dir, args)
    try:
        yield s
    finally:
        rc, _ = s.stop()
        assert rc == 0, s.logs()


def test_offsets_topic_is_compacted_and_replays_after_restart(tmp_path):
    commits = 3000
    part = offsets_partition("grp-cmp")
    with serving(tmp_path) as s:
        create_topic(s.bootstrap, "cmp", 2)
        create_topic(s.bootstrap, "cmp-other", 1)
        wait_coordinator_loaded(s.bootstrap, "cmp-other")
        other = in_process_consumer(s.bootstrap, "grp-cmp-other")
        other.commit(offsets=[ck.TopicPartition("cmp-other", 0, 42)], asynchronous=False)
        other.close()
        c = in_process_consumer(s.bootstrap, "grp-cmp")
        # One synchronous commit first: librdkafka parks commits issued before it knows the
        # group's coordinator and, once it does, may send those parked ones after commits issued
        # later (seen in CI: commits 1..2086 reached the broker after 2087..3000, so the last
        # value applied, in memory and in the log, was 2086). With the coordinator known, one
        # connection carries the burst and the broker applies it in request order.
        c.commit(offsets=[ck.TopicPartition("cmp", 0, 0), ck.TopicPartition("cmp", 1, 0)],
                 asynchronous=False)
        # Pipelined (asynchronous) commits, one burst: snapshots must happen while they keep
        # coming (a due snapshot briefly holds new writes back), not only once they stop.
        for i in range(1, commits + 1):
            c.commit(offsets=[ck.TopicPartition("cmp", 0, i), ck.TopicPartition("cmp", 1, 2 * i)],
                     asynchronous=i != commits)
        c.close()
        # The last commit wins in memory before any restart (requests of one connection apply in
        # order).
        assert committed(s.bootstrap, "grp-cmp", "cmp") == commits
        # Every commit is a batch of two records; snapshots trim what they make obsolete.
        deadline = time.time() + 20
        while time.time() < deadline and watermarks(s.bootstrap, part)[0] == 0:
            time.sleep(0.2)
        low, high = watermarks(s.bootstrap, part)
        print(f"__consumer_offsets-{part}: log [{low}, {high}) after {commits} commits")
        assert low > 0, s.logs()[-3000:]
        assert high - low < commits  # of 2 * commits offsets written
        snapshots = s.logs().count(f"__consumer_offsets-{part} compacted: snapshot of 2 keys")
        print(f"{snapshots} snapshots during the burst")
        assert snapshots >= 2, s.logs()[-3000:]
    with serving(tmp_path) as s:
        assert committed(s.bootstrap, "grp-cmp", "cmp") == commits
        assert committed(s.bootstrap, "grp-cmp", "cmp", 1) == 2 * commits
        assert committed(s.bootstrap, "grp-cmp-other", "cmp-other") == 42
        # More commits after the restart land on top of the replayed snapshot.
        c = in_process_consumer(s.bootstrap, "grp-cmp")
        c.commit(offsets=[ck.TopicPartition("cmp", 0, commits + 1)], asynchronous=False)
        c.close()
    with serving(tmp_path) as s:
        assert committed(s.bootstrap, "grp-cmp", "cmp") == commits + 1


def test_offsets_of_empty_groups_expire_and_stay_expired(tmp_path):
    # Retention 0 (a Shale extension; Kafka's minimum is 1 minute): offsets of a group expire
    # at the first check after it is empty. Checks run every 300 ms.
    args = ["--offsets-retention-minutes", "0", "--offsets-retention-check-interval-ms", "300"]
    with serving(tmp_path, args) as s:
        create_topic(s.bootstrap, "exp", 1)
        wait_coordinator_loaded(s.bootstrap, "exp")
        live = in_process_consumer(s.bootstrap, "grp-live")
        live.subscribe(["exp"])
        deadline = time.time() + 30
        while not live.assignment() and time.time() < deadline:
            live.poll(0.1)
        assert live.assignment()
        live.commit(offsets=[ck.TopicPartition("exp", 0, 3)], asynchronous=False)
        gone = in_process_consumer(s.bootstrap, "grp-gone")
        gone.commit(offsets=[ck.TopicPartition("exp", 0, 4)], asynchronous=False)
        gone.close()
        t0 = time.time()
        while committed(s.bootstrap, "grp-gone", "exp") == 4 and time.time() - t0 < 10:
            time.sleep(0.1)
        assert committed(s.bootstrap, "grp-gone", "exp") < 0  # OFFSET_INVALID: expired
        print(f"empty group's offsets expired after {time.time() - t0:.2f}s")
        for _ in range(10):  # a group with a member keeps them
            live.poll(0.1)
        assert committed(s.bootstrap, "grp-live", "exp") == 3
        live.close()
    with serving(tmp_path) as s:  # default retention: what expired stays expired
        assert committed(s.bootstrap, "grp-gone", "exp") < 0
