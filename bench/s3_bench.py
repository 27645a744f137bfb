#!/usr/bin/python3
"""Object WAL and S3 storage of `shale serve` against raw S3 operations on the same Ceph RGW,
in one run, with ratios. Not a test; writes a Markdown section to --out (and stdout).

  /usr/bin/python3 bench/s3_bench.py [--shale-bin build/shale] [--rgw-uri URI] [--out FILE]

Without --rgw-uri it starts scripts/rgw.sh (memstore) on free ports and stops it at the end.
Pairs measured (Shale vs raw, same RGW, same client machine):
 1. produce latency, one 1 KiB message at a time, acks=all, --wal object --wal-flush-ms 0
    vs a raw PUT of an object of the WAL object's size (read back from the bucket listing);
 2. produce throughput, 64 KiB messages, acks=all, object WAL (8 MiB WAL objects, uploads to
    stream objects) vs raw multipart PUT (8 MiB parts) of the same bytes;
 3. catch-up read: consume the topic from offset 0 after a restart (cold: every byte from S3)
    vs raw ranged GETs (1 MiB ranges) of the stream objects the broker wrote.
"""
import argparse
import datetime
import hashlib
import hmac
import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from urllib.parse import quote

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class S3:
    """Minimal SigV4 (UNSIGNED-PAYLOAD) client on one keep-alive connection."""

    def __init__(self, endpoint, bucket, access, secret, region="us-east-1"):
        self.host = endpoint.split("://", 1)[1]
        self.bucket, self.access, self.secret, self.region = bucket, access, secret, region
        self.conn = http.client.HTTPConnection(self.host, timeout=60)

    def req(self, method, key, query=None, body=b"", headers=None):
        query = query or {}
        now = datetime.datetime.utcnow()
        amz, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        path = "/" + self.bucket + ("/" + key if key else "")
        h = {"host": self.host, "x-amz-date": amz, "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
        h.update({k.lower(): v for k, v in (headers or {}).items()})
        qs = "&".join(f"{quote(k, safe='~')}={quote(str(v), safe='~')}"
                      for k, v in sorted(query.items()))
        names = sorted(h)
        creq = "\n".join([method, quote(path, safe="/~"), qs,
                          "".join(f"{n}:{h[n].strip()}\n" for n in names), ";".join(names),
                          "UNSIGNED-PAYLOAD"])
        scope = f"{day}/{self.region}/s3/aws4_request"
        sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(creq.encode()).hexdigest()])
        k = ("AWS4" + self.secret).encode()
        for part in (day, self.region, "s3", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
        h["authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.access}/{scope}, "
                              f"SignedHeaders={';'.join(names)}, Signature={sig}")
        h["content-length"] = str(len(body))
        self.conn.request(method, path + ("?" + qs if qs else ""), body=body, headers=h)
        r = self.conn.getresponse()
        data = r.read()
        if r.status >= 300:
            raise RuntimeError(f"{method} {key}: {r.status} {data[:200]!r}")
        return r, data

    def put(self, key, body):
        self.req("PUT", key, body=body)

    def multipart(self, key, body, part):
        _, data = self.req("POST", key, {"uploads": ""})
        uid = re.search(rb"<UploadId>([^<]+)</UploadId>", data).group(1).decode()
        etags = []
        for n, off in enumerate(range(0, len(body), part), 1):
            r, _ = self.req("PUT", key, {"partNumber": n, "uploadId": uid},
                            body=body[off:off + part])
            etags.append(r.getheader("ETag"))
        xml = "<CompleteMultipartUpload>" + "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"
            for n, e in enumerate(etags, 1)) + "</CompleteMultipartUpload>"
        self.req("POST", key, {"uploadId": uid}, body=xml.encode())

    def get(self, key, lo=None, hi=None):
        hdr = {"Range": f"bytes={lo}-{hi}"} if lo is not None else {}
        return self.req("GET", key, headers=hdr)[1]

    def list(self, prefix):
        out, token = [], None
        while True:
            q = {"list-type": "2", "prefix": prefix}
            if token:
                q["continuation-token"] = token
            data = self.req("GET", "", q)[1].decode()
            out += [(k, int(s)) for k, s in
                    re.findall(r"<Key>([^<]*)</Key>.*?<Size>(\d+)</Size>", data, re.S)]
            m = re.search(r"<NextContinuationToken>([^<]*)<", data)
            if not m:
                return out
            token = m.group(1)


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shale-bin", default=os.path.join(REPO, "build", "shale"))
    ap.add_argument("--rgw-uri", default=os.environ.get("SHALE_RGW_URI"))
    ap.add_argument("--out", default=os.path.join(REPO, "build", "s3-bench.md"))
    ap.add_argument("--latency-n", type=int, default=300)
    ap.add_argument("--mib", type=int, default=256)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="shale-s3-bench-")
    rgw_dir = None
    uri = a.rgw_uri
    if not uri:
        rgw_dir = os.path.join(work, "rgw")
        port = free_port()
        out = subprocess.run([os.path.join(REPO, "scripts", "rgw.sh"), "start", rgw_dir,
                              str(port), "memstore"], capture_output=True, text=True, check=True)
        uri = re.search(r"^uri=(.*)$", out.stdout, re.M).group(1)
    try:
        endpoint = re.search(r"endpoint=([^&]+)", uri).group(1)
        access = re.search(r"access_key=([^&]+)", uri).group(1)
        secret = re.search(r"secret_key=([^&]+)", uri).group(1)
        bucket = re.match(r"s3://([^/?]+)", uri).group(1)
        s3 = S3(endpoint, bucket, access, secret)
        prefix = "bench-" + uuid.uuid4().hex[:8] + "/"
        cfg = os.path.join(work, "creds.toml")
        with open(cfg, "w") as f:
            f.write(f's3-access-key = "{access}"\ns3-secret-key = "{secret}"\n')
        store = (f"s3://{bucket}/{prefix}?endpoint={endpoint}&region=us-east-1"
                 "&path_style=true")
        rows = run(a, work, s3, prefix, store, cfg)
    finally:
        if rgw_dir:
            subprocess.run([os.path.join(REPO, "scripts", "rgw.sh"), "stop", rgw_dir])
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()[0]
    text = ("| pair | Shale | raw S3 | ratio Shale/raw |\n|---|---|---|---|\n" +
            "".join(f"| {n} | {x} | {y} | {r} |\n" for n, x, y, r in rows) +
            f"\n1-minute load average at the end: {load:.1f}\n")
    print(text)
    with open(a.out, "w") as f:
        f.write(text)


def run(a, work, s3, prefix, store, cfg):
    rows = []
    # 1. Latency: object WAL produce vs raw PUT of the WAL object's size.
    b = Broker(a.shale_bin, work, ["--object-store", store, "--config", cfg, "--wal", "object",
                                   "--wal-flush-ms", "0", "--meta-dir", os.path.join(work, "m1"),
                                   "--upload-interval-ms", "60000"])
    try:
        adm = AdminClient({"bootstrap.servers": b.bootstrap})
        for f in adm.create_topics([NewTopic("lat", 1, 1), NewTopic("tput", 1, 1)]).values():
            f.result(10)
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 0})
        lat = []
        for i in range(a.latency_n + 20):
            t0 = time.perf_counter()
            p.produce("lat", os.urandom(1024), partition=0)
            p.flush(10)
            if i >= 20:
                lat.append((time.perf_counter() - t0) * 1000)
        sizes = [sz for k, sz in s3.list(prefix + "wal/")]
        wal_obj = int(statistics.median(sizes)) if sizes else 1200
        raw = []
        body = os.urandom(wal_obj)
        for i in range(a.latency_n + 20):
            t0 = time.perf_counter()
            s3.put(f"{prefix}raw/lat/{i}", body)
            if i >= 20:
                raw.append((time.perf_counter() - t0) * 1000)
        for q in (50, 99):
            x, y = pct(lat, q), pct(raw, q)
            rows.append((f"1 KiB produce (object WAL) vs PUT {wal_obj} B, p{q} ms", f"{x:.2f}",
                         f"{y:.2f}", f"{x / y:.2f}"))

        # 2. Throughput: 64 KiB messages through the object WAL vs raw multipart PUT.
        msg = os.urandom(64 << 10)
        n = (a.mib << 20) // len(msg)
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 5,
                      "batch.size": 1 << 20, "message.max.bytes": 8 << 20,
                      "queue.buffering.max.kbytes": 256 << 10})
        t0 = time.perf_counter()
        for i in range(n):
            while True:
                try:
                    p.produce("tput", msg, partition=0)
                    break
                except BufferError:
                    p.poll(0.01)
            p.poll(0)
        p.flush(300)
        prod_mib_s = a.mib / (time.perf_counter() - t0)
    finally:
        b.stop()  # uploads what is left into stream objects
    body = os.urandom(a.mib << 20)
    t0 = time.perf_counter()
    for off in range(0, len(body), 64 << 20):
        s3.multipart(f"{prefix}raw/mp/{off}", body[off:off + (64 << 20)], 8 << 20)
    mp_mib_s = a.mib / (time.perf_counter() - t0)
    rows.append((f"produce {a.mib} MiB of 64 KiB msgs, acks=all (object WAL) vs multipart PUT "
                 "(8 MiB parts), MiB/s", f"{prod_mib_s:.0f}", f"{mp_mib_s:.0f}",
                 f"{prod_mib_s / mp_mib_s:.2f}"))

    # 3. Catch-up read after a restart (cold) vs raw 1 MiB ranged GETs of the stream objects.
    b = Broker(a.shale_bin, work, ["--object-store", store, "--config", cfg, "--wal", "object",
                                   "--meta-dir", os.path.join(work, "m1")])
    try:
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "bench",
                      "enable.auto.commit": False, "fetch.max.bytes": 64 << 20,
                      "max.partition.fetch.bytes": 16 << 20})
        c.assign([TopicPartition("tput", 0, 0)])
        got, t0 = 0, time.perf_counter()
        while got < n:
            for m in c.consume(1000, 1.0):
                if m.error() is None:
                    got += 1
        read_mib_s = a.mib / (time.perf_counter() - t0)
        c.close()
    finally:
        b.stop()
    objs = [(k, sz) for k, sz in s3.list(prefix + "shale/") if sz > (1 << 20)]
    total, t0 = 0, time.perf_counter()
    for k, sz in objs:
        for off in range(0, sz, 1 << 20):
            total += len(s3.get(k, off, min(sz, off + (1 << 20)) - 1))
    get_mib_s = (total / (1 << 20)) / (time.perf_counter() - t0)
    rows.append((f"catch-up consume of {a.mib} MiB after restart vs ranged GET (1 MiB) of the "
                 f"{len(objs)} stream objects, MiB/s", f"{read_mib_s:.0f}", f"{get_mib_s:.0f}",
                 f"{read_mib_s / get_mib_s:.2f}"))
    return rows


if __name__ == "__main__":
    sys.exit(main())
