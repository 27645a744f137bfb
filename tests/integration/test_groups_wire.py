"""Bad input to the group coordinator over the raw protocol: each error is Kafka's exact code,
the broker keeps serving, and another group on the same broker keeps working after each one.

Encodings are the non-flexible versions: JoinGroup v5, SyncGroup v3, Heartbeat v3,
OffsetCommit v7, DeleteGroups v1 (response header v0: correlation id only).
"""
import struct

import pytest

from conftest import Shale
from kafka_wire import RawKafka
from test_groups import wait_coordinator_loaded

ck = pytest.importorskip("confluent_kafka")
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

JOIN, SYNC, HEARTBEAT, OFFSET_COMMIT, DELETE_GROUPS = 11, 14, 12, 8, 42
ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, UNKNOWN_TOPIC_OR_PARTITION = 22, 25, 3
OFFSET_METADATA_TOO_LARGE, GROUP_MAX_SIZE_REACHED, FENCED_INSTANCE_ID = 12, 81, 82
NON_EMPTY_GROUP, MEMBER_ID_REQUIRED = 68, 79


def s(v):
    if v is None:
        return struct.pack(">h", -1)
    b = v.encode()
    return struct.pack(">h", len(b)) + b


def bts(b):
    return struct.pack(">i", len(b)) + b


def arr(items):
    return struct.pack(">i", len(items)) + b"".join(items)


class Reader:
    def __init__(self, data):
        self.d, self.p = data, 0

    def i16(self):
        self.p += 2
        return struct.unpack(">h", self.d[self.p - 2:self.p])[0]

    def i32(self):
        self.p += 4
        return struct.unpack(">i", self.d[self.p - 4:self.p])[0]

    def str(self):
        n = self.i16()
        if n < 0:
            return None
        self.p += n
        return self.d[self.p - n:self.p].decode()

    def bytes(self):
        n = self.i32()
        self.p += max(n, 0)
        return self.d[self.p - n:self.p] if n >= 0 else None


class GroupWire:
    """One connection speaking the group APIs; each call returns the decoded response."""

    def __init__(self, bootstrap):
        self.raw = RawKafka(bootstrap, timeout=15)
        self.corr = 0

    def call(self, api, version, body):
        self.corr += 1
        self.raw.send_request(api, version, self.corr, body)
        r = Reader(self.raw.read_frame())
        assert r.i32() == self.corr
        return r

    @staticmethod
    def join_body(group, member="", instance=None, metadata=b"\x00\x00\x00\x00\x00\x00"):
        return (s(group) + struct.pack(">ii", 10000, 10000) + s(member) + s(instance) +
                s("consumer") + arr([s("range") + bts(metadata)]))

    def join(self, group, member="", instance=None):
        r = self.call(JOIN, 5, self.join_body(group, member, instance))
        r.i32()  # throttle
        return {"error": r.i16(), "generation": r.i32(), "protocol": r.str(), "leader": r.str(),
                "member": r.str()}

    def sync(self, group, generation, member, instance=None, assignments=()):
        body = (s(group) + struct.pack(">i", generation) + s(member) + s(instance) +
                arr([s(m) + bts(a) for m, a in assignments]))
        r = self.call(SYNC, 3, body)
        r.i32()
        return r.i16(), r.bytes()

    def heartbeat(self, group, generation, member, instance=None):
        r = self.call(HEARTBEAT, 3, s(group) + struct.pack(">i", generation) + s(member) +
                      s(instance))
        r.i32()
        return r.i16()

    def commit(self, group, generation, member, offsets, instance=None):
        """offsets: [(topic, partition, offset, metadata)] -> {(topic, partition): error}."""
        topics = {}
        for t, p, o, md in offsets:
            topics.setdefault(t, []).append(struct.pack(">iqi", p, o, -1) + s(md))
        body = (s(group) + struct.pack(">i", generation) + s(member) + s(instance) +
                arr([s(t) + arr(ps) for t, ps in topics.items()]))
        r = self.call(OFFSET_COMMIT, 7, body)
        r.i32()
        out = {}
        for _ in range(r.i32()):
            t = r.str()
            for _ in range(r.i32()):
                p = r.i32()
                out[(t, p)] = r.i16()
        return out

    def delete_groups(self, groups):
        r = self.call(DELETE_GROUPS, 1, arr([s(g) for g in groups]))
        r.i32()
        return {r.str(): r.i16() for _ in range(r.i32())}

    def close(self):
        self.raw.close()


class Healthy:
    """A second group on the same broker: a standalone commit + fetch must keep working."""

    def __init__(self, bootstrap, topic):
        self.c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": "grp-healthy",
                              "enable.auto.commit": False})
        self.topic, self.n = topic, 0

    def check(self):
        self.n += 1
        tp = ck.TopicPartition(self.topic, 0, self.n)
        self.c.commit(offsets=[tp], asynchronous=False)
        got = self.c.committed([ck.TopicPartition(self.topic, 0)], 10)[0].offset
        assert got == self.n


@pytest.fixture
def broker(tmp_path):
    s_ = Shale(tmp_path, ["--group-max-size", "1", "--max-request-bytes", "262144"])
    admin = AdminClient({"bootstrap.servers": s_.bootstrap})
    for f in admin.create_topics([NewTopic("wire", 2, 1), NewTopic("healthy", 1, 1)]).values():
        f.result(15)
    wait_coordinator_loaded(s_.bootstrap, "healthy")
    yield s_
    rc, _ = s_.stop()
    assert rc == 0, s_.logs()


def test_group_errors_are_kafkas_and_other_groups_keep_working(broker):
    w = GroupWire(broker.bootstrap)
    ok = Healthy(broker.bootstrap, "healthy")
    try:
        ok.check()
        # A static member (no KIP-394 round trip) forms the group; the first join waits out
        # group.initial.rebalance.delay.ms (3 s).
        j = w.join("bad", instance="i1")
        assert j["error"] == 0 and j["generation"] == 1 and j["leader"] == j["member"], j
        m1, gen = j["member"], j["generation"]
        err, assignment = w.sync("bad", gen, m1, "i1", [(m1, b"assigned")])
        assert (err, assignment) == (0, b"assigned")
        assert w.heartbeat("bad", gen, m1, "i1") == 0

        assert w.heartbeat("bad", gen + 7, m1, "i1") == ILLEGAL_GENERATION
        ok.check()
        assert w.heartbeat("bad", gen, "nobody") == UNKNOWN_MEMBER_ID
        assert w.commit("bad", gen, "nobody", [("wire", 0, 1, None)]) == \
            {("wire", 0): UNKNOWN_MEMBER_ID}
        ok.check()
        assert w.commit("bad", gen, m1, [("wire", 0, 5, None), ("no-such-topic", 0, 1, None),
                                         ("wire", 9, 1, None)], "i1") == \
            {("wire", 0): 0, ("no-such-topic", 0): UNKNOWN_TOPIC_OR_PARTITION,
             ("wire", 9): UNKNOWN_TOPIC_OR_PARTITION}
        ok.check()
        # offset.metadata.max.bytes = 4096: at the limit is fine, one byte more is refused.
        assert w.commit("bad", gen, m1, [("wire", 0, 6, "m" * 4096), ("wire", 1, 6, "m" * 4097)],
                        "i1") == {("wire", 0): 0, ("wire", 1): OFFSET_METADATA_TOO_LARGE}
        ok.check()
        # group.max.size = 1 (this broker's flag): a second member is refused.
        w2 = GroupWire(broker.bootstrap)
        try:
            j2 = w2.join("bad")
            if j2["error"] == MEMBER_ID_REQUIRED:
                j2 = w2.join("bad", member=j2["member"])
            assert j2["error"] == GROUP_MAX_SIZE_REACHED, j2
        finally:
            w2.close()
        ok.check()
        # Oversized protocol metadata: like Kafka, no limit of its own; the request as a whole
        # is bounded by socket.request.max.bytes (here 256 KiB) and the connection is closed.
        big = GroupWire(broker.bootstrap)
        try:
            try:
                big.raw.send_request(JOIN, 5, 1, GroupWire.join_body("bad", metadata=b"x" * 300_000))
            except OSError:
                pass  # the broker may close while we are still sending
            assert big.raw.closed_by_peer()
        finally:
            big.close()
        assert w.heartbeat("bad", gen, m1, "i1") == 0  # the group itself is untouched
        ok.check()
        # DeleteGroups on a group with a live member.
        assert w.delete_groups(["bad", "never-existed"]) == {"bad": NON_EMPTY_GROUP,
                                                              "never-existed": 69}
        ok.check()
        # The static member restarts (same instance id, no member id): it replaces m1, whose
        # requests are fenced from now on.
        w3 = GroupWire(broker.bootstrap)
        try:
            j3 = w3.join("bad", instance="i1")
            assert j3["error"] == 0 and j3["member"] != m1, j3
            assert w.heartbeat("bad", gen, m1, "i1") == FENCED_INSTANCE_ID
            assert w.commit("bad", gen, m1, [("wire", 0, 7, None)], "i1") == \
                {("wire", 0): FENCED_INSTANCE_ID}
            ok.check()
        finally:
            w3.close()
        # The committed offset is the last accepted one.
        c = ck.Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "bad"})
        assert c.committed([ck.TopicPartition("wire", 0)], 10)[0].offset == 6
        c.close()
    finally:
        w.close()
        ok.c.close()
    assert broker.proc.poll() is None  # still serving; the fixture checks a clean exit
