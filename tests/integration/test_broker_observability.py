"""Issue #3 gaps, through real clients and the raw wire: DescribeLogDirs partition sizes, per-topic
and per-partition metrics on /metrics, the API versions real clients negotiate (flexible ones
included, counted by kafka_requests_by_version_total), and a topic deleted under its users.

kafka-python 2.0.2 and confluent-kafka 1.7.0 here have no describe_log_dirs, so DescribeLogDirs
is sent raw (kafka_wire); the helpers come from test_compat_wire."""
import struct
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from test_compat_wire import (NONE, OFFSET_OUT_OF_RANGE, UNKNOWN_TOPIC_OR_PARTITION, call, create,
                              delete_records_raw, fetch, kstr, produce, record_batch)


def describe_log_dirs(bootstrap):
    """DescribeLogDirs v1 for every topic -> {(topic, partition): partition size}."""
    r = call(bootstrap, 35, 1, struct.pack(">i", -1))
    r.take(">i")  # throttle
    sizes = {}
    for _ in range(r.take(">i")):
        assert r.take(">h") == NONE
        r.string()  # log dir
        for _ in range(r.take(">i")):
            name = r.string()
            for _ in range(r.take(">i")):
                p, size, lag, future = r.take(">iqqb")
                assert (lag, future) == (0, 0)
                sizes[(name, p)] = size
    return sizes


def metadata_topic_error(bootstrap, topic):
    """Metadata v4 for one topic, auto-creation off -> the topic's error code."""
    r = call(bootstrap, 3, 4, struct.pack(">i", 1) + kstr(topic) + b"\x00")
    r.take(">i")  # throttle
    for _ in range(r.take(">i")):
        r.take(">i")
        r.string()
        r.take(">i")
        r.string()
    r.string()  # cluster id
    r.take(">i")  # controller
    assert r.take(">i") == 1
    err = r.take(">h")
    assert r.string() == topic
    return err


def scrape(shale):
    """/metrics -> {'name{labels}': value} (Prometheus text, comments skipped)."""
    status, text = shale.http_get("/metrics")
    assert status == 200
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def produce_all(bootstrap, topic, values, partition=0):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    for v in values:
        p.produce(topic, value=v, partition=partition)
    assert p.flush(15) == 0


def consume_all(bootstrap, topic, n, group):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    got = []
    deadline = time.time() + 30
    while len(got) < n and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append(m.value())
    c.commit(asynchronous=False)  # OffsetCommit
    c.committed([TopicPartition(topic, 0)], timeout=10)  # OffsetFetch
    c.close()
    return got


def test_describe_log_dirs_reports_partition_sizes(shale):
    create(shale, "sized", partitions=2)
    values = [bytes([65 + i % 26]) * 1000 for i in range(20)]
    produce_all(shale.bootstrap, "sized", values)
    sizes = describe_log_dirs(shale.bootstrap)
    # Record batches: the 20 KB of values plus per-record and per-batch framing.
    assert 20_000 < sizes[("sized", 0)] < 30_000, sizes
    assert sizes[("sized", 1)] == 0
    # The same number on /metrics.
    m = scrape(shale)
    assert m['kafka_partition_size_bytes{topic="sized",partition="0"}'] == sizes[("sized", 0)]
    # DeleteRecords to the high watermark: nothing is left between start and end.
    assert delete_records_raw(shale.bootstrap, "sized", 0, -1) == (20, NONE)
    assert describe_log_dirs(shale.bootstrap)[("sized", 0)] == 0
    m = scrape(shale)
    assert m['kafka_partition_log_start_offset{topic="sized",partition="0"}'] == 20
    assert m['kafka_partition_size_bytes{topic="sized",partition="0"}'] == 0


def test_per_topic_metrics_move_after_produce_and_consume(shale):
    create(shale, "m")
    before = scrape(shale)
    assert 'kafka_topic_messages_in_total{topic="m"}' not in before  # no traffic yet
    assert before['kafka_partition_high_watermark{topic="m",partition="0"}'] == 0
    values = [f"value-{i}".encode() for i in range(10)]
    produce_all(shale.bootstrap, "m", values)
    assert consume_all(shale.bootstrap, "m", 10, "g-m") == values

    m = scrape(shale)
    assert m['kafka_topic_messages_in_total{topic="m"}'] == 10
    bytes_in = m['kafka_topic_bytes_in_total{topic="m"}']
    assert bytes_in > sum(len(v) for v in values)
    assert m['kafka_topic_bytes_out_total{topic="m"}'] >= bytes_in  # everything was read back
    assert m['kafka_topic_requests_total{topic="m",api="Produce"}'] >= 1
    assert m['kafka_topic_requests_total{topic="m",api="Fetch"}'] >= 1
    assert m['kafka_partition_high_watermark{topic="m",partition="0"}'] == 10
    assert m['kafka_partition_log_start_offset{topic="m",partition="0"}'] == 0
    assert m['kafka_partition_size_bytes{topic="m",partition="0"}'] >= bytes_in

    # Errors, by topic, API and error code; names of unknown topics do not make series.
    assert fetch(shale.bootstrap, "m", 0, 99)[0] == OFFSET_OUT_OF_RANGE
    assert produce(shale.bootstrap, "no-such-topic", 0, record_batch([b"x"])) == \
        UNKNOWN_TOPIC_OR_PARTITION
    m = scrape(shale)
    assert m['kafka_topic_errors_total{topic="m",api="Fetch",error="1"}'] == 1
    assert m['kafka_topic_errors_total{topic="(unknown)",api="Produce",error="3"}'] == 1
    assert not any("no-such-topic" in k for k in m)


def test_clients_negotiate_flexible_versions_and_deleted_topics_answer_unknown(shale):
    create(shale, "flex")  # CreateTopics through librdkafka's admin client
    values = [b"f1", b"f2", b"f3"]
    produce_all(shale.bootstrap, "flex", values)
    assert consume_all(shale.bootstrap, "flex", 3, "g-flex") == values
    m = scrape(shale)
    used = {k: v for k, v in m.items() if k.startswith("kafka_requests_by_version_total") and v}

    def count(api, version):
        return m.get(f'kafka_requests_by_version_total{{api="{api}",version="{version}"}}', 0)

    # librdkafka 2.0.2 (confluent-kafka 1.7.0 here): what it negotiated against Shale's ranges.
    # ApiVersions v3 is the flexible one (header v2 request, v0 response header by KIP-511);
    # OffsetFetch v7 is flexible (6+); the rest of its choices predate flexible versions.
    assert count("ApiVersions", 3) >= 1, used
    assert count("OffsetFetch", 7) >= 1, used
    assert count("Produce", 7) >= 1, used
    assert count("Fetch", 11) >= 1, used
    assert count("Metadata", 4) >= 1, used

    # Deleting the topic: Metadata (auto-creation off) and ListOffsets-style reads answer
    # UNKNOWN_TOPIC_OR_PARTITION, and the broker keeps serving.
    a = AdminClient({"bootstrap.servers": shale.bootstrap})
    a.delete_topics(["flex"])["flex"].result(10)
    assert metadata_topic_error(shale.bootstrap, "flex") == UNKNOWN_TOPIC_OR_PARTITION
    assert fetch(shale.bootstrap, "flex", 0, 0)[0] == UNKNOWN_TOPIC_OR_PARTITION
    assert 'kafka_partition_high_watermark{topic="flex",partition="0"}' not in scrape(shale)
    create(shale, "flex2")
    assert produce(shale.bootstrap, "flex2", 0, record_batch([b"alive"])) == NONE
