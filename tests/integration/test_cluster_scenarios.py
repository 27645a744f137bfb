"""The cluster proof (issue #7): one long run of every failure scenario in sequence, under
continuous idempotent acks=all produce and group consumption, then one checker.

Cluster: a 3-member etcd (fast elections), brokers 1-3 with the object WAL, the balancer on and a
2 s lease; broker 3 runs in its own network namespace when root and iproute2 are available (else
on loopback, and the network-cut scenario is skipped, with the reason printed).
Scenarios, in this order: SIGKILL a broker (then restart it); SIGSTOP one past its lease, then
SIGCONT (its WAL was taken over: it must exit 75; the harness restarts it like a supervisor);
add broker 4 (the balancer moves partitions to it); decommission broker 4; SIGKILL the etcd
leader (restart it later); cut the namespaced broker off the network, then heal it.
The checker (scenario_workload.check_records) reads every partition from offset 0 with a fresh
consumer: every acked record exactly once, no duplicate, producer-sequence order; and the group's
committed offsets advanced after every scenario and never went below the group's last
acknowledged write of a partition (scenario_workload.Workload.unexplained_drops).

Env: SHALE_SCENARIO_MINUTES=N loops the scenario list until N minutes have passed (default: one
pass, about 1 minute). SHALE_SCENARIO_STRICT=1 fails on any fatal producer error.
SHALE_SCENARIO_STORE=rgw runs against Ceph RGW (the session's `rgw`
fixture) instead of a shared file:// directory. SHALE_SCENARIO_COMMIT_LOG=PATH writes the
consumers' librdkafka lines about OffsetCommit (sends, retries, answers) to PATH.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from confluent_kafka.admin import NewTopic

import netns
from cluster_util import alter_reassignments, consume_all, shale_cli
from scenario_cluster import ScenarioCluster
from scenario_workload import Workload, check_records

TOPIC = "scen"
PARTITIONS = 6
WAL_FENCED_EXIT = 75  # kWalFencedExitCode: a broker whose object WAL was taken over
HERE = os.path.dirname(os.path.abspath(__file__))


class Run:
    """Cluster + workload + the per-scenario record of what happened."""

    def __init__(self, cluster, workload):
        self.c, self.w = cluster, workload
        self.results = []
        self.next_id = 4

    def owned_by(self, node):
        return [p for p, l in self.c.leaders(TOPIC).items() if l == node]

    def ensure_leads(self, node):
        """The topic's partitions `node` leads; if none (the balancer evens out counts over all
        topics, __consumer_offsets included), one is moved to it (AlterPartitionReassignments)."""
        leaders = self.c.leaders(TOPIC)
        if node not in leaders.values():
            part = max(leaders, key=lambda p: list(leaders.values()).count(leaders[p]))
            res = alter_reassignments(self.c.one(), {(TOPIC, part): [node]})
            assert res[(TOPIC, part)][0] == 0, res
            leaders = self.c.leaders(TOPIC, want=lambda l: l[part] == node, timeout=30)
        return [p for p, l in leaders.items() if l == node]

    def takeovers(self, node):
        """Durations (ms) of the controllers' WAL takeovers of `node` logged so far."""
        pat = re.compile(rf"recovered the WAL of dead broker {node} in (\d+) ms")
        return [int(m) for i, b in self.c.brokers.items() if i != node
                for m in pat.findall(b.logs())]

    def victim(self, k):
        """The k-th loopback broker (cyclically), made to lead a partition of the topic."""
        ids = sorted(self.c.loopback_ids())
        v = ids[k % len(ids)]
        self.ensure_leads(v)
        return v

    def wait_serving(self, node, timeout=40):
        """Seconds until `node` leads a partition again (the balancer evens out partition
        counts over every topic, __consumer_offsets included)."""
        t0 = time.time()
        while node not in self.c.leaders(TOPIC).values() and \
                node not in self.c.leaders("__consumer_offsets").values():
            assert time.time() - t0 < timeout, f"broker {node} leads nothing after {timeout}s"
            time.sleep(0.2)
        return time.time() - t0

    def scenario(self, name, fn):
        before = self.w.committed()
        self.w.begin(name)
        t0 = time.time()
        facts = fn()
        # progress: the group's committed offsets move past where they were at the start
        deadline = time.time() + 40
        after = self.w.committed()
        while after <= before and time.time() < deadline:
            time.sleep(0.5)
            after = self.w.committed()
        t1 = time.time()
        facts.update(name=name, seconds=round(t1 - t0, 1), committed=(before, after),
                     progressed=after > before,
                     longest_ack_pause=round(self.w.longest_pause(t0, t1), 2),
                     errors=dict(self.w.errors.get(name, {})), sent=self.w.sent[name],
                     consumed=self.w.consumed[name],
                     committed_drops=[d[1:] for d in self.w.committed_drops if d[0] == name],
                     late_commits_so_far=len(self.w.late_commits()))
        self.results.append(facts)
        print(f"\n[scenario] {json.dumps(facts)}", flush=True)

    # ---- the scenarios; each returns measured facts
    def sigkill(self):
        v = self.victim(0)
        parts = self.owned_by(v)
        seen = len(self.takeovers(v))
        t = time.time()
        self.c.kill(v)
        self.c.leaders(TOPIC, exclude=(v,), timeout=30)
        recovered = self.w.resumed_after(t, parts, time.time())
        takeover = self.takeovers(v)[seen:]
        assert takeover, f"no controller took broker {v}'s object WAL over"
        self.c.restart(v)
        return {"victim": v, "partitions": parts, "acked_elsewhere_s": round(recovered, 2),
                "takeover_ms": takeover[-1] if takeover else None,
                "back_serving_s": round(self.wait_serving(v), 2)}

    def sigstop(self):
        v = self.victim(1)
        parts = self.owned_by(v)
        zombie = self.c.brokers[v]
        t = time.time()
        self.c.kill(v, signal.SIGSTOP)
        try:
            self.c.leaders(TOPIC, exclude=(v,), timeout=30)
            recovered = self.w.resumed_after(t, parts, time.time())
        finally:
            self.c.kill(v, signal.SIGCONT)
        try:
            rc = zombie.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            rc = None
        assert rc == WAL_FENCED_EXIT, f"woken broker {v}: exit {rc}, expected {WAL_FENCED_EXIT}"
        self.c.restart(v)
        return {"victim": v, "partitions": parts, "acked_elsewhere_s": round(recovered, 2),
                "exit": rc, "back_serving_s": round(self.wait_serving(v), 2)}

    def add_broker(self):
        n = self.next_id
        self.next_id += 1
        t = time.time()
        self.c.start(n)
        serving = self.wait_serving(n)
        self.added = n
        return {"broker": n, "first_partition_s": round(time.time() - t, 2),
                "after_start_s": round(serving, 2), "leaders": self.c.leaders(TOPIC)}

    def decommission(self):
        n = self.added
        t = time.time()
        rc, out = shale_cli("cluster", "decommission", str(n), "--metadata",
                            f"etcd://{self.c.etcd.endpoints}", "--wait-seconds", "60")
        assert rc == 0 and f"broker {n} is decommissioned" in out, out
        took = time.time() - t
        leaders = self.c.leaders(TOPIC, want=lambda l: n not in l.values(), timeout=10)
        rc, _ = self.c.brokers[n].stop()
        assert rc == 0, f"decommissioned broker {n} exited {rc}"
        del self.c.brokers[n]
        return {"broker": n, "decommission_s": round(took, 2), "leaders": leaders}

    def etcd_leader(self):
        m = self.c.etcd.leader()
        t = time.time()
        self.c.etcd.kill(m)
        new = self.c.etcd.leader()
        elected = time.time() - t
        time.sleep(3 * self.c.lease)  # keep producing on two members past a lease period
        pause = self.w.longest_pause(t, time.time())
        self.c.etcd.start_member(m)
        return {"killed_member": m, "new_leader": new, "election_s": round(elected, 2),
                "pause_while_down_s": round(pause, 2)}

    def network_cut(self):
        ns = self.c.ns
        v = next(iter(self.c.in_ns))
        parts = self.ensure_leads(v)
        # A probe inside the namespace writes distinct records to the cut broker until it
        # answers NOT_LEADER_OR_FOLLOWER: that is when it stopped serving (it cannot know the
        # cluster moved on; it must stop on its own before its lease can expire).
        cut_at = time.time() + 0.7
        probe = subprocess.Popen(
            [*ns.prefix(), sys.executable, os.path.join(HERE, "scenario_probe.py"),
             self.c.brokers[v].bootstrap, TOPIC, str(parts[0]), str(self.c.lease + 6),
             str(cut_at)],
            stdout=subprocess.PIPE, text=True)
        time.sleep(max(0.0, cut_at - time.time()))
        t = time.time()
        ns.cut()
        try:
            self.c.leaders(TOPIC, exclude=(v,), timeout=30)
            recovered = self.w.resumed_after(t, parts, time.time())
            out, _ = probe.communicate(timeout=30)
        finally:
            if probe.poll() is None:
                probe.kill()
                probe.wait()
            ns.heal()
        lines = [json.loads(x) for x in out.splitlines()]
        writes = [x for x in lines if x["op"] == "produce"]
        for x in writes:
            self.w.probes[x["value"]] = (parts[0], x["code"] == 0)
        stopped = [x["t"] for x in lines if x["op"] == "fetch" and x["code"] == 6 and x["t"] >= t]
        assert stopped, f"the cut broker kept serving: {lines[-3:]}"
        stopped_after = min(stopped) - t
        reads = [(round(x["t"] - t, 2), x["code"], x.get("took")) for x in lines
                 if x["op"] == "fetch" and x["t"] >= t - 1]
        assert stopped_after < self.c.lease, \
            f"served {stopped_after:.2f}s into a {self.c.lease}s lease; fetches (s after cut, " \
            f"code, took s): {reads[:40]}"
        zombie = self.c.brokers[v]
        try:
            rc = zombie.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            rc = None
        assert rc == WAL_FENCED_EXIT, f"healed broker {v}: exit {rc}, expected {WAL_FENCED_EXIT}"
        self.c.restart(v)
        return {"victim": v, "partitions": parts, "stopped_serving_s": round(stopped_after, 2),
                "acked_elsewhere_s": round(recovered, 2), "exit": rc,
                "probes_acked": sum(1 for x in writes if x["code"] == 0),
                "probes_acked_after_cut": sum(1 for x in writes if x["code"] == 0 and x["t"] >= t),
                "back_serving_s": round(self.wait_serving(v), 2)}


def rgw_store(request, ns):
    """SHALE_SCENARIO_STORE=rgw: (in_ns) -> (s3 URI, flags) on the session's RGW, and the
    forwarder (or None) through which the namespaced broker reaches it (RGW listens on loopback
    only; the forwarder listens on the host end of the veth, so a network cut cuts it too)."""
    from s3_support import new_prefix
    from tcp_chaos_proxy import ChaosProxy
    rgw = request.getfixturevalue("rgw")
    prefix = new_prefix()
    fwd = None
    if ns is not None:
        fwd = ChaosProxy(cut=False, host=ns.host_ip)
        host, port = rgw.endpoint.split("//", 1)[1].rsplit(":", 1)
        fwd.target = (host, int(port))

    def store(in_ns):
        endpoint = f"http://{fwd.addr}" if in_ns else None
        return rgw.uri(prefix, endpoint=endpoint), \
            ["--s3-access-key", rgw.access, "--s3-secret-key", rgw.secret]
    return store, fwd


@pytest.fixture
def sigterm_unwinds():
    """A SIGTERM (e.g. a CI timeout) raises SystemExit in the test, so its `finally` stops the
    cluster by PID instead of the process dying with everything still running."""
    def handler(signum, frame):
        raise SystemExit(f"signal {signum}")
    old = signal.signal(signal.SIGTERM, handler)
    yield
    signal.signal(signal.SIGTERM, old)


def test_scenario_cluster_stop_leaves_nothing_running_when_a_stop_fails(tmp_path):
    """The harness itself: a broker whose stop fails (here: raises) must not leave the other
    brokers, a paused broker or the etcd members running."""
    c = ScenarioCluster(tmp_path)
    try:
        for i in (1, 2):
            c.start(i)
        os.kill(c.brokers[2].proc.pid, signal.SIGSTOP)  # paused, as in the sigstop scenario
        pids = c.pids()
        assert len(pids) == 5, pids  # 2 brokers + 3 etcd members

        def broken_stop(*a, **k):
            raise RuntimeError("stop failed")
        c.brokers[1].stop = broken_stop
        with pytest.raises(RuntimeError, match="stop failed"):
            c.stop()
        deadline = time.time() + 5
        while time.time() < deadline and c.pids():
            time.sleep(0.1)
        assert not c.pids(), f"left running: {c.pids()}"
    finally:
        for pid in c.pids():
            os.kill(pid, signal.SIGKILL)


def test_cluster_scenarios(tmp_path, request, sigterm_unwinds):
    minutes = float(os.environ.get("SHALE_SCENARIO_MINUTES", "0"))
    rgw = os.environ.get("SHALE_SCENARIO_STORE") == "rgw"
    ok, why = netns.available()
    ns = netns.NetNs() if ok else None
    if not ok:
        print(f"\n[scenario] no network namespace ({why}): the network-cut scenario is skipped")
    store, fwd = rgw_store(request, ns) if rgw else (None, None)
    c = ScenarioCluster(tmp_path, ns=ns, store=store)
    w = None
    try:
        for i in (1, 2, 3):
            c.start(i, in_ns=(ns is not None and i == 3))
        admin = c.admin()
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(15)
        c.leaders(TOPIC, want=lambda l: len(set(l.values())) == 3)
        w = Workload(c.bootstrap, TOPIC, PARTITIONS)
        w.start()
        run = Run(c, w)
        scenarios = [("sigkill", run.sigkill), ("sigstop", run.sigstop),
                     ("add-broker", run.add_broker), ("decommission", run.decommission),
                     ("etcd-leader", run.etcd_leader)]
        if ns is not None:
            scenarios.append(("network-cut", run.network_cut))
        time.sleep(2)
        t_end = time.time() + minutes * 60
        rounds = 0
        while True:
            rounds += 1
            for name, fn in scenarios:
                run.scenario(name if rounds == 1 else f"{name}#{rounds}", fn)
            if time.time() >= t_end:
                break
        w.begin("drain")
        time.sleep(2)
        w.stop()
        acked = sum(len(v) for v in w.acked.values())
        read = consume_all(c.bootstrap(), TOPIC, range(PARTITIONS), acked, timeout=120)
        problems = check_records(w.acked, read, w.probes)
        errors = {k: dict(v) for k, v in w.errors.items()}
        print(f"\n[scenario] rounds {rounds}, acked {acked}, read "
              f"{sum(len(v) for v in read.values())}, probes {len(w.probes)}, "
              f"errors by phase {json.dumps(errors)}")
        assert not problems, problems
        # Committed offsets: OffsetFetch serves the group's last acknowledged write of each
        # partition. A read below an earlier one is fine only if the client wrote the lower
        # offset last (librdkafka retries an OffsetCommit answered NOT_COORDINATOR or cut off by
        # a coordinator move, and a newer auto-commit may land first; Kafka stores the late one
        # too: tests/cluster/README.md). Any other drop is an acknowledged commit lost.
        unexplained = w.unexplained_drops()
        late = w.late_commits()
        print(f"\n[scenario] commits acknowledged below an earlier acknowledged one (client "
              f"retries): {len(late)}, first {late[:5]}", flush=True)
        if w.committed_drops:
            print(f"\n[scenario] committed offsets went backwards {w.committed_drops}; written "
                  f"last by the client: {len(w.committed_drops) - len(unexplained)}", flush=True)
        assert not unexplained, f"committed offsets went below the last write: {unexplained}"
        stuck = [r["name"] for r in run.results if not r["progressed"]]
        assert not stuck, f"the group made no progress in {stuck}"
        # A fatal idempotent-producer error (librdkafka: OUT_OF_ORDER_SEQUENCE_NUMBER, "rewound
        # sequence", after a failover; tests/cluster/README.md "Open") fails its queued records:
        # about one in ten failovers shows it. One per pass is tolerated (reported) unless
        # SHALE_SCENARIO_STRICT=1; any other delivery error fails the run.
        fatal = {ph: n for ph, v in errors.items() for e, n in v.items()
                 if e.startswith("producer:fatal")}
        if fatal:
            print(f"\n[scenario] KNOWN CLIENT-VISIBLE FAILURE: fatal producer errors {fatal}")
        allowed = 0 if os.environ.get("SHALE_SCENARIO_STRICT") == "1" else rounds
        assert sum(fatal.values()) <= allowed, errors
        assert not any(e.startswith("delivery") for ph, v in errors.items() if ph not in fatal
                       for e in v), errors
    finally:
        # Each step runs even if the one before it fails (a workload thread that does not stop
        # used to skip c.stop() and leave 3 etcd members and the brokers running).
        try:
            if w is not None and not w._stop.is_set():
                w.stop(flush_timeout=5)
        finally:
            try:
                rcs = c.stop()
            finally:
                try:
                    if fwd is not None:
                        fwd.stop()
                finally:
                    if ns is not None:
                        ns.close()
    bad = {i: rc for i, rc in rcs.items() if rc != 0}
    assert not bad, f"brokers exited badly at the end: {bad}"
