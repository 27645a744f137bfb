"""Bad input over the raw wire (kafka_wire.RawKafka): each case asserts the error code a real Kafka
broker returns and that the broker still serves another connection afterwards. Also DeleteRecords
(confluent-kafka-python 1.7.0 here has no AdminClient.delete_records, so it is sent raw)."""
import struct
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kafka_wire import RawKafka

NONE, CORRUPT_MESSAGE, UNKNOWN_TOPIC_OR_PARTITION, OFFSET_OUT_OF_RANGE = 0, 2, 3, 1
MESSAGE_TOO_LARGE, INVALID_TOPIC_EXCEPTION, INVALID_RECORD = 10, 17, 87

# --- encoding helpers ----------------------------------------------------------------------------


def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_T = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def varint(n):
    n = (n << 1) ^ (n >> 63)  # zigzag
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def kstr(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def record_batch(values, corrupt_crc=False):
    """A magic-2 uncompressed batch of the given values (no keys, no headers)."""
    recs = b""
    for i, v in enumerate(values):
        body = b"\x00" + varint(0) + varint(i) + varint(-1) + varint(len(v)) + v + varint(0)
        recs += varint(len(body)) + body
    now = int(time.time() * 1000)
    after_crc = struct.pack(">hiqqqhii", 0, len(values) - 1, now, now, -1, -1, -1,
                            len(values)) + recs
    crc = crc32c(after_crc) ^ (0xDEADBEEF if corrupt_crc else 0)
    tail = struct.pack(">ib", -1, 2) + struct.pack(">I", crc) + after_crc
    return struct.pack(">qi", 0, len(tail)) + tail


def legacy_v1_message(value):
    """A magic-1 message set of one message (the pre-0.11 format), with a valid CRC32."""
    import zlib
    body = struct.pack(">bbq", 1, 0, int(time.time() * 1000)) + struct.pack(">i", -1) + \
        struct.pack(">i", len(value)) + value
    msg = struct.pack(">I", zlib.crc32(body)) + body
    return struct.pack(">qi", 0, len(msg)) + msg


class Reader:
    def __init__(self, b):
        self.b, self.p = b, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.p)
        self.p += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def string(self):
        n = self.take(">h")
        s = self.b[self.p:self.p + max(n, 0)].decode()
        self.p += max(n, 0)
        return None if n < 0 else s

    def skip_bytes(self):
        n = self.take(">i")
        self.p += max(n, 0)


def call(bootstrap, api_key, version, body):
    c = RawKafka(bootstrap)
    try:
        c.send_request(api_key, version, 7, body)
        r = Reader(c.read_frame())
        assert r.take(">i") == 7
        return r
    finally:
        c.close()


def produce(bootstrap, topic, partition, records):
    """Produce v3, acks=-1 -> partition error code."""
    body = struct.pack(">hhi", -1, -1, 10000) + struct.pack(">i", 1) + kstr(topic) + \
        struct.pack(">ii", 1, partition) + struct.pack(">i", len(records)) + records
    r = call(bootstrap, 0, 3, body)
    assert r.take(">i") == 1
    assert r.string() == topic
    assert r.take(">i") == 1
    p, err, _base, _ts = r.take(">ihqq")
    assert p == partition
    return err


def fetch(bootstrap, topic, partition, offset):
    """Fetch v4 -> (partition error code, high watermark)."""
    body = struct.pack(">iiiib", -1, 100, 0, 1 << 20, 0) + struct.pack(">i", 1) + kstr(topic) + \
        struct.pack(">iiqi", 1, partition, offset, 1 << 20)
    r = call(bootstrap, 1, 4, body)
    r.take(">i")  # throttle
    assert r.take(">i") == 1
    assert r.string() == topic
    assert r.take(">i") == 1
    p, err, hwm, _lso = r.take(">ihqq")
    assert p == partition
    return err, hwm


def create_topics_raw(bootstrap, names, partitions=1, replication=1):
    """CreateTopics v2 -> {name: error code}."""
    body = struct.pack(">i", len(names))
    for n in names:
        body += kstr(n) + struct.pack(">ihii", partitions, replication, 0, 0)
    body += struct.pack(">ib", 10000, 0)
    r = call(bootstrap, 19, 2, body)
    r.take(">i")
    out = {}
    for _ in range(r.take(">i")):
        name = r.string()
        out[name] = r.take(">h")
        r.string()
    return out


def delete_records_raw(bootstrap, topic, partition, offset):
    """DeleteRecords v1 -> (low watermark, error code)."""
    body = struct.pack(">i", 1) + kstr(topic) + struct.pack(">iiq", 1, partition, offset) + \
        struct.pack(">i", 10000)
    r = call(bootstrap, 21, 1, body)
    r.take(">i")
    assert r.take(">i") == 1
    assert r.string() == topic
    assert r.take(">i") == 1
    p, low, err = r.take(">iqh")
    assert p == partition
    return low, err


def create(shale, name, partitions=1, config=None):
    a = AdminClient({"bootstrap.servers": shale.bootstrap})
    a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                              config=config or {})])[name].result(10)


def assert_still_serving(shale, topic):
    """A fresh connection can still produce and fetch on `topic`."""
    err = produce(shale.bootstrap, topic, 0, record_batch([b"still-alive"]))
    assert err == NONE
    err, hwm = fetch(shale.bootstrap, topic, 0, 0)
    assert err == NONE and hwm >= 1


# --- tests ---------------------------------------------------------------------------------------


def test_crc32c_helper_matches_known_vector():
    assert crc32c(b"123456789") == 0xE3069283


def test_corrupted_batch_crc_is_corrupt_message(shale):
    create(shale, "crc")
    assert produce(shale.bootstrap, "crc", 0, record_batch([b"x"], corrupt_crc=True)) == \
        CORRUPT_MESSAGE
    assert fetch(shale.bootstrap, "crc", 0, 0) == (NONE, 0)  # nothing was appended
    assert_still_serving(shale, "crc")


def test_batch_larger_than_max_message_bytes_is_message_too_large(shale):
    create(shale, "big", config={"max.message.bytes": "2000"})
    assert produce(shale.bootstrap, "big", 0, record_batch([b"v" * 4000])) == MESSAGE_TOO_LARGE
    assert produce(shale.bootstrap, "big", 0, record_batch([b"v" * 1000])) == NONE
    # The exact boundary: Kafka compares RecordBatch.sizeInBytes() (with the 12-byte offset and
    # length prefix) against max.message.bytes, so a batch of exactly 2000 bytes is accepted.
    v = 2000 - (len(record_batch([b"v" * 1900])) - 1900)
    exact, over = record_batch([b"v" * v]), record_batch([b"v" * (v + 1)])
    assert (len(exact), len(over)) == (2000, 2001)
    assert produce(shale.bootstrap, "big", 0, exact) == NONE
    assert produce(shale.bootstrap, "big", 0, over) == MESSAGE_TOO_LARGE
    assert fetch(shale.bootstrap, "big", 0, 0) == (NONE, 2)
    assert_still_serving(shale, "big")


def test_invalid_topic_names_are_invalid_topic_exception(shale):
    bad = ["", ".", "..", "has space", "slash/name", "x" * 250, "star*"]
    got = create_topics_raw(shale.bootstrap, bad + ["fine_name-1.ok"])
    for name in bad:
        assert got[name] == INVALID_TOPIC_EXCEPTION, (name, got[name])
    assert got["fine_name-1.ok"] == NONE
    assert_still_serving(shale, "fine_name-1.ok")


def test_invalid_partition_count_and_replication_factor(shale):
    INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR = 37, 38
    assert create_topics_raw(shale.bootstrap, ["p0"], partitions=0) == {"p0": INVALID_PARTITIONS}
    assert create_topics_raw(shale.bootstrap, ["pneg"], partitions=-5) == \
        {"pneg": INVALID_PARTITIONS}
    assert create_topics_raw(shale.bootstrap, ["r0"], replication=0) == \
        {"r0": INVALID_REPLICATION_FACTOR}
    assert create_topics_raw(shale.bootstrap, ["ok"], partitions=1) == {"ok": NONE}
    assert_still_serving(shale, "ok")


def test_unknown_topic_and_partition(shale):
    # Auto-create is on by default, but only Metadata creates; Produce/Fetch must not.
    create(shale, "known", partitions=2)
    assert produce(shale.bootstrap, "nope", 0, record_batch([b"x"])) == UNKNOWN_TOPIC_OR_PARTITION
    assert fetch(shale.bootstrap, "nope", 0, 0)[0] == UNKNOWN_TOPIC_OR_PARTITION
    assert produce(shale.bootstrap, "known", 2, record_batch([b"x"])) == \
        UNKNOWN_TOPIC_OR_PARTITION
    assert fetch(shale.bootstrap, "known", 5, 0)[0] == UNKNOWN_TOPIC_OR_PARTITION
    assert_still_serving(shale, "known")


def test_fetch_out_of_range_offset(shale):
    create(shale, "oor")
    assert produce(shale.bootstrap, "oor", 0, record_batch([b"a", b"b", b"c"])) == NONE
    assert fetch(shale.bootstrap, "oor", 0, 3) == (NONE, 3)  # the end itself is in range
    assert fetch(shale.bootstrap, "oor", 0, 4)[0] == OFFSET_OUT_OF_RANGE
    assert fetch(shale.bootstrap, "oor", 0, -5)[0] == OFFSET_OUT_OF_RANGE
    assert_still_serving(shale, "oor")


def test_magic_v1_batch_in_produce_v3_is_refused(shale):
    # Kafka: KafkaApis.handleProduceRequest calls ProduceRequest.validateRecords(version, records),
    # which throws InvalidRecordException("Produce requests with version N are only allowed to
    # contain record batches with magic version 2") for a v1 message set; the ApiException is
    # mapped with Errors.forException. Since Kafka 2.5 (KIP-467) that exception is
    # org.apache.kafka.common.InvalidRecordException -> INVALID_RECORD (87); Kafka 0.11-2.4 used
    # the record.InvalidRecordException subclass of CorruptRecordException -> CORRUPT_MESSAGE (2).
    create(shale, "legacy")
    err = produce(shale.bootstrap, "legacy", 0, legacy_v1_message(b"old"))
    assert err == INVALID_RECORD, err  # Shale answers as Kafka 3.9 does
    assert fetch(shale.bootstrap, "legacy", 0, 0) == (NONE, 0)
    assert_still_serving(shale, "legacy")


def test_delete_records_moves_low_watermark_and_consumers_start_there(shale):
    create(shale, "dr")
    p = Producer({"bootstrap.servers": shale.bootstrap, "acks": "all", "linger.ms": 0})
    for i in range(20):
        p.produce("dr", value=f"m{i}".encode(), partition=0)
        p.flush(10)  # one batch per message: DeleteRecords can cut between any two
    low, err = delete_records_raw(shale.bootstrap, "dr", 0, 12)
    assert (low, err) == (12, NONE)
    # Beyond the high watermark: OFFSET_OUT_OF_RANGE, low watermark unchanged.
    assert delete_records_raw(shale.bootstrap, "dr", 0, 21)[1] == OFFSET_OUT_OF_RANGE
    c = Consumer({"bootstrap.servers": shale.bootstrap, "group.id": "dr",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    lo, hi = c.get_watermark_offsets(TopicPartition("dr", 0), timeout=10)
    assert (lo, hi) == (12, 20)
    assert fetch(shale.bootstrap, "dr", 0, 5)[0] == OFFSET_OUT_OF_RANGE
    c.assign([TopicPartition("dr", 0, -2)])  # OFFSET_BEGINNING
    got = []
    deadline = time.time() + 20
    while len(got) < 8 and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append((m.offset(), m.value()))
    c.close()
    assert got == [(i, f"m{i}".encode()) for i in range(12, 20)]
    # Offset -1 means "the high watermark" (Kafka's DeleteRecordsRequest.HIGH_WATERMARK).
    assert delete_records_raw(shale.bootstrap, "dr", 0, -1) == (20, NONE)
    assert fetch(shale.bootstrap, "dr", 0, 19)[0] == OFFSET_OUT_OF_RANGE
    assert delete_records_raw(shale.bootstrap, "nope", 0, 1)[1] == UNKNOWN_TOPIC_OR_PARTITION


def test_garbage_frame_does_not_kill_broker(shale):
    create(shale, "g")
    c = RawKafka(shale.bootstrap)
    c.send_raw(struct.pack(">i", 12) + b"\xff" * 12)
    assert c.closed_by_peer()
    c.close()
    assert_still_serving(shale, "g")
