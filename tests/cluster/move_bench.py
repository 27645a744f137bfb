#!/usr/bin/env python3
"""Cluster timings on loopback (etcd + brokers from tests/integration/cluster_util.py):

  move      time from AlterPartitionReassignments to the new owner acknowledging a produce,
            with SMALL and LARGE MiB retained in the partition (the ratio should be ~1: a move
            uploads only the un-uploaded tail, never the retained data);
  burst     during a move, a raw producer sending one record per request in a tight loop: how
            many requests got NOT_LEADER_OR_FOLLOWER (the client-visible error burst) and for
            how long, until the new owner accepted;
  failover  time from SIGKILL of the owner to its partition accepting produce on another broker;
  idle      etcd requests per second (range + txn, from etcd's /metrics) of an idle 3-broker
            cluster, lease keep-alives not counted.

Each agent mode in --modes runs on a fresh cluster, one after the other in the same run, so they
can be compared: `watch` (the default: passes react to etcd watch events) and `poll` (the agent
re-reads everything every --cluster-tick-ms, i.e. `--cluster-watch false`). The tick is 100 ms.

Usage: SHALE_BIN=build/shale tests/cluster/move_bench.py [--small-mib 1] [--large-mib 1024]
       [--runs 3] [--modes watch,poll] [--failovers 1]
--large-mib 0 skips the large-partition move. Prints one line per measurement, the medians per
mode and, with two modes, a summary table.
"""
import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
import urllib.request
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


def etcd_requests(cluster):
    """Range + txn requests etcd has served so far (its /metrics counters)."""
    off = int(cluster.etcd.env["ETCD_PORT_OFFSET"])
    text = urllib.request.urlopen(f"http://127.0.0.1:{2381 + off}/metrics", timeout=5).read()
    total = 0.0
    for line in text.decode().splitlines():
        if line.startswith(("etcd_debugging_mvcc_range_total", "etcd_debugging_mvcc_txn_total")):
            total += float(line.split()[-1])
    return total


def idle_rate(cluster, seconds=10):
    time.sleep(2)  # let start-up passes settle
    a, t = etcd_requests(cluster), time.time()
    time.sleep(seconds)
    return (etcd_requests(cluster) - a) / (time.time() - t)


def failover(c, topic):
    """Seconds from SIGKILL of the topic's owner to produce accepted by another broker; restarts
    the killed broker afterwards."""
    owner = create(c, topic)
    produce(c.bootstrap(), topic, [(0, None, b"v")] * 100)
    time.sleep(1)
    t0 = time.time()
    c.kill(owner, signal.SIGKILL)
    while True:
        ok = False
        for i, b in c.brokers.items():
            if i != owner and b.proc.poll() is None and \
                    raw_produce(b.bootstrap, topic, 0, record_batch([b"f"])) == 0:
                ok = True
        if ok:
            break
        time.sleep(0.01)
    took = time.time() - t0
    return took, owner


def run_mode(tmp, mode, a):
    extra = ("--log-level", "warn") + (("--cluster-watch", "false") if mode == "poll" else ())
    c = Cluster(Path(tmp) / mode, lease_seconds=2)
    out = {}
    try:
        for i in (1, 2, 3):
            c.start(i, *extra, upload_interval_ms=500)
        admin = c.admin()  # kept alive until the result arrives
        admin.create_topics([NewTopic("warm", 3, 1)])["warm"].result(15)
        c.leaders("warm")
        out["idle"] = idle_rate(c)
        print(f"[{mode}] idle: {out['idle']:.1f} etcd range+txn requests/s (3 brokers)",
              flush=True)
        sizes = [("small", a.small_mib)] + ([("large", a.large_mib)] if a.large_mib else [])
        for label, mib in sizes:
            topic = f"move-{label}"
            owner = create(c, topic)
            t = time.time()
            fill(c.bootstrap(), topic, mib)
            print(f"[{mode}] {topic}: {mib} MiB produced in {time.time() - t:.1f} s", flush=True)
            times = []
            for r in range(a.runs):
                dst = owner % 3 + 1
                took, _, _ = move(c, topic, owner, dst)
                print(f"[{mode}]   move {r + 1}: {owner} -> {dst}: {took * 1000:.0f} ms", flush=True)
                times.append(took)
                owner = dst
            out[label] = statistics.median(times)
        # Error burst during a move, seen by a client that keeps writing to the old owner.
        owner = create(c, "burst")
        produce(c.bootstrap(), "burst", [(0, None, b"v")] * 100)
        bursts = []
        for r in range(a.runs):
            dst = owner % 3 + 1
            took, errors, window = move(c, "burst", owner, dst, burst=True)
            print(f"[{mode}]   burst {r + 1}: move {took * 1000:.0f} ms, {errors} NOT_LEADER "
                  f"answers over {window * 1000:.0f} ms", flush=True)
            bursts.append((took, errors, window))
            owner = dst
        out["burst_errors"] = statistics.median(b[1] for b in bursts)
        out["burst_ms"] = statistics.median(b[2] for b in bursts) * 1000
        fos = []
        for r in range(a.failovers):
            took, victim = failover(c, f"failover-{r}")
            print(f"[{mode}]   failover {r + 1}: {took:.2f} s from SIGKILL to produce accepted "
                  f"(lease {c.lease} s)", flush=True)
            fos.append(took)
            c.brokers[victim].stop()
            c.start(victim, *extra, upload_interval_ms=500)
            c.leaders("warm")
        out["failover"] = statistics.median(fos)
        msg = f"[{mode}] medians: move {a.small_mib} MiB {out['small'] * 1000:.0f} ms"
        if a.large_mib:
            msg += (f", {a.large_mib} MiB {out['large'] * 1000:.0f} ms "
                    f"(ratio {out['large'] / out['small']:.2f})")
        msg += (f"; burst {out['burst_errors']} errors over {out['burst_ms']:.0f} ms; "
                f"failover {out['failover']:.2f} s; idle {out['idle']:.1f} req/s")
        print(msg, flush=True)
    finally:
        c.stop()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--small-mib", type=int, default=1)
    ap.add_argument("--large-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--failovers", type=int, default=1)
    ap.add_argument("--modes", default="watch,poll")
    a = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="shale-move-") as tmp:
        for mode in a.modes.split(","):
            results[mode] = run_mode(tmp, mode, a)
    if len(results) == 2:
        (m1, r1), (m2, r2) = results.items()
        print(f"{'':24}{m1:>10}{m2:>10}{'ratio':>8}")
        for key, unit, scale in (("small", "ms", 1000), ("large", "ms", 1000),
                                 ("burst_ms", "ms", 1), ("failover", "s", 1),
                                 ("idle", "req/s", 1)):
            if key in r1 and key in r2:
                ratio = r1[key] / r2[key] if r2[key] else float("nan")
                print(f"{key + ' (' + unit + ')':24}{r1[key] * scale:>10.2f}"
                      f"{r2[key] * scale:>10.2f}{ratio:>8.2f}")


if __name__ == "__main__":
    main()
