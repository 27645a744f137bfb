"""SIGKILL the broker while a librdkafka producer (tests/clients/ack_producer.c, acks=all) is
producing, restart it on the same data dir and port, and check that every acknowledged message is
there, in order, exactly once."""
import os
import signal
import subprocess
import threading
import time

import conftest
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

CLIENTS = os.path.join(conftest.REPO, "tests", "clients")


@pytest.fixture(scope="session")
def c_client(tmp_path_factory):
    """Compiles tests/clients/NAME.c against librdkafka; returns the path of the binary."""
    out = tmp_path_factory.mktemp("clients")

    def build(name):
        exe = str(out / name)
        if not os.path.exists(exe):
            r = subprocess.run(["cc", "-O2", os.path.join(CLIENTS, name + ".c"), "-lrdkafka",
                                "-o", exe], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
        return exe
    return build


def start_on(monkeypatch, data_dir, port, http_port):
    """A Shale on fixed ports (the conftest helper picks free ones; pin them for the restart)."""
    ports = iter([port, http_port])
    monkeypatch.setattr(conftest, "free_port", lambda: next(ports))
    return conftest.Shale(data_dir)


def test_acked_messages_survive_sigkill(tmp_path, monkeypatch, c_client):
    exe = c_client("ack_producer")
    port, http_port = conftest.free_port(), conftest.free_port()
    s = start_on(monkeypatch, tmp_path, port, http_port)
    a = AdminClient({"bootstrap.servers": s.bootstrap})
    a.create_topics([NewTopic("crash", 1, 1)])["crash"].result(10)

    n = 3000
    prod = subprocess.Popen([exe, s.bootstrap, "crash", str(n), "4000"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = []

    def reader():
        for line in prod.stdout:
            lines.append(line.split())
    t = threading.Thread(target=reader)
    t.start()
    deadline = time.time() + 30
    while sum(1 for ln in lines if ln[0] == "ack") < n // 3 and time.time() < deadline:
        time.sleep(0.01)
    acked_before_kill = sum(1 for ln in lines if ln[0] == "ack")
    assert acked_before_kill >= n // 3, (lines[-5:], s.logs()[-2000:])
    os.kill(s.proc.pid, signal.SIGKILL)  # by PID: the broker this test started
    s.proc.wait()
    s.log.close()
    time.sleep(0.3)
    s2 = start_on(monkeypatch, tmp_path, port, http_port)
    try:
        assert prod.wait(timeout=90) in (0, 1), prod.stderr.read()
        t.join()
        acks = {int(ln[1]): int(ln[2]) for ln in lines if ln[0] == "ack"}
        fails = {int(ln[1]) for ln in lines if ln[0] == "fail"}
        assert len(acks) + len(fails) == n and not (set(acks) & fails)
        assert len(acks) > acked_before_kill  # the producer also got acks after the restart

        lo_hi = Consumer({"bootstrap.servers": s2.bootstrap, "group.id": "x"})
        lo, hi = lo_hi.get_watermark_offsets(TopicPartition("crash", 0), timeout=10)
        lo_hi.close()
        assert lo == 0 and hi >= max(acks.values()) + 1
        c = Consumer({"bootstrap.servers": s2.bootstrap, "group.id": "crash",
                      "enable.auto.commit": False})
        c.assign([TopicPartition("crash", 0, 0)])
        log = []
        end = time.time() + 30
        while len(log) < hi and time.time() < end:
            m = c.poll(0.3)
            if m is not None and m.error() is None:
                log.append((m.offset(), m.value().decode()))
        c.close()
        print(f"acked {len(acks)} (before kill {acked_before_kill}), failed {len(fails)}, "
              f"log end {hi}")
        assert [o for o, _ in log] == list(range(hi))  # dense, nothing lost below the end
        by_value = {}
        for off, v in log:
            by_value.setdefault(int(v[1:]), []).append(off)
        for i, off in acks.items():
            assert by_value.get(i) == [off], (i, off, by_value.get(i))  # there, once, where acked
        for i in fails:
            assert len(by_value.get(i, [])) <= 1
        ordered = [i for _, v in log for i in [int(v[1:])] if i in acks]
        assert ordered == sorted(acks)  # acknowledged messages are in production order
    finally:
        if prod.poll() is None:
            prod.kill()
        rc, _ = s2.stop()
        assert rc == 0, s2.logs()[-3000:]
