"""Run inside a network namespace by test_cluster_scenarios.py (network cut), against the
namespaced broker, which the test then cuts off. Two threads, one JSON line per attempt:
  - reads: Fetch v4 (100 ms max wait) of PARTITION every 50 ms -> {"op": "fetch", "t", "code",
    "took"};
    the first NOT_LEADER_OR_FOLLOWER (6) after the cut is when the broker stopped serving (a
    fetch answers at once, unlike a produce waiting for durability). It fetches at the high
    watermark of the previous answer, and first at the end offset (ListOffsets): a tail read from
    memory, never a cold read from the object store, which the cut also cuts off (one such read
    blocked the probe for ~4.5 s in RGW mode, the first fetch from offset 0 for 5 s);
  - writes: raw Produce v3 acks=-1 of distinct records ("nsprobe-<t>-<i>") -> {"op": "produce",
    "t", "code" (-1: no answer within 5 s), "value"}: a record answered 0 was acknowledged and
    must be read back later, exactly once.
Stops after three fetches answered 6 at or after CUT_AT (the test cuts the network then; a
refusal before it means the partition moved away meanwhile and is printed, not counted), or
after SECONDS.

    python3 scenario_probe.py HOST:PORT TOPIC PARTITION SECONDS CUT_AT
"""
import json
import struct
import sys
import threading
import time

import test_compat_wire as wire

NOT_LEADER_OR_FOLLOWER = 6
_print = threading.Lock()


def emit(**kv):
    with _print:
        print(json.dumps(kv), flush=True)


def end_offset(bootstrap, topic, partition):
    """ListOffsets v1, latest: where the first fetch starts (a fetch from offset 0 is a cold read
    that a cut taken while it runs holds for the object store's timeout)."""
    body = struct.pack(">i", -1) + struct.pack(">i", 1) + wire.kstr(topic) + \
        struct.pack(">iiq", 1, partition, -1)
    r = wire.call(bootstrap, 2, 1, body)
    assert r.take(">i") == 1 and r.string() == topic and r.take(">i") == 1
    p, err, _ts, offset = r.take(">ihqq")
    assert p == partition and err == 0, f"ListOffsets: error {err}"
    return offset


def main():
    bootstrap, topic, partition, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
        float(sys.argv[4])
    cut_at = float(sys.argv[5])
    deadline = time.time() + seconds
    done = threading.Event()

    def writes():
        i, tag = 0, int(time.time() * 1000)
        while not done.is_set() and time.time() < deadline:
            value = f"nsprobe-{tag}-{i}"
            i += 1
            t = time.time()
            try:
                code = wire.produce(bootstrap, topic, partition,
                                    wire.record_batch([value.encode()]))
            except OSError:
                code = -1
            emit(op="produce", t=t, code=code, value=value)
            time.sleep(0.05)

    w = threading.Thread(target=writes)
    w.start()
    refused = 0
    try:
        at = end_offset(bootstrap, topic, partition)
    except (AssertionError, OSError) as e:  # moved away meanwhile: the fetches will say so
        emit(op="list_offsets", t=time.time(), error=str(e))
        at = 0
    while time.time() < deadline and refused < 3:
        t = time.time()
        try:
            code, hwm = wire.fetch(bootstrap, topic, partition, at)
            if code == 0:
                at = hwm
        except OSError:
            code = -1
        refused += code == NOT_LEADER_OR_FOLLOWER and t >= cut_at
        emit(op="fetch", t=t, code=code, took=round(time.time() - t, 3))
        time.sleep(0.05)
    done.set()
    w.join()


if __name__ == "__main__":
    main()
