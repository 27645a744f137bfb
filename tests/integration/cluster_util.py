"""A Shale cluster on loopback for the integration suite: etcd (scripts/etcd.sh, on free ports)
plus N `shale serve --metadata etcd://...` brokers, each with its own data directory (file WAL)
and one shared `file://` object store directory, and a checker for what consumers read back.

Brokers use a 2 s lease, a 100 ms agent tick and a 100 ms upload interval, so failover takes
about 2-3 s. Every process is stopped by PID.
"""
import os
import signal
import subprocess
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from conftest import REPO, Shale, free_port

ETCD_SH = os.path.join(REPO, "scripts", "etcd.sh")


def free_etcd_offset():
    """An ETCD_PORT_OFFSET whose three single-node ports (client, peer, metrics) are free."""
    for _ in range(50):
        p = free_port()
        if p + 2 >= 65535:
            continue
        try:
            import socket
            socks = []
            for q in (p, p + 1, p + 2):
                s = socket.socket()
                s.bind(("127.0.0.1", q))
                socks.append(s)
            for s in socks:
                s.close()
            return p - 2379
        except OSError:
            for s in socks:
                s.close()
    raise RuntimeError("no free ports for etcd")


class Etcd:
    def __init__(self, directory):
        self.dir = str(directory)
        self.env = dict(os.environ, ETCD_PORT_OFFSET=str(free_etcd_offset()))
        self.start()
        self.endpoints = subprocess.run([ETCD_SH, "endpoints", self.dir], env=self.env, check=True,
                                        capture_output=True, text=True).stdout.strip()

    def start(self):
        """Starts (or restarts, on the same data directory and ports) the etcd node."""
        subprocess.run([ETCD_SH, "start", self.dir, "single"], env=self.env, check=True,
                       stdout=subprocess.DEVNULL)

    def stop(self):
        subprocess.run([ETCD_SH, "stop", self.dir], env=self.env, check=False,
                       stdout=subprocess.DEVNULL)


class Cluster:
    def __init__(self, tmp_path, lease_seconds=2, balance=False):
        self.tmp = tmp_path
        self.etcd = Etcd(tmp_path / "etcd")
        self.lease = lease_seconds
        self.balance = balance
        self.brokers = {}
        self.objects = tmp_path / "objects"  # shared by every broker

    def start(self, node_id, *extra, upload_interval_ms=100):
        d = self.tmp / f"broker{node_id}"
        d.mkdir(exist_ok=True)
        b = Shale(d, ("--metadata", f"etcd://{self.etcd.endpoints}", "--node-id", str(node_id),
                      "--broker-lease-seconds", str(self.lease), "--cluster-tick-ms", "100",
                      "--upload-interval-ms", str(upload_interval_ms), "--balance", str(self.balance).lower(),
                      "--object-store", f"file://{self.objects}",
                      # small WAL slots: 3 brokers x N tests must not fill the disk
                      "--wal-segment-bytes", str(16 << 20), "--wal-max-bytes", str(128 << 20),
                      *extra))
        self.brokers[node_id] = b
        return b

    def alive(self):
        return [b for b in self.brokers.values() if b.proc.poll() is None]

    def bootstrap(self, exclude=()):
        return ",".join(b.bootstrap for i, b in self.brokers.items()
                        if b.proc.poll() is None and i not in exclude)

    def one(self):
        """The bootstrap address of one live broker (for raw-wire requests)."""
        return self.alive()[0].bootstrap

    def admin(self, exclude=()):
        return AdminClient({"bootstrap.servers": self.bootstrap(exclude)})

    def leaders(self, topic, exclude=(), timeout=20, want=None):
        """{partition: leader} once every partition has a live leader (and `want(leaders)`)."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                md = self.admin(exclude).list_topics(topic, timeout=5)
                t = md.topics.get(topic)
                if t is not None and t.error is None and t.partitions:
                    last = {p: v.leader for p, v in t.partitions.items()}
                    if all(l >= 0 and l not in exclude for l in last.values()) and \
                            (want is None or want(last)):
                        return last
            except Exception:  # noqa: BLE001 - brokers come and go in these tests
                pass
            time.sleep(0.1)
        raise AssertionError(f"no leaders for {topic} within {timeout}s (last: {last})")

    def kill(self, node_id, sig=signal.SIGKILL):
        os.kill(self.brokers[node_id].proc.pid, sig)
        if sig == signal.SIGKILL:
            self.brokers[node_id].proc.wait()

    def stop(self):
        rcs = {}
        for i, b in self.brokers.items():
            if b.proc.poll() is None:
                os.kill(b.proc.pid, signal.SIGCONT)
            rcs[i] = b.stop()[0]
        self.etcd.stop()
        return rcs


def produce(bootstrap, topic, records, **conf):
    """Produces (partition, key, value) tuples with acks=all; returns the acked ones, in ack order.
    Every record must be acked within the producer's timeout."""
    acked, failed = [], []
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                  "message.timeout.ms": 30000, "max.in.flight.requests.per.connection": 1,
                  **conf})

    def cb(err, msg):
        (failed if err else acked).append((msg.partition(), msg.key(), msg.value(), err))

    for part, key, value in records:
        while True:
            try:
                p.produce(topic, value=value, key=key, partition=part, on_delivery=cb)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    p.flush(40)
    assert not failed, f"{len(failed)} records failed, first: {failed[0]}"
    return acked


def consume_all(bootstrap, topic, partitions, expect_count, timeout=30):
    """Reads every partition from offset 0 up to its high watermark (and at least
    `expect_count` records in all); returns {partition: [(offset, key, value)]}."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{time.time()}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    out = {p: [] for p in partitions}
    deadline = time.time() + timeout
    try:
        hwm = {}
        for p in partitions:
            while p not in hwm:
                try:
                    hwm[p] = c.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1]
                except Exception:  # noqa: BLE001 - leader moving: retry
                    if time.time() > deadline:
                        raise
                    time.sleep(0.2)
        c.assign([TopicPartition(topic, p, 0) for p in partitions])
        nxt = {p: 0 for p in partitions}

        def done():
            return all(nxt[p] >= hwm[p] for p in partitions) and \
                sum(len(v) for v in out.values()) >= expect_count

        while not done() and time.time() < deadline:
            m = c.poll(0.2)
            if m is None or m.error():
                continue
            out[m.partition()].append((m.offset(), m.key(), m.value()))
            nxt[m.partition()] = m.offset() + 1
    finally:
        c.close()
    return out


def check(acked, read):
    """The checker: every acked record was read exactly once, and per partition the records come
    in the order they were acked (the producer sends one partition's records in order)."""
    by_part = {}
    for part, key, value, _ in acked:
        by_part.setdefault(part, []).append(value)
    for part, values in by_part.items():
        got = [v for _, _, v in read.get(part, [])]
        dups = sorted({v for v in got if got.count(v) > 1})
        assert not dups, f"partition {part}: duplicates {dups[:5]}"
        missing = set(values) - set(got)
        assert not missing, f"partition {part}: {len(missing)} acked records lost"
        order = [v for v in got if v in set(values)]
        assert order == values, f"partition {part}: order differs"
        offsets = [o for o, _, _ in read[part]]
        assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)


# ---- AlterPartitionReassignments / ListPartitionReassignments (v0, flexible) on the wire.
# No Python Kafka client here implements them, so the tests speak the protocol directly.

def _uvarint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def _cstr(s):
    s = s.encode()
    return _uvarint(len(s) + 1) + s


class _Flex:
    def __init__(self, data):
        self.d, self.i = data, 0

    def take(self, fmt):
        import struct
        v = struct.unpack_from(fmt, self.d, self.i)
        self.i += struct.calcsize(fmt)
        return v if len(v) > 1 else v[0]

    def uvarint(self):
        n, shift = 0, 0
        while True:
            b = self.d[self.i]
            self.i += 1
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7

    def cstr(self):
        n = self.uvarint() - 1
        if n < 0:
            return None
        s = self.d[self.i:self.i + n].decode()
        self.i += n
        return s

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.i += self.uvarint()


def _call(bootstrap, api_key, body):
    import struct
    from kafka_wire import RawKafka
    c = RawKafka(bootstrap, timeout=30)
    try:
        c.send_request(api_key, 0, 9, body, flexible_header=True)
        r = _Flex(c.read_frame())
        assert r.take(">i") == 9
        r.tags()
        return r
    finally:
        c.close()


def alter_reassignments(bootstrap, moves):
    """moves: {(topic, partition): [replicas] or None} -> {(topic, partition): (error, message)}
    plus the top-level error under key None."""
    import struct
    by_topic = {}
    for (t, p), reps in moves.items():
        by_topic.setdefault(t, []).append((p, reps))
    body = struct.pack(">i", 30000) + _uvarint(len(by_topic) + 1)
    for t, parts in by_topic.items():
        body += _cstr(t) + _uvarint(len(parts) + 1)
        for p, reps in parts:
            body += struct.pack(">i", p)
            if reps is None:
                body += _uvarint(0)
            else:
                body += _uvarint(len(reps) + 1) + b"".join(struct.pack(">i", x) for x in reps)
            body += b"\x00"
        body += b"\x00"
    body += b"\x00"
    r = _call(bootstrap, 45, body)
    r.take(">i")
    out = {None: (r.take(">h"), r.cstr())}
    for _ in range(r.uvarint() - 1):
        t = r.cstr()
        for _ in range(r.uvarint() - 1):
            p, err = r.take(">ih")
            out[(t, p)] = (err, r.cstr())
            r.tags()
        r.tags()
    return out


def list_reassignments(bootstrap):
    """-> {(topic, partition): (replicas, adding, removing)} of the moves in progress."""
    import struct
    r = _call(bootstrap, 46, struct.pack(">i", 30000) + _uvarint(0) + b"\x00")
    r.take(">i")
    assert r.take(">h") == 0
    r.cstr()
    out = {}
    for _ in range(r.uvarint() - 1):
        t = r.cstr()
        for _ in range(r.uvarint() - 1):
            p = r.take(">i")
            lists = []
            for _ in range(3):
                lists.append([r.take(">i") for _ in range(r.uvarint() - 1)])
            out[(t, p)] = tuple(lists)
            r.tags()
        r.tags()
    return out


def shale_cli(*args, timeout=120):
    """Runs `shale ...` (the binary under test) and returns (exit code, stdout + stderr)."""
    from conftest import SHALE_BIN
    p = subprocess.run([SHALE_BIN, *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def find_coordinator(bootstrap, group):
    """FindCoordinator v0 on the wire -> (error code, coordinator node id)."""
    import struct
    from kafka_wire import RawKafka
    g = group.encode()
    c = RawKafka(bootstrap)
    try:
        c.send_request(10, 0, 5, struct.pack(">h", len(g)) + g)
        corr, err, node = struct.unpack_from(">ihi", c.read_frame())
        assert corr == 5
        return err, node
    finally:
        c.close()
