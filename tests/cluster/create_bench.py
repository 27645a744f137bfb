#!/usr/bin/env python3
"""Topic creation time in cluster mode: CreateTopics of --partitions partitions, --runs times (a
new topic each time), against a 3-member etcd on loopback and one broker
(tests/integration/scenario_cluster.py). Prints each time and the median. The CreateTopics answer
comes once the topic record is committed: that is the stream records of every partition plus the
topic record (the controller assigns the partitions afterwards).

Usage: SHALE_BIN=build/shale /usr/bin/python3 tests/cluster/create_bench.py [--partitions 200]
       [--runs 5]
Compare two binaries by running it once with each SHALE_BIN.
"""
import argparse
import os
import pathlib
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from confluent_kafka.admin import NewTopic  # noqa: E402
from scenario_cluster import ScenarioCluster  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--partitions", type=int, default=200)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    c = ScenarioCluster(pathlib.Path(tempfile.mkdtemp(prefix="shale-create-bench-")))
    try:
        c.start(1)
        admin = c.admin()
        times = []
        for i in range(a.runs):
            name = f"bench-{i}"
            t0 = time.time()
            admin.create_topics([NewTopic(name, a.partitions, 1)], operation_timeout=60)[
                name].result(120)
            times.append(time.time() - t0)
            print(f"create {a.partitions} partitions: {times[-1]:.3f} s", flush=True)
        print(f"median {statistics.median(times):.3f} s over {a.runs} runs")
    finally:
        c.stop()


if __name__ == "__main__":
    main()
