"""Produce and consume through real clients: kcat, confluent-kafka-python, kafka-python."""
import subprocess
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def create(shale, name, partitions=1):
    a = AdminClient({"bootstrap.servers": shale.bootstrap})  # alive until the future resolves
    a.create_topics([NewTopic(name, num_partitions=partitions,
                              replication_factor=1)])[name].result(10)


def kcat_consume(shale, topic, count, partition=0):
    out = subprocess.run(["kcat", "-b", shale.bootstrap, "-C", "-t", topic, "-p", str(partition),
                          "-o", "beginning", "-c", str(count), "-e", "-q", "-f", "%k=%s\n"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_kcat_produce_then_consume(shale):
    create(shale, "k1")
    data = "".join(f"key{i}:value{i}\n" for i in range(100))
    out = subprocess.run(["kcat", "-b", shale.bootstrap, "-P", "-t", "k1", "-p", "0", "-K:"],
                         input=data, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert kcat_consume(shale, "k1", 100) == [f"key{i}=value{i}" for i in range(100)]


def test_confluent_producer_acks_all_and_consumer(shale):
    create(shale, "c1", partitions=2)
    p = Producer({"bootstrap.servers": shale.bootstrap, "acks": "all",
                  "enable.idempotence": False, "linger.ms": 5, "compression.type": "lz4"})
    delivered = []
    for i in range(1000):
        p.produce("c1", key=str(i % 2), value=f"m{i}".encode(), partition=i % 2,
                  on_delivery=lambda err, msg: delivered.append((err, msg.offset())))
    assert p.flush(30) == 0
    assert all(err is None for err, _ in delivered)

    c = Consumer({"bootstrap.servers": shale.bootstrap, "group.id": "unused",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.assign([TopicPartition("c1", 0, 0), TopicPartition("c1", 1, 0)])
    got = {0: [], 1: []}
    deadline = time.time() + 30
    while sum(map(len, got.values())) < 1000 and time.time() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        got[m.partition()].append(m.value().decode())
    c.close()
    assert got[0] == [f"m{i}" for i in range(0, 1000, 2)]
    assert got[1] == [f"m{i}" for i in range(1, 1000, 2)]


def test_kafka_python_roundtrip(shale):
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KTP
    create(shale, "kp1")
    p = KafkaProducer(bootstrap_servers=shale.bootstrap, acks=1)
    for i in range(50):
        p.send("kp1", key=b"k", value=f"v{i}".encode(), partition=0)
    p.flush(timeout=30)
    p.close()
    c = KafkaConsumer(bootstrap_servers=shale.bootstrap, group_id=None,
                      auto_offset_reset="earliest", consumer_timeout_ms=5000)
    c.assign([KTP("kp1", 0)])
    values = [m.value.decode() for m in c][:50]
    c.close()
    assert values == [f"v{i}" for i in range(50)]


def test_acks_zero_produce_is_not_answered_but_stored(shale):
    create(shale, "a0")
    p = Producer({"bootstrap.servers": shale.bootstrap, "acks": 0, "linger.ms": 1})
    for i in range(20):
        p.produce("a0", value=f"z{i}".encode(), partition=0)
    assert p.flush(10) == 0
    # flush() returns once the requests are sent: nothing tells an acks=0 producer when they are
    # stored, so wait for the high watermark before reading (kcat -e stops at the current end).
    c = Consumer({"bootstrap.servers": shale.bootstrap, "group.id": "a0-watch"})
    deadline = time.time() + 10
    while c.get_watermark_offsets(TopicPartition("a0", 0), timeout=5)[1] < 20:
        assert time.time() < deadline, "acks=0 records were not stored within 10 s"
        time.sleep(0.05)
    c.close()
    lines = kcat_consume(shale, "a0", 20)
    assert [line.split("=", 1)[1] for line in lines] == [f"z{i}" for i in range(20)]


def test_produced_data_survives_restart(tmp_path):
    from conftest import Shale
    s = Shale(tmp_path)
    try:
        create(s, "keep")
        p = Producer({"bootstrap.servers": s.bootstrap, "acks": "all"})
        for i in range(10):
            p.produce("keep", value=f"r{i}".encode(), partition=0)
        assert p.flush(10) == 0
    finally:
        assert s.stop()[0] == 0
    s2 = Shale(tmp_path)
    try:
        lines = kcat_consume(s2, "keep", 10)
        assert [line.split("=", 1)[1] for line in lines] == [f"r{i}" for i in range(10)]
    finally:
        assert s2.stop()[0] == 0
