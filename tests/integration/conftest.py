"""Fixtures for the integration suite: a real `shale serve` process on free ports.

The binary is $SHALE_BIN (default: <repo>/build/shale). Each test that asks for `shale` gets a
fresh broker with its own temporary data directory; it is stopped by PID with SIGTERM at the end
and must exit 0.
"""
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHALE_BIN = os.environ.get("SHALE_BIN", os.path.join(REPO, "build", "shale"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# A file WAL cycles through all of its preallocated segment slots, so every broker ends up
# holding --wal-max-bytes (1 GiB by default) of preallocated segments. Tests run dozens
# of brokers (several suites at once on a shared machine): give them a small WAL unless a test
# chooses its own.
SMALL_WAL = {"--wal-segment-bytes": "16777216", "--wal-max-bytes": "134217728"}


def small_wal_args(extra_args):
    chosen = {a.split("=", 1)[0] for a in extra_args if isinstance(a, str)}
    out = []
    for flag, value in SMALL_WAL.items():
        if flag not in chosen:
            out += [flag, value]
    return out


class Shale:
    """host/ports: where to listen (ports default to free ones; a restarted cluster member passes
    its old ones); prefix: a command prefix, e.g. `ip netns exec NS` (cluster_util/netns.py)."""

    def __init__(self, data_dir, extra_args=(), host="127.0.0.1", ports=None, prefix=()):
        self.data_dir = str(data_dir)
        self.log_path = os.path.join(self.data_dir, "shale.log")
        self.host = host
        # free_port() only finds a port that was free a moment ago: another process on a busy
        # machine can take it before shale binds. Such a start fails at once with EADDRINUSE and
        # is retried on new ports; any other failure is the test's.
        for attempt in range(5):
            self.port, self.http_port = ports if ports else (free_port(), free_port())
            self.bootstrap = f"{host}:{self.port}"
            args = [*prefix, SHALE_BIN, "serve", "--data-dir", os.path.join(self.data_dir, "data"),
                    "--listen", self.bootstrap, "--http", f"{host}:{self.http_port}",
                    "--threads", "2", *small_wal_args(extra_args), *extra_args]
            self.log = open(self.log_path, "ab" if ports else "wb")
            self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
            try:
                self.wait_ready()
                return
            except RuntimeError:
                lost_port = self.proc.poll() is not None and "Address already in use" in self.logs()
                if not lost_port or attempt == 4 or ports:
                    raise
                self.log.close()

    def http_get(self, path):
        with urllib.request.urlopen(f"http://{self.host}:{self.http_port}{path}", timeout=5) as r:
            return r.status, r.read().decode()

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"shale exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                if self.http_get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"shale not ready after {timeout}s:\n{self.logs()}")

    def logs(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, timeout=15):
        """SIGTERM by PID; returns (exit code, seconds taken)."""
        if self.proc.poll() is not None:
            return self.proc.returncode, 0.0
        t0 = time.time()
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            rc = None
        self.log.close()
        return rc, time.time() - t0


@pytest.fixture
def shale(tmp_path):
    s = Shale(tmp_path)
    yield s
    rc, _ = s.stop()
    assert rc == 0, f"shale exited with {rc}:\n{s.logs()}"


@pytest.fixture
def shale_factory(tmp_path):
    """Start brokers with extra flags: shale_factory('--max-connections', '2')."""
    started = []

    def make(*extra):
        d = tmp_path / f"b{len(started)}"
        d.mkdir()
        s = Shale(d, extra)
        started.append(s)
        return s

    yield make
    for s in started:
        rc, _ = s.stop()
        assert rc == 0, f"shale exited with {rc}:\n{s.logs()}"


# The one Ceph RGW of the S3 group (session scope; skips only if radosgw is not installed).
from s3_support import rgw  # noqa: E402,F401
