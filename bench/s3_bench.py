#!/usr/bin/python3
"""Object WAL and S3 storage of `shale serve` against raw S3 operations on the same Ceph RGW,
in one run, with ratios. Not a test; writes a Markdown section to --out (and stdout).

  /usr/bin/python3 bench/s3_bench.py [--shale-bin build/shale] [--raw-bin build/bench/s3_raw]
      [--rgw-uri URI --rgw-dir DIR] [--mib 256] [--runs 3] [--out FILE] [--only-latency]
      [--warm-replay] [--keep-work] [--shale-arg=--wal-object-commit=sequential ...]

Without --rgw-uri it starts scripts/rgw.sh (memstore) on free ports and stops it at the end.
The raw side is build/bench/s3_raw: the same libcurl S3 client (s3::S3ObjectStore) Shale uses.
Pairs measured per run (Shale vs raw, same RGW, same client machine), each run on a fresh prefix
that is deleted afterwards:
 1. produce latency, one 1 KiB message at a time, acks=all, --wal object --wal-flush-ms 0
    vs a raw PUT of an object of the WAL objects' mean size, plain and conditional
    (If-None-Match: *, what the object WAL sends), in alternating rounds (--latency-rounds)
    pooled at the end; the broker's own split of an ack (PUT, index commit, ...) is printed
    from its log;
 2. produce throughput, 64 KiB messages, acks=all, object WAL (default flush settings; stream
    objects uploaded while producing), produced with librdkafka (build/bench/kafka_write, or
    with --producer python confluent-kafka-python) vs raw multipart PUTs of the same bytes
    (8 MiB parts, 4 in flight), in alternating rounds (--tput-rounds) pooled at the end; with RGW's admin
    socket (--rgw-dir, or the RGW this tool starts) also the bytes PUT to RGW per byte
    produced (Shale writes each byte twice: WAL object, then stream object);
 3. catch-up read: after every byte is in stream objects, restart the broker (cold caches) and
    consume the topic from offset 0 with librdkafka (build/bench/kafka_read, or with --consumer
    python confluent-kafka-python; 16 MiB per partition fetch) vs raw ranged
    GETs of the stream objects the broker wrote, 2 MiB ranges with 8 readers (the catch-up
    reader's GET size and parallelism), in alternating rounds (--read-rounds; the broker
    restarts before each) pooled at the end, and, for context, 1 MiB ranges with 1 reader; the
    broker's own split of its cold reads (queued, served, waiting for read-ahead, windows) is
    printed from its log. --warm-replay gives that broker a block cache larger than the data
    and consumes a second time: the Kafka path's rate with (almost) no GET, to tell the
    store's share of the catch-up rate from the Kafka path's. (The larger cache also keeps GET
    buffers out of the recycling pool, so the cold pass then costs more page faults.)
With --runs N the table gives medians of N runs and the range of the per-run ratios.
SHALE_BENCH_PERF=FILE records a `perf record -g` profile of the broker during the cold consume.
Each cold consume prints its time to the first message beside its total (kafka_read);
SHALE_BENCH_READ_LOG=FILE appends kafka_read's stderr to FILE (with KAFKA_READ_DEBUG=fetch,protocol,
librdkafka's round trip of every Fetch).
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self, shale_bin, workdir, args):
        self.port, self.http = free_port(), free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log = open(os.path.join(workdir, f"shale-{self.port}.log"), "wb")
        self.proc = subprocess.Popen(
            [shale_bin, "serve", "--data-dir", os.path.join(workdir, f"data-{self.port}"),
             "--listen", self.bootstrap, "--http", f"127.0.0.1:{self.http}", *args],
            stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/readyz", timeout=2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("shale exited")
                time.sleep(0.05)
        raise RuntimeError("shale not ready")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(60)
        self.log.close()

    def metric(self, name):
        """An unlabelled family's value from /metrics (0 if absent)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        return 0.0

    def logs(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shale-bin", default=os.path.join(REPO, "build", "shale"))
    ap.add_argument("--raw-bin", default=os.path.join(REPO, "build", "bench", "s3_raw"))
    ap.add_argument("--read-bin", default=os.path.join(REPO, "build", "bench", "kafka_read"))
    ap.add_argument("--consumer", choices=["c", "python"], default="c",
                    help="catch-up consumer: build/bench/kafka_read (librdkafka's C API, "
                         "payloads not copied, as s3_raw's GET bodies go nowhere) or "
                         "confluent-kafka-python (a Python bytes object per message)")
    ap.add_argument("--write-bin", default=os.path.join(REPO, "build", "bench", "kafka_write"))
    ap.add_argument("--producer", choices=["c", "python"], default="c",
                    help="throughput producer: build/bench/kafka_write (librdkafka's C API, "
                         "payload not copied, as s3_raw PUTs one buffer) or "
                         "confluent-kafka-python (a Python call and a copy per message)")
    ap.add_argument("--rgw-uri", default=os.environ.get("SHALE_RGW_URI"))
    ap.add_argument("--rgw-dir", help="scripts/rgw.sh DIR of --rgw-uri (for RGW's pid)")
    ap.add_argument("--out", default=os.path.join(REPO, "build", "s3-bench.md"))
    ap.add_argument("--latency-n", type=int, default=1200)
    ap.add_argument("--latency-rounds", type=int, default=12,
                    help="pair 1 alternates this many rounds of broker produces and raw PUTs")
    ap.add_argument("--tput-rounds", type=int, default=3,
                    help="pair 2 alternates this many rounds of broker produce and raw upload")
    ap.add_argument("--read-rounds", type=int, default=3,
                    help="pair 3 alternates this many rounds of cold consume and raw GETs")
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--only-latency", action="store_true",
                    help="measure pair 1 only (produce latency vs PUT)")
    ap.add_argument("--warm-replay", action="store_true",
                    help="give the catch-up broker a block cache larger than the data and "
                         "consume a second time: the Kafka path's own rate, with no GET")
    ap.add_argument("--keep-work", action="store_true",
                    help="keep the work directory (brokers' logs) and print its path")
    ap.add_argument("--shale-arg", action="append", default=[],
                    help="extra `shale serve` argument (repeatable), e.g. "
                         "--shale-arg=--wal-object-commit=sequential")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="shale-s3-bench-")
    rgw_dir = None
    uri = a.rgw_uri
    if not uri:
        rgw_dir = a.rgw_dir = os.path.join(work, "rgw")
        port = free_port()
        out = subprocess.run([os.path.join(REPO, "scripts", "rgw.sh"), "start", rgw_dir,
                              str(port), "memstore"], capture_output=True, text=True, check=True)
        uri = re.search(r"^uri=(.*)$", out.stdout, re.M).group(1)
    runs = []
    try:
        endpoint = re.search(r"endpoint=([^&]+)", uri).group(1)
        access = re.search(r"access_key=([^&]+)", uri).group(1)
        secret = re.search(r"secret_key=([^&]+)", uri).group(1)
        bucket = re.match(r"s3://([^/?]+)", uri).group(1)
        cfg = os.path.join(work, "creds.toml")
        with open(cfg, "w") as f:
            f.write(f's3-access-key = "{access}"\ns3-secret-key = "{secret}"\n')
        for i in range(a.runs):
            prefix = "bench-" + uuid.uuid4().hex[:8] + "/"
            store = (f"s3://{bucket}/{prefix}?endpoint={endpoint}&region=us-east-1"
                     "&path_style=true")
            raw = Raw(a.raw_bin, f"{store}&access_key={access}&secret_key={secret}")
            try:
                runs.append(run(a, os.path.join(work, f"run{i}"), raw, store, cfg))
            finally:
                raw("rm", "--prefix", "")
            print(f"run {i + 1}/{a.runs}:", runs[-1], file=sys.stderr, flush=True)
    finally:
        if rgw_dir:
            subprocess.run([os.path.join(REPO, "scripts", "rgw.sh"), "stop", rgw_dir])
        if a.keep_work:
            print("work directory kept:", work, file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    text = table(runs) + f"\n{a.runs} run(s); 1-minute load average at the end: " \
        f"{os.getloadavg()[0]:.1f}\n"
    print(text)
    with open(a.out, "w") as f:
        f.write(text)


def table(runs):
    """Rows (name, shale, raw, higher_is_better) of every run -> medians and ratio ranges."""
    out = ["| pair | Shale (median) | raw S3, same client (median) | ratio Shale/raw, median "
           "[range] |", "|---|---|---|---|"]
    for k, (name, _, _, fmt_) in enumerate(runs[0]):
        xs = [r[k][1] for r in runs]
        ys = [r[k][2] for r in runs]
        rs = [x / y if y else float("nan") for x, y in zip(xs, ys)]
        out.append(f"| {name} | {statistics.median(xs):{fmt_}} | {statistics.median(ys):{fmt_}} "
                   f"| {statistics.median(rs):.2f} [{min(rs):.2f}–{max(rs):.2f}] |")
    return "\n".join(out) + "\n"


class Raw:
    """build/bench/s3_raw on the benchmark's prefix; returns its JSON result."""

    def __init__(self, binary, uri):
        self.binary, self.uri = binary, uri

    def __call__(self, *args):
        out = subprocess.run([self.binary, self.uri, *args], capture_output=True, text=True,
                             check=True).stdout
        return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


def cpu_s(pid):
    """User + system CPU seconds of a process so far (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu_s(who=resource.RUSAGE_SELF):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def rgw_pid(rgw_dir):
    """radosgw's pid (scripts/rgw.sh writes DIR/rgw.pid), or None."""
    try:
        with open(os.path.join(rgw_dir or "", "rgw.pid")) as f:
            pid = int(f.read().strip())
        cpu_s(pid)
        return pid
    except (OSError, ValueError):
        return None


class CpuMeter:
    """CPU seconds per GiB moved, of: the broker (by pid), this process (the consumer; its
    librdkafka threads count), child processes that ended (s3_raw) and radosgw."""

    def __init__(self, broker_pid, rgw):
        self.broker, self.rgw = broker_pid, rgw
        self.t0 = self.sample()

    def sample(self):
        return (cpu_s(self.broker) if self.broker else 0.0, self_cpu_s(),
                self_cpu_s(resource.RUSAGE_CHILDREN), cpu_s(self.rgw) if self.rgw else 0.0)

    def delta(self):
        """CPU seconds of each since the meter was made."""
        return [b - a for a, b in zip(self.t0, self.sample())]

    def per_gib(self, nbytes):
        gib = nbytes / float(1 << 30)
        return [d / gib for d in self.delta()]


def add(acc, xs):
    for i, x in enumerate(xs):
        acc[i] += x


def rgw_counter(rgw_dir, name):
    """RGW's perf counter rgw.<name> (put_b: bytes received in PUTs; get_b: bytes sent in
    GETs) so far, or None."""
    asok = os.path.join(rgw_dir or "", "run", "client.rgw.a.asok")
    if not rgw_dir or not os.path.exists(asok):
        return None
    out = subprocess.run(["ceph", "--admin-daemon", asok, "perf", "dump"], capture_output=True,
                         text=True, timeout=30)
    return json.loads(out.stdout)["rgw"][name] if out.returncode == 0 else None


def rgw_put_bytes(rgw_dir):
    return rgw_counter(rgw_dir, "put_b")


def listed(raw, prefix, min_bytes=0):
    """(objects, bytes) under a prefix: s3_raw get with no reader only lists."""
    r = raw("get", "--prefix", prefix, "--readers", "0", "--min-bytes", str(min_bytes))
    return r["objects"], r["listed"]


def run(a, work, raw, store, cfg):
    os.makedirs(work)
    rows = []
    common = ["--object-store", store, "--config", cfg, "--wal", "object", *a.shale_arg]
    # 1. Latency: object WAL produce vs raw PUT of the WAL object's size.
    b = Broker(a.shale_bin, work, common + ["--wal-flush-ms", "0", "--meta-dir",
                                            os.path.join(work, "m1"),
                                            "--upload-interval-ms", "60000"])
    try:
        adm = AdminClient({"bootstrap.servers": b.bootstrap})
        for f in adm.create_topics([NewTopic("lat", 1, 1)]).values():
            f.result(10)
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 0})

        def produce(n):
            out = []
            for _ in range(n):
                t0 = time.perf_counter()
                p.produce("lat", os.urandom(1024), partition=0)
                p.flush(10)
                out.append((time.perf_counter() - t0) * 1000)
            return out

        produce(20)  # warm-up, and WAL objects to size the raw PUTs by
        objs, size = listed(raw, "wal/")
        wal_obj = size // max(objs, 1) or 1200
        # Rounds alternate the broker's produces with the raw PUTs, so that both sides see the
        # same machine: one after the other, the shared machine's drift moved the p50 ratio
        # between 0.85 and 1.7 from run to run (BENCHMARKS.md section 5m).
        per = max(1, a.latency_n // a.latency_rounds)
        lat, plain, cond, rounds = [], [], [], []
        for r in range(a.latency_rounds):
            if r % 2 == 0:  # the broker first in even rounds, the raw PUTs in odd ones
                produce(5)
                mine = produce(per)
            c = raw("put", "--size", str(wal_obj), "--count", str(per), "--warmup", "5",
                    "--if-none-match", "1")["lat_ms"]
            plain += raw("put", "--size", str(wal_obj), "--count", str(per), "--warmup", "5")[
                "lat_ms"]
            if r % 2 == 1:
                produce(5)
                mine = produce(per)
            lat += mine
            cond += c
            rounds.append(pct(mine, 50) / pct(c, 50))
        print("1 KiB produce p50 / conditional PUT p50, per round:",
              " ".join(f"{r:.2f}" for r in rounds), file=sys.stderr, flush=True)
    finally:
        b.stop()
    timing = re.findall(r"medians: (wait .*)$", b.logs(), re.M)
    if timing:
        print("broker's object WAL timings:", timing[-1], file=sys.stderr, flush=True)
    rows.append((f"1 KiB produce (object WAL) vs PUT of {wal_obj} B (mean WAL object), p50 ms",
                 pct(lat, 50), pct(plain, 50), ".2f"))
    rows.append(("the same, p99 ms", pct(lat, 99), pct(plain, 99), ".2f"))
    # The object WAL PUTs with If-None-Match: * where the store supports it (fencing); on RGW
    # that costs more than a plain PUT, so compare with the same conditional PUT too.
    rows.append((f"the same vs conditional PUT (If-None-Match: *) of {wal_obj} B, p50 ms",
                 pct(lat, 50), pct(cond, 50), ".2f"))
    rows.append(("the same, p99 ms", pct(lat, 99), pct(cond, 99), ".2f"))
    if a.only_latency:
        return rows

    # 2. Throughput: 64 KiB messages through the object WAL vs raw multipart PUT, on the same
    # store. The two alternate in --tput-rounds rounds (raw first in even rounds, the broker
    # first in odd ones), pooled at the end, so that both see the same machine and the same
    # store: an RGW memstore slows down as it holds more data, and one raw pass before the
    # broker and one after moved the ratio 0.76-0.93 between runs of the same binary
    # (BENCHMARKS.md section 5n). A first pass, deleted and not counted, warms RGW up (the
    # first large upload into a fresh memstore ran at a third of the speed of the next); RGW
    # frees it (scripts/rgw.sh: no GC delay) before the counted ones.
    raw("upload", "--mib", str(a.mib), "--part-mib", "8", "--parallel", "4")
    time.sleep(3)
    rgw = rgw_pid(a.rgw_dir)
    msg = os.urandom(64 << 10)
    n = (a.mib << 20) // len(msg)
    raw_s = prod_s = 0.0
    raw_cpu, prod_cpu = [0.0] * 4, [0.0] * 4  # CpuMeter.delta() sums
    io_raw = io_prod = io_all = 0             # RGW put_b: s3_raw's, while producing, broker's
    counted = rgw_put_bytes(a.rgw_dir) is not None
    ratios = []
    b = Broker(a.shale_bin, work, common + ["--meta-dir", os.path.join(work, "m2")])
    try:
        adm = AdminClient({"bootstrap.servers": b.bootstrap})
        for f in adm.create_topics([NewTopic("tput", 1, 1)]).values():
            f.result(10)
        if a.producer == "python":
            p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 5,
                          "batch.size": 1 << 20, "message.max.bytes": 8 << 20,
                          "queue.buffering.max.kbytes": 256 << 10})
            # The producer learns the topic before the clock starts, as s3_raw knows its
            # bucket: librdkafka (2.0) looks a topic first produced to up only on its main
            # thread's 1 s scan, and that ~0.5 s (debug=topic,metadata: "New local topic" ...
            # "metadata information unknown") was 8-13% of the produce's time (BENCHMARKS.md
            # section 5n). kafka_write does the same before its clock starts.
            p.list_topics("tput", timeout=10)

        def raw_round(mib):
            io0 = rgw_put_bytes(a.rgw_dir)  # a `ceph` child: before the meter counts children
            meter = CpuMeter(None, rgw)
            r = raw("upload", "--mib", str(mib), "--part-mib", "8", "--parallel", "4")
            add(raw_cpu, meter.delta())
            return mib / r["mib_s"], (rgw_put_bytes(a.rgw_dir) or 0) - (io0 or 0)

        def broker_round(count):
            io0 = rgw_put_bytes(a.rgw_dir)
            meter = CpuMeter(b.proc.pid, rgw)
            if a.producer == "c":  # a finished child: its CPU counts in prod_cpu[2]
                done = subprocess.run([a.write_bin, b.bootstrap, "tput", "0", str(count),
                                       str(len(msg))], capture_output=True, text=True)
                res = json.loads(done.stdout.splitlines()[-1]) if done.stdout else {}
                if done.returncode != 0:
                    sys.exit(f"kafka_write failed ({done.returncode}): {res} {done.stderr}")
                secs = res["seconds"]
            else:
                t0 = time.perf_counter()
                for _ in range(count):
                    while True:
                        try:
                            p.produce("tput", msg, partition=0)
                            break
                        except BufferError:
                            p.poll(0.01)
                    p.poll(0)
                p.flush(300)
                secs = time.perf_counter() - t0
            add(prod_cpu, meter.delta())
            io_p = rgw_put_bytes(a.rgw_dir)
            # Wait until every byte is in objects (so the next raw round has the store to
            # itself, and the restart reads only from S3): stream objects, or WAL objects the
            # stream store adopted in place.
            deadline = time.time() + 60
            while b.metric("shale_store_unuploaded_bytes") > 0 and time.time() < deadline:
                time.sleep(0.2)
            time.sleep(2)  # let a compaction round that started finish
            io1 = rgw_put_bytes(a.rgw_dir)
            return secs, (io_p or 0) - (io0 or 0), (io1 or 0) - (io0 or 0)

        rounds, done = max(1, min(a.tput_rounds, a.mib)), 0
        for r in range(rounds):
            mib = (a.mib - done) // (rounds - r)
            done += mib
            if r % 2 == 0:
                rs, rio = raw_round(mib)
            ps, pio, aio = broker_round((mib << 20) // len(msg))
            if r % 2 == 1:
                rs, rio = raw_round(mib)
            raw_s, prod_s = raw_s + rs, prod_s + ps
            io_raw, io_prod, io_all = io_raw + rio, io_prod + pio, io_all + aio
            ratios.append(rs / ps)
        adopted = b.metric("shale_store_adopted_bytes_total")
    finally:
        b.stop()
    print("produce MiB/s / raw multipart MiB/s, per round:",
          " ".join(f"{x:.2f}" for x in ratios), file=sys.stderr, flush=True)
    gib = a.mib / 1024.0
    rows.append((f"produce {a.mib} MiB of 64 KiB msgs, acks=all (object WAL) vs multipart PUT "
                 f"(8 MiB parts, 4 in flight), {rounds} alternating rounds, MiB/s",
                 a.mib / prod_s, a.mib / raw_s, ".0f"))
    rows.append(("CPU s per GiB produced: broker + producer vs s3_raw (multipart)",
                 (prod_cpu[0] + prod_cpu[1] + prod_cpu[2]) / gib, raw_cpu[2] / gib, ".2f"))
    rows.append(("CPU s per GiB produced: broker alone vs s3_raw", prod_cpu[0] / gib,
                 raw_cpu[2] / gib, ".2f"))
    if a.rgw_dir:
        rows.append(("CPU s per GiB produced: radosgw, serving the broker vs serving s3_raw",
                     prod_cpu[3] / gib, raw_cpu[3] / gib, ".2f"))
    rows.append(("bytes of adopted WAL objects (indexed in place, not PUT again) per byte "
                 "produced", adopted / float(a.mib << 20), 0.0, ".2f"))
    if counted:
        mib = float(a.mib << 20)
        rows.append(("bytes PUT to RGW per byte produced, while producing", io_prod / mib,
                     io_raw / mib, ".2f"))
        rows.append(("bytes PUT to RGW per byte produced (RGW counter put_b)", io_all / mib,
                     io_raw / mib, ".2f"))

    # 3. Catch-up read after a restart (cold) vs raw ranged GETs of the stream objects.
    # The consumer is set up not to be the bottleneck: 16 MiB partition fetches (the broker's
    # read-ahead covers at least one more), up to 64 MiB per response, and 256 MiB of local
    # queue (librdkafka stops fetching above queued.max.messages.kbytes, 64 MiB by default,
    # i.e. four fetches). The raw side has no consumer at all: its bytes go nowhere; by
    # default the Kafka side's bytes go nowhere either (kafka_read keeps no copy of a payload,
    # where the Python client copies each into a bytes object, ~2-3 CPU s per GiB on the
    # broker's core; BENCHMARKS.md section 5q). The CPU rows are per GiB moved: the broker
    # (from /proc), the consumer (this process with its librdkafka threads, or kafka_read as
    # a finished child), s3_raw (as a finished child) and radosgw (with --rgw-dir).
    # The broker's cold consumes (each after a restart) alternate with the raw GET passes in
    # --read-rounds rounds (raw first in even rounds), pooled: one raw pass before the broker
    # and one after moved the ratio 0.76-1.04 between runs of the same code (BENCHMARKS.md
    # sections 5m, 5n).
    # --warm-replay: a cache that holds every block, and no drop-behind (which would drop each
    # block once the first pass had read it).
    cache = (["--block-cache-bytes", str((a.mib + 256) << 20), "--cold-read-drop-behind=false"]
             if a.warm_replay else [])
    read_s = get_s = 0.0
    read_cpu, get_cpu = [0.0] * 4, [0.0] * 4
    got_bytes, ratios = 0, []

    def consume_all(b):
        if a.consumer == "c":
            done = subprocess.run([a.read_bin, b.bootstrap, "tput", "0", str(n)],
                                  capture_output=True, text=True, check=True)
            if os.environ.get("SHALE_BENCH_READ_LOG"):  # kafka_read's stderr, appended
                with open(os.environ["SHALE_BENCH_READ_LOG"], "a") as f:
                    f.write(done.stderr)
            res = json.loads(done.stdout.splitlines()[-1])
            print(f"catch-up: first message after {res['first_s'] * 1000:.0f} ms of "
                  f"{res['seconds'] * 1000:.0f}", file=sys.stderr, flush=True)
            return res["seconds"]
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "bench",
                      "enable.auto.commit": False, "fetch.max.bytes": 64 << 20,
                      "max.partition.fetch.bytes": 16 << 20,
                      "queued.max.messages.kbytes": 256 << 10})
        c.assign([TopicPartition("tput", 0, 0)])
        got, t0 = 0, time.perf_counter()
        while got < n:
            # Never ask for more than what is left: consume() waits for its count or timeout.
            for m in c.consume(min(500, n - got), 1.0):
                if m.error() is None:
                    got += 1
        secs = time.perf_counter() - t0
        c.close()
        return secs

    def raw_gets():
        meter = CpuMeter(None, rgw)
        # Every data object of the run (stream objects and adopted WAL objects; >= 1 MiB).
        g = raw("get", "--prefix", "", "--range-mib", "2", "--readers", "8")
        add(get_cpu, meter.delta())
        return g, g["bytes"] / float(1 << 20) / g["mib_s"]

    rounds = max(1, a.read_rounds)
    for r in range(rounds):
        if r % 2 == 0:
            get8, gs = raw_gets()
        b = Broker(a.shale_bin, work, common + ["--meta-dir", os.path.join(work, "m2"), *cache])
        try:
            meter = CpuMeter(b.proc.pid, rgw)
            # SHALE_BENCH_PERF=FILE: profile the broker during the last cold consume.
            perf = None
            if os.environ.get("SHALE_BENCH_PERF") and r == rounds - 1:
                perf = subprocess.Popen(["perf", "record", "-g", "-F", "1999", "-p",
                                         str(b.proc.pid), "-o", os.environ["SHALE_BENCH_PERF"]],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.5)
            cs = consume_all(b)
            if perf:
                perf.send_signal(signal.SIGINT)
                perf.wait(60)
            add(read_cpu, meter.delta())
            if a.warm_replay and r == rounds - 1:
                get0 = rgw_counter(a.rgw_dir, "get_b")
                warm_mib_s = a.mib / consume_all(b)
                get1 = rgw_counter(a.rgw_dir, "get_b")
                warm_get = (get1 - get0) / float(n * len(msg)) if None not in (get0, get1) else -1
        finally:
            b.stop()
        if r % 2 == 1:
            get8, gs = raw_gets()
        read_s, get_s, got_bytes = read_s + cs, get_s + gs, got_bytes + get8["bytes"]
        ratios.append(gs / cs * a.mib / (get8["bytes"] / float(1 << 20)))
    summary = re.findall(r"(cold reads: .*)$", b.logs(), re.M)
    if summary:
        print("broker's catch-up reads (last round):", summary[-1], file=sys.stderr, flush=True)
    print("catch-up MiB/s / raw GET 2 MiB x 8 MiB/s, per round:",
          " ".join(f"{x:.2f}" for x in ratios), file=sys.stderr, flush=True)
    read_gib, get_gib = rounds * a.mib / 1024.0, got_bytes / float(1 << 30)
    # The consumer is this process (Python) or a child that ended (kafka_read).
    cpu_broker, cpu_consumer, cpu_rgw = (read_cpu[0] / read_gib,
                                         (read_cpu[1] + read_cpu[2]) / read_gib,
                                         read_cpu[3] / read_gib)
    cpu_raw, cpu_rgw_raw = get_cpu[2] / get_gib, get_cpu[3] / get_gib
    get1 = raw("get", "--prefix", "", "--range-mib", "1", "--readers", "1")
    read_mib_s = rounds * a.mib / read_s
    who = "kafka_read" if a.consumer == "c" else "confluent-kafka-python"
    rows.append((f"catch-up consume ({who}) of {a.mib} MiB after restart vs ranged GET of the "
                 f"{get8['objects']} data objects, 2 MiB x 8 readers, {rounds} alternating "
                 "rounds, MiB/s", read_mib_s, get_gib * 1024 / get_s, ".0f"))
    rows.append(("the same vs ranged GET 1 MiB x 1 reader, MiB/s", read_mib_s, get1["mib_s"],
                 ".0f"))
    if a.warm_replay:
        rows.append((f"catch-up consume, second pass from the block cache ({warm_get:.2f} bytes "
                     "GET per byte) vs ranged GET 2 MiB x 8, MiB/s", warm_mib_s,
                     get_gib * 1024 / get_s, ".0f"))
    rows.append(("CPU s per GiB read: broker vs s3_raw (2 MiB x 8)", cpu_broker, cpu_raw, ".2f"))
    rows.append(("CPU s per GiB read: broker + consumer vs s3_raw", cpu_broker + cpu_consumer,
                 cpu_raw, ".2f"))
    if rgw:
        rows.append(("CPU s per GiB read: radosgw, serving the broker vs serving s3_raw",
                     cpu_rgw, cpu_rgw_raw, ".2f"))
    return rows


if __name__ == "__main__":
    sys.exit(main())
