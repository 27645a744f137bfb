"""The cluster of the scenario run (tests/cluster/README.md): a 3-member etcd on loopback
(scripts/etcd.sh cluster3, fast elections) and brokers with the object WAL, one of them
optionally in its own network namespace (netns.py) so a scenario can cut it off.

    c = ScenarioCluster(tmp_path, ns=NetNs() or None, store=None)   # store: s3 URI maker or None
    c.start(1); c.start(3, in_ns=True)      # --wal object, --balance true, 2 s lease
    c.restart(1)                            # same node id, data directory and ports
    c.etcd.leader() -> 1..3; c.etcd.kill(i); c.etcd.start_member(i)

Every process is stopped by PID (brokers by Shale.stop, etcd by scripts/etcd.sh stop, then
SIGKILL of any member still alive). ScenarioCluster.stop() stops every broker process it ever
started (restarted ones included) and every etcd member even when one of the stops fails (it
raises the first failure afterwards), so a failed scenario leaves nothing running.
"""
import json
import os
import random
import signal
import socket
import subprocess
import time
import urllib.request

from cluster_util import ETCD_SH, Cluster
from conftest import Shale

LEASE_SECONDS = 2


def free_etcd3_offset(extra_ip=None):
    """An ETCD_PORT_OFFSET whose six cluster3 ports (client i*10000+2379, peer +1) are free, on
    loopback and (client ports) on extra_ip."""
    rng = random.Random()
    for _ in range(200):
        off = rng.randrange(0, 30000)
        socks = []
        try:
            for i in (1, 2, 3):
                for host, port in (("127.0.0.1", i * 10000 + 2379 + off),
                                   ("127.0.0.1", i * 10000 + 2380 + off)) + \
                        (((extra_ip, i * 10000 + 2379 + off),) if extra_ip else ()):
                    s = socket.socket()
                    socks.append(s)
                    s.bind((host, port))
            return off
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free ports for a 3-member etcd")


class Etcd3:
    """Three etcd members on loopback (and, with extra_ip, on that address too)."""

    def __init__(self, directory, extra_ip=None):
        self.dir = str(directory)
        self.off = free_etcd3_offset(extra_ip)
        self.env = dict(os.environ, ETCD_PORT_OFFSET=str(self.off))
        if extra_ip:
            self.env["ETCD_EXTRA_IP"] = extra_ip
        subprocess.run([ETCD_SH, "start", self.dir, "cluster3"], env=self.env, check=True,
                       stdout=subprocess.DEVNULL)
        self.ports = {i: i * 10000 + 2379 + self.off for i in (1, 2, 3)}
        self.endpoints = ",".join(f"127.0.0.1:{p}" for p in self.ports.values())
        self.ns_endpoints = ",".join(f"{extra_ip}:{p}" for p in self.ports.values()) \
            if extra_ip else self.endpoints

    def status(self, i):
        req = urllib.request.Request(f"http://127.0.0.1:{self.ports[i]}/v3/maintenance/status",
                                     data=b"{}", method="POST")
        with urllib.request.urlopen(req, timeout=2) as r:
            return json.loads(r.read())

    def leader(self, timeout=10):
        """The member number (1-3) of the current leader, from /v3/maintenance/status."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for i in self.ports:
                try:
                    st = self.status(i)
                except OSError:
                    continue
                if st.get("leader") and st["leader"] == st["header"]["member_id"]:
                    return i
            time.sleep(0.1)
        raise AssertionError("no etcd leader")

    def pid(self, i):
        with open(os.path.join(self.dir, f"m{i}.pid")) as f:
            return int(f.read())

    def kill(self, i):
        """SIGKILL of member i; returns once its client port refuses connections."""
        os.kill(self.pid(i), signal.SIGKILL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.ports[i]), timeout=0.2).close()
            except OSError:
                return
            time.sleep(0.05)
        raise AssertionError(f"etcd m{i} still answers after SIGKILL")

    def start_member(self, i, timeout=20):
        """Restarts member i on its data directory; returns once it reports healthy."""
        subprocess.run([ETCD_SH, "start-member", self.dir, f"m{i}"], env=self.env, check=True,
                       stdout=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.ports[i]}/health",
                                            timeout=1) as r:
                    if b'"health":"true"' in r.read():
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"etcd m{i} not healthy {timeout}s after its restart")

    def pids(self):
        """PIDs of the members started by scripts/etcd.sh that are still alive."""
        out = []
        for i in self.ports:
            try:
                pid = self.pid(i)
                os.kill(pid, 0)
            except (OSError, ValueError):
                continue
            out.append(pid)
        return out

    def stop(self):
        try:
            subprocess.run([ETCD_SH, "stop", self.dir], env=self.env, check=False,
                           stdout=subprocess.DEVNULL, timeout=60)
        finally:
            for pid in self.pids():  # the script failed or timed out: by PID, for good
                os.kill(pid, signal.SIGKILL)


class ScenarioCluster(Cluster):
    """cluster_util.Cluster over Etcd3, every broker with the object WAL and the balancer on.
    store(in_ns) -> (object-store URI, extra flags) for an S3 store; None means one shared
    file:// directory."""

    def __init__(self, tmp_path, ns=None, store=None, upload_interval_ms=1000):
        self.tmp = tmp_path
        self.ns = ns
        self.etcd = Etcd3(tmp_path / "etcd", extra_ip=ns.host_ip if ns else None)
        self.lease = LEASE_SECONDS
        self.balance = True
        self.brokers = {}
        self.in_ns = set()
        self.store = store
        self.objects = tmp_path / "objects"
        self.upload_interval_ms = upload_interval_ms
        self.started = []  # every broker process, restarted ones included

    def _args(self, node_id, in_ns):
        if self.store:
            uri, extra = self.store(in_ns)
        else:
            uri, extra = f"file://{self.objects}", []
        meta = self.etcd.ns_endpoints if in_ns else self.etcd.endpoints
        return ("--metadata", f"etcd://{meta}", "--node-id", str(node_id),
                "--broker-lease-seconds", str(self.lease), "--cluster-tick-ms", "100",
                "--upload-interval-ms", str(self.upload_interval_ms), "--balance", "true",
                "--wal", "object", "--object-store", uri, *extra,
                *os.environ.get("SHALE_SCENARIO_BROKER_ARGS", "").split())

    def start(self, node_id, in_ns=False):
        d = self.tmp / f"broker{node_id}"
        d.mkdir(exist_ok=True)
        if in_ns:
            b = Shale(d, self._args(node_id, True), host=self.ns.ns_ip,
                      ports=(20000 + node_id, 21000 + node_id), prefix=self.ns.prefix())
            self.in_ns.add(node_id)
        else:
            b = Shale(d, self._args(node_id, False))
        self.brokers[node_id] = b
        self.started.append(b)
        return b

    def restart(self, node_id):
        """The same node id, data directory and ports (as a supervisor would restart it)."""
        old = self.brokers[node_id]
        if old.proc.poll() is None:
            raise AssertionError(f"broker {node_id} is still running")
        old.log.close()
        in_ns = node_id in self.in_ns
        b = Shale(self.tmp / f"broker{node_id}", self._args(node_id, in_ns),
                  host=old.host, ports=(old.port, old.http_port),
                  prefix=self.ns.prefix() if in_ns else ())
        self.brokers[node_id] = b
        self.started.append(b)
        return b

    def stop(self):
        """SIGTERM (after SIGCONT: a paused broker cannot exit) to every broker process ever
        started, SIGKILL after 15 s, then etcd; returns {node id: exit code} of the current
        brokers. A failing stop does not keep the rest running: the first error is raised once
        everything was stopped."""
        errors = []
        codes = {}
        for b in self.started:
            try:
                if b.proc.poll() is None:
                    os.kill(b.proc.pid, signal.SIGCONT)
                codes[id(b)] = b.stop()[0]
            except Exception as e:  # noqa: BLE001 - stop the others first, raise below
                errors.append(e)
                if b.proc.poll() is None:
                    b.proc.kill()
                    b.proc.wait()
        try:
            self.etcd.stop()
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        if errors:
            raise errors[0]
        return {i: codes.get(id(b), b.proc.returncode) for i, b in self.brokers.items()}

    def pids(self):
        """PIDs still alive: brokers (every incarnation) and etcd members."""
        return [b.proc.pid for b in self.started if b.proc.poll() is None] + self.etcd.pids()

    def loopback_ids(self):
        return [i for i, b in self.brokers.items() if b.proc.poll() is None and i not in self.in_ns]
