"""Real clients against `shale serve`: kcat, confluent-kafka-python (librdkafka) and kafka-python.
Every compression codec, headers, null keys/values, max.message.bytes, admin APIs, ListOffsets by
timestamp, and retention removing data."""
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def admin(shale):
    return AdminClient({"bootstrap.servers": shale.bootstrap})


def create(shale, name, partitions=1, config=None):
    a = admin(shale)
    a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                              config=config or {})])[name].result(10)


def consume_all(shale, topic, count, partition=0, start=-2, timeout=20):
    c = Consumer({"bootstrap.servers": shale.bootstrap, "group.id": "compat",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, partition, start)])
    got = []
    deadline = time.time() + timeout
    while len(got) < count and time.time() < deadline:
        m = c.poll(0.3)
        if m is None:
            continue
        assert m.error() is None, m.error()
        got.append(m)
    c.close()
    return got


def records(n, tag):
    """(key, value, headers) with some null keys, null values, binary bytes and repeated headers.
    Never both null (kafka-python refuses that)."""
    out = []
    for i in range(n):
        key = None if i % 5 == 0 else f"{tag}-k{i}".encode()
        value = None if i % 7 == 3 and key is not None else (bytes(range(256)) * (i % 4) + f"{tag}-v{i}".encode())
        headers = [("h", f"{i}".encode()), ("h", b"\x00\xff"), ("empty", b"")] if i % 2 else []
        out.append((key, value, headers))
    return out


# --- confluent-kafka-python ----------------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS)
def test_confluent_roundtrip_every_codec(shale, codec):
    topic = f"cf-{codec}"
    create(shale, topic)
    p = Producer({"bootstrap.servers": shale.bootstrap, "acks": "all", "linger.ms": 20,
                  "compression.type": codec})
    want = records(200, codec)
    errs = []
    for k, v, h in want:
        p.produce(topic, key=k, value=v, headers=h or None, partition=0,
                  on_delivery=lambda e, m: errs.append(e))
    assert p.flush(20) == 0
    assert errs == [None] * len(want)
    got = consume_all(shale, topic, len(want))
    assert [m.offset() for m in got] == list(range(len(want)))
    assert [(m.key(), m.value(), m.headers() or []) for m in got] == want


def test_kafka_python_consumes_what_confluent_compressed(shale):
    """Cross-client: librdkafka writes each codec, kafka-python decodes it (and vice versa below)."""
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    create(shale, "xc")
    want = []
    for codec in CODECS:
        p = Producer({"bootstrap.servers": shale.bootstrap, "compression.type": codec,
                      "linger.ms": 5})
        for i in range(10):
            want.append((f"{codec}{i}".encode(), f"val-{codec}-{i}".encode() * 10))
            p.produce("xc", key=want[-1][0], value=want[-1][1], partition=0,
                      headers=[("codec", codec.encode())])
        assert p.flush(20) == 0
    c = KafkaConsumer(bootstrap_servers=shale.bootstrap, auto_offset_reset="earliest",
                      enable_auto_commit=False, consumer_timeout_ms=10000)
    c.assign([KTP("xc", 0)])
    c.seek_to_beginning()
    got = []
    for m in c:
        got.append(m)
        if len(got) == len(want):
            break
    c.close()
    assert [(m.key, m.value) for m in got] == want
    assert [dict(m.headers)["codec"] for m in got] == [c.encode() for c in CODECS for _ in range(10)]


# --- kafka-python --------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
def test_kafka_python_roundtrip_every_codec(shale, codec):
    from kafka import KafkaProducer
    topic = f"kp-{codec or 'none'}"
    create(shale, topic)
    try:
        p = KafkaProducer(bootstrap_servers=shale.bootstrap, acks="all", linger_ms=20,
                          compression_type=codec)
    except AssertionError as e:  # kafka-python asserts the codec library is importable
        pytest.fail(f"kafka-python cannot use {codec} here: {e}")
    want = records(100, codec or "none")
    futs = [p.send(topic, key=k, value=v, headers=h, partition=0) for k, v, h in want]
    offsets = [f.get(timeout=20).offset for f in futs]
    p.close()
    assert offsets == list(range(len(want)))
    # Read back with librdkafka: proves kafka-python's encoding is what Kafka clients expect.
    got = consume_all(shale, topic, len(want))
    assert [(m.key(), m.value(), m.headers() or []) for m in got] == want


# --- kcat ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS)
def test_kcat_roundtrip_every_codec(shale, codec):
    topic = f"kc-{codec}"
    create(shale, topic)
    lines = [f"k{i}\tvalue-{codec}-{i}" for i in range(300)]
    out = subprocess.run(["kcat", "-b", shale.bootstrap, "-P", "-t", topic, "-p", "0", "-K\t",
                          "-z", codec, "-H", "hk=hv", "-X", "linger.ms=20"],
                         input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    out = subprocess.run(["kcat", "-b", shale.bootstrap, "-C", "-t", topic, "-p", "0",
                          "-o", "beginning", "-c", "300", "-e", "-q", "-f", "%o|%k|%s|%h\n"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"{i}|k{i}|value-{codec}-{i}|hk=hv" for i in range(300)]


def test_kcat_null_key_and_tombstone(shale):
    create(shale, "kcnull")
    # kcat -Z produces an empty key or value as NULL.
    out = subprocess.run(["kcat", "-b", shale.bootstrap, "-P", "-t", "kcnull", "-p", "0", "-K:",
                          "-Z"], input=":v0\ndead:\n", capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    got = consume_all(shale, "kcnull", 2)
    assert [(m.key(), m.value()) for m in got] == [(None, b"v0"), (b"dead", None)]
    out = subprocess.run(["kcat", "-b", shale.bootstrap, "-C", "-t", "kcnull", "-p", "0",
                          "-o", "beginning", "-c", "2", "-e", "-q", "-Z", "-f", "%K:%k|%S:%s\n"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    # -Z prints NULL for null keys/values; %K/%S print -1 for a null key/value length.
    assert out.stdout.splitlines() == ["-1:NULL|2:v0", "4:dead|-1:NULL"]


# --- max.message.bytes ---------------------------------------------------------------------------


def test_max_message_bytes_boundary_confluent(shale):
    limit = 20000
    create(shale, "mmb", config={"max.message.bytes": str(limit)})
    p = Producer({"bootstrap.servers": shale.bootstrap, "acks": "all", "linger.ms": 0,
                  "compression.type": "none", "enable.idempotence": False})
    results = {}

    def cb(name):
        return lambda err, msg: results.__setitem__(name, err)
    # One record alone in a v2 batch: 61 bytes of batch header + ~10 of record framing.
    p.produce("mmb", value=b"a" * (limit - 100), partition=0, on_delivery=cb("fits"))
    p.flush(10)
    p.produce("mmb", value=b"b" * (limit + 100), partition=0, on_delivery=cb("too_big"))
    p.flush(10)
    assert results["fits"] is None
    assert results["too_big"] is not None
    assert results["too_big"].code() == KafkaError.MSG_SIZE_TOO_LARGE, results["too_big"]
    got = consume_all(shale, "mmb", 1)
    assert len(got) == 1 and got[0].value() == b"a" * (limit - 100)


def test_max_message_bytes_kafka_python(shale):
    from kafka import KafkaProducer
    from kafka.errors import MessageSizeTooLargeError
    create(shale, "mmbk", config={"max.message.bytes": "5000"})
    p = KafkaProducer(bootstrap_servers=shale.bootstrap, acks="all", retries=0)
    assert p.send("mmbk", value=b"x" * 4800, partition=0).get(timeout=10).offset == 0
    with pytest.raises(MessageSizeTooLargeError):
        p.send("mmbk", value=b"y" * 6000, partition=0).get(timeout=10)
    p.close()


# --- admin APIs ----------------------------------------------------------------------------------


def test_confluent_admin_create_describe_alter_delete(shale):
    a = admin(shale)
    fs = a.create_topics([NewTopic("adm1", 3, 1, config={"retention.ms": "3600000"}),
                          NewTopic("adm2", 1, 1)])
    for f in fs.values():
        f.result(10)
    with pytest.raises(Exception) as ei:
        a.create_topics([NewTopic("adm1", 1, 1)])["adm1"].result(10)
    assert ei.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS
    md = a.list_topics(timeout=10)
    assert len(md.topics["adm1"].partitions) == 3
    res = ConfigResource("topic", "adm1")
    cfg = a.describe_configs([res])[res].result(10)
    assert cfg["retention.ms"].value == "3600000"
    res2 = ConfigResource("topic", "adm1", set_config={"retention.ms": "7200000",
                                                      "max.message.bytes": "123456"})
    a.alter_configs([res2])[res2].result(10)
    cfg = a.describe_configs([res])[res].result(10)
    assert cfg["retention.ms"].value == "7200000"
    assert cfg["max.message.bytes"].value == "123456"
    for f in a.delete_topics(["adm1", "adm2"], operation_timeout=10).values():
        f.result(10)
    deadline = time.time() + 10
    while time.time() < deadline:
        names = set(a.list_topics(timeout=10).topics)
        if not {"adm1", "adm2"} & names:
            break
        time.sleep(0.2)
    assert not {"adm1", "adm2"} & set(a.list_topics(timeout=10).topics)


def test_kafka_python_admin_create_describe_alter_delete(shale):
    from kafka.admin import ConfigResource as KCR
    from kafka.admin import ConfigResourceType, KafkaAdminClient
    from kafka.admin import NewTopic as KNT
    from kafka.errors import InvalidTopicError
    a = KafkaAdminClient(bootstrap_servers=shale.bootstrap)
    r = a.create_topics([KNT("kadm", 2, 1, topic_configs={"cleanup.policy": "delete"})])
    assert [e[1] for e in r.topic_errors] == [0]
    with pytest.raises(InvalidTopicError):  # error code 17, INVALID_TOPIC_EXCEPTION
        a.create_topics([KNT("bad name!", 1, 1)])
    assert "kadm" in a.list_topics()
    (d,) = a.describe_topics(["kadm"])
    assert d["error_code"] == 0 and len(d["partitions"]) == 2
    r = a.alter_configs([KCR(ConfigResourceType.TOPIC, "kadm",
                             configs={"retention.bytes": "1048576"})])
    assert [x[0] for x in r.resources] == [0]
    r = a.describe_configs([KCR(ConfigResourceType.TOPIC, "kadm")])
    entries = {e[0]: e[1] for e in r[0].resources[0][4]}
    assert entries["retention.bytes"] == "1048576"
    assert entries["cleanup.policy"] == "delete"
    r = a.delete_topics(["kadm"], timeout_ms=10000)
    assert [e[1] for e in r.topic_error_codes] == [0]
    a.close()


# --- ListOffsets by timestamp --------------------------------------------------------------------


def produce_with_timestamps(shale, topic, stamps):
    p = Producer({"bootstrap.servers": shale.bootstrap, "acks": "all", "linger.ms": 0})
    for i, ts in enumerate(stamps):
        p.produce(topic, value=f"t{i}".encode(), partition=0, timestamp=ts)
        p.flush(10)  # one batch each, so the broker must search inside its index, not one batch


def test_offsets_for_times_confluent_and_kafka_python(shale):
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    create(shale, "tsq")
    base = int(time.time() * 1000) - 100000
    stamps = [base + 1000 * i for i in range(10)]  # offsets 0..9 at base, base+1s, ...
    produce_with_timestamps(shale, "tsq", stamps)
    queries = {base - 5: 0, base: 0, base + 1: 1, base + 4500: 5, base + 9000: 9,
               base + 9001: -1}
    c = Consumer({"bootstrap.servers": shale.bootstrap, "group.id": "tsq"})
    for ts, want in queries.items():
        (r,) = c.offsets_for_times([TopicPartition("tsq", 0, ts)], timeout=10)
        assert r.error is None
        assert r.offset == want, (ts, r.offset, want)
    c.close()
    k = KafkaConsumer(bootstrap_servers=shale.bootstrap)
    for ts, want in queries.items():
        r = k.offsets_for_times({KTP("tsq", 0): ts})[KTP("tsq", 0)]
        if want == -1:
            assert r is None
        else:
            assert (r.offset, r.timestamp) == (want, stamps[want])
    assert k.beginning_offsets([KTP("tsq", 0)]) == {KTP("tsq", 0): 0}
    assert k.end_offsets([KTP("tsq", 0)]) == {KTP("tsq", 0): 10}
    k.close()


# --- retention -----------------------------------------------------------------------------------


def wait_low_watermark(shale, topic, pred, timeout):
    c = Consumer({"bootstrap.servers": shale.bootstrap, "group.id": "ret"})
    deadline = time.time() + timeout
    lo = hi = None
    while time.time() < deadline:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=5)
        if pred(lo, hi):
            break
        time.sleep(0.3)
    c.close()
    return lo, hi


def test_retention_ms_and_bytes_remove_old_data(shale_factory):
    s = shale_factory("--upload-interval-ms", "100", "--delete-grace-ms", "100")
    create(s, "rms", config={"retention.ms": "1500"})
    create(s, "rbytes", config={"retention.bytes": "20000"})
    p = Producer({"bootstrap.servers": s.bootstrap, "acks": "all", "linger.ms": 0})
    for i in range(20):  # spread over several uploads, so several slices exist
        p.produce("rms", value=b"old" * 1000, partition=0)
        p.produce("rbytes", value=b"B" * 2000 + str(i).encode(), partition=0)
        p.flush(10)
        time.sleep(0.05)
    # Time retention: after ~1.5 s every slice is too old; the low watermark moves to the end.
    lo, hi = wait_low_watermark(s, "rms", lambda lo, hi: lo == hi, 20)
    assert (lo, hi) == (20, 20)
    # The data is gone: consuming from the beginning starts at the new low watermark.
    p.produce("rms", value=b"new", partition=0)
    p.flush(10)
    got = consume_all(s, "rms", 1)
    assert [(m.offset(), m.value()) for m in got] == [(20, b"new")]
    # Size retention: the partition keeps at least 20000 bytes but not everything.
    lo, hi = wait_low_watermark(s, "rbytes", lambda lo, hi: lo > 0, 20)
    assert hi == 20 and 0 < lo < 20 - 20000 // 2100 + 1, (lo, hi)
    got = consume_all(s, "rbytes", hi - lo)
    assert got[0].offset() == lo
    assert got[-1].value() == b"B" * 2000 + b"19"
