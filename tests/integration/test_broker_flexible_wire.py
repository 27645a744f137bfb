"""Flexible versions (KIP-482: compact strings/arrays, tagged fields, request header v2, response
header v1) of CreateTopics v7, Produce v9, Fetch v12 and Metadata v12 over a real socket.

No client installed here negotiates these (librdkafka 2.0.2, kafkajs 2.2.4 and kafka-python 2.0.2
stop below the first flexible version; see src/kafka/server/README.md), so the frames are encoded
by hand, and /metrics' kafka_requests_by_version_total must show that these versions were served."""
import struct
import uuid

from kafka_wire import RawKafka
from test_broker_observability import scrape
from test_compat_wire import NONE, Reader, record_batch, varint


def uvarint(n):
    """Unsigned varint: test_compat_wire.varint zigzag-encodes, so hand it the zigzag inverse."""
    return varint((n >> 1) ^ -(n & 1))


def cstr(s):
    """Compact (nullable) string: length + 1 as an unsigned varint, 0 = null."""
    if s is None:
        return b"\x00"
    b = s.encode()
    return uvarint(len(b) + 1) + b


def carray(items):
    return uvarint(len(items) + 1) + b"".join(items)


TAGS = b"\x00"  # an empty tagged-field section


class FlexReader(Reader):
    """test_compat_wire.Reader (fixed-width fields) plus the compact/tagged encodings."""

    def uvarint(self):
        n = shift = 0
        while True:
            c = self.b[self.p]
            self.p += 1
            n |= (c & 0x7F) << shift
            if not c & 0x80:
                return n
            shift += 7

    def cstr(self):
        n = self.uvarint()
        if n == 0:
            return None
        s = self.b[self.p:self.p + n - 1]
        self.p += n - 1
        return s.decode()

    def cbytes(self):
        n = self.uvarint()
        s = self.b[self.p:self.p + max(n - 1, 0)]
        self.p += max(n - 1, 0)
        return None if n == 0 else s

    def count(self):
        """Compact array length; -1 for null."""
        return self.uvarint() - 1

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()  # tag
            self.p += self.uvarint()  # size, then skip the value


def call_flex(bootstrap, api_key, version, body):
    c = RawKafka(bootstrap)
    try:
        c.send_request(api_key, version, 9, body, flexible_header=True)
        r = FlexReader(c.read_frame())
        assert r.take(">i") == 9
        r.tags()  # response header v1
        return r
    finally:
        c.close()


def create_topics_v7(bootstrap, name, partitions):
    topic = cstr(name) + struct.pack(">ih", partitions, 1) + carray([]) + carray([]) + TAGS
    r = call_flex(bootstrap, 19, 7, carray([topic]) + struct.pack(">i?", 10000, False) + TAGS)
    r.take(">i")
    assert r.count() == 1
    assert r.cstr() == name
    topic_id = r.b[r.p:r.p + 16]
    r.p += 16
    err = r.take(">h")
    msg = r.cstr()
    nparts, rf = r.take(">ih")  # TopicConfigErrorCode is tagged: in the section at the end
    return err, msg, uuid.UUID(bytes=topic_id), nparts, rf


def produce_v9(bootstrap, topic, partition, records):
    part = struct.pack(">i", partition) + uvarint(len(records) + 1) + records + TAGS
    body = cstr(None) + struct.pack(">hi", -1, 10000) + \
        carray([cstr(topic) + carray([part]) + TAGS]) + TAGS
    r = call_flex(bootstrap, 0, 9, body)
    assert r.count() == 1
    assert r.cstr() == topic
    assert r.count() == 1
    p, err, base, _append_ts, log_start = r.take(">ihqqq")
    assert p == partition
    return err, base, log_start


def fetch_v12(bootstrap, topic, partition, offset):
    part = struct.pack(">iiqiqi", partition, -1, offset, -1, -1, 1 << 20) + TAGS
    body = struct.pack(">iiiibii", -1, 100, 0, 1 << 20, 0, 0, -1) + \
        carray([cstr(topic) + carray([part]) + TAGS]) + carray([]) + cstr("") + TAGS
    r = call_flex(bootstrap, 1, 12, body)
    r.take(">i")  # throttle
    assert r.take(">hi") == (NONE, 0)  # error, session id (sessionless)
    assert r.count() == 1
    assert r.cstr() == topic
    assert r.count() == 1
    p, err, hwm, _lso, _start = r.take(">ihqqq")
    assert p == partition
    assert r.count() == -1  # aborted transactions: null for read_uncommitted
    r.take(">i")  # preferred read replica
    return err, hwm, r.cbytes()


def metadata_v12(bootstrap, topic):
    body = carray([bytes(16) + cstr(topic) + TAGS]) + struct.pack(">??", False, False) + TAGS
    r = call_flex(bootstrap, 3, 12, body)
    r.take(">i")
    for _ in range(r.count()):
        r.take(">i")
        r.cstr()
        r.take(">i")
        r.cstr()
        r.tags()
    r.cstr()  # cluster id
    r.take(">i")
    assert r.count() == 1
    err = r.take(">h")
    assert r.cstr() == topic
    topic_id = uuid.UUID(bytes=r.b[r.p:r.p + 16])
    r.p += 16
    r.take(">?")
    return err, topic_id, r.count()


def test_flexible_create_produce_fetch_metadata_over_the_wire(shale):
    err, msg, topic_id, nparts, rf = create_topics_v7(shale.bootstrap, "flexwire", 3)
    assert (err, msg, nparts, rf) == (NONE, None, 3, 1)
    assert topic_id != uuid.UUID(int=0)
    batch = record_batch([b"one", b"two"])
    assert produce_v9(shale.bootstrap, "flexwire", 1, batch) == (NONE, 0, 0)
    assert produce_v9(shale.bootstrap, "flexwire", 1, record_batch([b"three"])) == (NONE, 2, 0)
    err, hwm, records = fetch_v12(shale.bootstrap, "flexwire", 1, 0)
    assert (err, hwm) == (NONE, 3)
    assert b"one" in records and b"two" in records and b"three" in records
    assert metadata_v12(shale.bootstrap, "flexwire") == (NONE, topic_id, 3)
    m = scrape(shale)
    for api, version, n in (("CreateTopics", 7, 1), ("Produce", 9, 2), ("Fetch", 12, 1),
                            ("Metadata", 12, 1)):
        assert m[f'kafka_requests_by_version_total{{api="{api}",version="{version}"}}'] == n
