"""Consumer groups across clients and admin-driven offset resets, against a real `shale serve`:
a kafkajs, a librdkafka (confluent-kafka) and a kafka-python group consume one topic, each in its
own group, each getting everything; then a group is reset by offset and by timestamp the way
`kafka-consumer-groups --reset-offsets` does it (ListOffsets by time, then an OffsetCommit
outside any generation) with both Python clients, and replays from there.

kcat is not used for resets: it has no offset-reset mode (`-G` only consumes), so it could only
show what the Python clients already do.
"""
import json
import os
import shutil
import subprocess
import time

import pytest

from test_groups import create_topic, in_process_consumer

ck = pytest.importorskip("confluent_kafka")
from confluent_kafka.admin import AdminClient  # noqa: E402

NODE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "node")
HAVE_KAFKAJS = shutil.which("node") is not None and os.path.isdir(
    os.path.join(NODE_DIR, "node_modules", "kafkajs"))


def produce_values(bootstrap, topic, values, partitions, timestamps=None):
    p = ck.Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i, v in enumerate(values):
        kw = {"timestamp": timestamps[i]} if timestamps else {}
        p.produce(topic, value=v.encode(), partition=i % partitions, **kw)
    assert p.flush(30) == 0


def consume_confluent(bootstrap, group, topic, count, timeout=60):
    """Subscribes, reads `count` messages (commit after each), returns the values in order."""
    c = in_process_consumer(bootstrap, group)
    c.subscribe([topic])
    got = []
    deadline = time.time() + timeout
    while len(got) < count and time.time() < deadline:
        m = c.poll(0.2)
        if m is None or m.error() is not None:
            continue
        got.append(m.value().decode())
        c.commit(message=m, asynchronous=False)
    c.close()
    return got


def consume_kafka_python(bootstrap, group, topic, count):
    kafka = pytest.importorskip("kafka")
    c = kafka.KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                            auto_offset_reset="earliest", enable_auto_commit=False,
                            consumer_timeout_ms=30000)
    got = []
    for msg in c:
        got.append(msg.value.decode())
        c.commit()
        if len(got) >= count:
            break
    c.close()
    return got


def committed(bootstrap, group, topic, partitions):
    c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = [ck.TopicPartition(topic, p) for p in range(partitions)]
        return [tp.offset for tp in c.committed(tps, 10)]
    finally:
        c.close()


@pytest.mark.skipif(not HAVE_KAFKAJS, reason="node or tests/node/node_modules/kafkajs missing")
def test_kafkajs_confluent_kafka_python_groups_each_consume_everything(shale):
    create_topic(shale.bootstrap, "mix", 3)
    values = [f"v{i}" for i in range(90)]
    produce_values(shale.bootstrap, "mix", values, 3)
    js = subprocess.Popen(["node", os.path.join(NODE_DIR, "group.js"), shale.bootstrap, "mix",
                           "grp-js", "90"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    try:
        # The three groups run at the same time: the kafkajs one in its own process.
        got_ck = consume_confluent(shale.bootstrap, "grp-ck", "mix", 90)
        got_kp = consume_kafka_python(shale.bootstrap, "grp-kp-mix", "mix", 90)
        out, err = js.communicate(timeout=90)
    finally:
        if js.poll() is None:
            js.kill()
            js.wait()
    assert js.returncode == 0, err + shale.logs()[-3000:]
    js_out = json.loads(out)
    for name, got in (("kafkajs", js_out["values"]), ("confluent", got_ck),
                      ("kafka-python", got_kp)):
        assert sorted(got) == sorted(values), name  # everything, exactly once each
    assert js_out["committed"] == [[0, 30], [1, 30], [2, 30]]
    assert js_out["memberCount"] == 1
    for group in ("grp-js", "grp-ck", "grp-kp-mix"):
        assert committed(shale.bootstrap, group, "mix", 3) == [30, 30, 30], group
    listed = {g.id for g in AdminClient({"bootstrap.servers": shale.bootstrap}).list_groups(
        timeout=10)}
    assert {"grp-js", "grp-ck", "grp-kp-mix"} <= listed


def test_reset_group_by_offset_and_by_timestamp_then_replay(shale):
    # Recent timestamps (older ones would fall to the topic's 7-day time retention).
    base_ts = int(time.time() * 1000) - 100_000
    create_topic(shale.bootstrap, "rst", 1)
    values = [f"r{i}" for i in range(20)]
    produce_values(shale.bootstrap, "rst", values, 1, [base_ts + i * 1000 for i in range(20)])
    assert consume_confluent(shale.bootstrap, "grp-rst", "rst", 20) == values
    assert committed(shale.bootstrap, "grp-rst", "rst", 1) == [20]

    # confluent-kafka, by offset: a consumer outside the group's generation commits offset 5.
    admin = in_process_consumer(shale.bootstrap, "grp-rst")
    admin.commit(offsets=[ck.TopicPartition("rst", 0, 5)], asynchronous=False)
    admin.close()
    assert committed(shale.bootstrap, "grp-rst", "rst", 1) == [5]
    assert consume_confluent(shale.bootstrap, "grp-rst", "rst", 15) == values[5:]

    # confluent-kafka, by timestamp: offsets_for_times, then commit what it found.
    admin = in_process_consumer(shale.bootstrap, "grp-rst")
    found = admin.offsets_for_times([ck.TopicPartition("rst", 0, base_ts + 12_000)], 10)
    assert found[0].offset == 12
    admin.commit(offsets=found, asynchronous=False)
    admin.close()
    assert consume_confluent(shale.bootstrap, "grp-rst", "rst", 8) == values[12:]

    # kafka-python, by timestamp (between two records: the next one) and replay with it.
    kafka = pytest.importorskip("kafka")
    from kafka.structs import OffsetAndMetadata, TopicPartition
    tp = TopicPartition("rst", 0)
    kc = kafka.KafkaConsumer(bootstrap_servers=shale.bootstrap, group_id="grp-rst",
                             enable_auto_commit=False)
    kc.assign([tp])
    at = kc.offsets_for_times({tp: base_ts + 16_500})[tp]
    assert at.offset == 17
    kc.commit({tp: OffsetAndMetadata(at.offset, "")})
    kc.close()
    assert committed(shale.bootstrap, "grp-rst", "rst", 1) == [17]
    kadmin = kafka.KafkaAdminClient(bootstrap_servers=shale.bootstrap)
    assert kadmin.list_consumer_group_offsets("grp-rst")[tp].offset == 17
    kadmin.close()
    assert consume_kafka_python(shale.bootstrap, "grp-rst", "rst", 3) == values[17:]
    assert committed(shale.bootstrap, "grp-rst", "rst", 1) == [20]
