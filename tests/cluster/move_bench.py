#!/usr/bin/env python3
"""Cluster timings on loopback (etcd + brokers from tests/integration/cluster_util.py):

  move      time from AlterPartitionReassignments to the new owner acknowledging a produce,
            with SMALL and LARGE MiB retained in the partition (the ratio should be ~1: a move
            uploads only the un-uploaded tail, never the retained data);
  burst     during a move, a raw producer sending one record per request in a tight loop: how
            many requests got NOT_LEADER_OR_FOLLOWER (the client-visible error burst) and for
            how long, until the new owner accepted;
  failover  time from SIGKILL of the owner to its partition accepting produce on another broker.

Usage: SHALE_BIN=build/shale tests/cluster/move_bench.py [--small-mib 1] [--large-mib 1024]
       [--runs 3]
Prints one line per measurement and the medians.
"""
import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))

from cluster_util import Cluster, alter_reassignments, produce  # noqa: E402
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import NewTopic  # noqa: E402
from test_compat_wire import produce as raw_produce, record_batch  # noqa: E402

NOT_LEADER = 6


def fill(bootstrap, topic, mib):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 20,
                  "batch.size": 1 << 20, "compression.type": "none"})
    value = os.urandom(64 << 10)
    for _ in range(mib * 16):
        while True:
            try:
                p.produce(topic, value=value, partition=0)
                break
            except BufferError:
                p.poll(0.05)
    assert p.flush(600) == 0


def create(cluster, topic):
    admin = cluster.admin()
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(15)
    return cluster.leaders(topic)[0]


def move(cluster, topic, src, dst, burst=False):
    """Seconds until the new owner acked a produce; with burst, also (errors, error seconds)."""
    t0 = time.time()
    res = alter_reassignments(cluster.one(), {(topic, 0): [dst]})
    assert res[(topic, 0)][0] == 0, res
    errors, first_err, last_err = 0, None, None
    src_b, dst_b = cluster.brokers[src].bootstrap, cluster.brokers[dst].bootstrap
    while True:
        if burst:  # what a client pinned to the old owner sees
            e = raw_produce(src_b, topic, 0, record_batch([b"b"]))
            if e == NOT_LEADER:
                errors += 1
                first_err = first_err or time.time()
                last_err = time.time()
            elif e != 0:
                raise AssertionError(f"unexpected error {e}")
        if raw_produce(dst_b, topic, 0, record_batch([b"x"])) == 0:
            break
        if time.time() - t0 > 120:
            raise AssertionError("move did not finish in 120 s")
    took = time.time() - t0
    window = (last_err - first_err) if first_err else 0.0
    return took, errors, window


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--small-mib", type=int, default=1)
    ap.add_argument("--large-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="shale-move-") as tmp:
        c = Cluster(Path(tmp), lease_seconds=2)
        try:
            for i in (1, 2, 3):
                c.start(i, "--log-level", "warn", upload_interval_ms=500)
            results = {}
            for label, mib in (("small", a.small_mib), ("large", a.large_mib)):
                topic = f"move-{label}"
                owner = create(c, topic)
                t = time.time()
                fill(c.bootstrap(), topic, mib)
                print(f"{topic}: {mib} MiB produced in {time.time() - t:.1f} s", flush=True)
                times = []
                for r in range(a.runs):
                    dst = owner % 3 + 1
                    took, _, _ = move(c, topic, owner, dst)
                    print(f"  move {r + 1}: {owner} -> {dst}: {took * 1000:.0f} ms", flush=True)
                    times.append(took)
                    owner = dst
                results[label] = statistics.median(times)
            print(f"move median: {a.small_mib} MiB {results['small'] * 1000:.0f} ms, "
                  f"{a.large_mib} MiB {results['large'] * 1000:.0f} ms, "
                  f"ratio {results['large'] / results['small']:.2f}")
            # Error burst during a move, seen by a client that keeps writing to the old owner.
            owner = create(c, "burst")
            produce(c.bootstrap(), "burst", [(0, None, b"v")] * 100)
            bursts = []
            for r in range(a.runs):
                dst = owner % 3 + 1
                took, errors, window = move(c, "burst", owner, dst, burst=True)
                print(f"  burst {r + 1}: move {took * 1000:.0f} ms, {errors} NOT_LEADER answers "
                      f"over {window * 1000:.0f} ms", flush=True)
                bursts.append((took, errors, window))
                owner = dst
            print(f"burst median: {statistics.median(b[1] for b in bursts)} errors over "
                  f"{statistics.median(b[2] for b in bursts) * 1000:.0f} ms")
            # Failover: SIGKILL the owner; time until produce is accepted elsewhere.
            owner = create(c, "failover")
            produce(c.bootstrap(), "failover", [(0, None, b"v")] * 100)
            time.sleep(1)
            t0 = time.time()
            c.kill(owner, signal.SIGKILL)
            while True:
                ok = False
                for i, b in c.brokers.items():
                    if i != owner and raw_produce(b.bootstrap, "failover", 0,
                                                  record_batch([b"f"])) == 0:
                        ok = True
                if ok:
                    break
                time.sleep(0.01)
            print(f"failover: {time.time() - t0:.2f} s from SIGKILL to produce accepted "
                  f"(lease {c.lease} s, tick 100 ms)")
        finally:
            c.stop()


if __name__ == "__main__":
    main()
