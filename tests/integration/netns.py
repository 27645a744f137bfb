"""A network namespace joined to the host by one veth pair, so a test can cut a process off the
network and heal it (needs root and iproute2; no iptables).

    ns = NetNs()                  # namespace shale-<pid>, host 10.231.X.1 <-> namespace 10.231.X.2
    ns.prefix()                   # ["ip", "netns", "exec", name]: prepend to a command line
    ns.cut(); ns.heal()           # host end of the veth down / up: every packet is dropped
    ns.close()                    # deletes the veth and the namespace (also at interpreter exit)

Addresses: 10.231.X.0/24 with X = pid % 250 + 1, so two runs on one machine do not collide.
A cut takes the link down (nothing is delivered either way, no RST: established TCP connections
hang until their own timeouts, as in a real partition) and blackholes the namespace address on
the host (new connections from the host fail at once instead of leaking to the default route).
"""
import atexit
import os
import shutil
import subprocess


def available():
    """(True, "") if namespaces can be made here, else (False, why)."""
    if os.geteuid() != 0:
        return False, "network namespaces need root"
    if shutil.which("ip") is None:
        return False, "iproute2 (ip) is not installed"
    return True, ""


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


class NetNs:
    def __init__(self):
        tag = os.getpid() % 100000
        self.name = f"shale-{tag}"
        self.host_if = f"shv{tag}h"  # interface names: at most 15 characters
        self.ns_if = f"shv{tag}n"
        x = os.getpid() % 250 + 1
        self.host_ip = f"10.231.{x}.1"
        self.ns_ip = f"10.231.{x}.2"
        self._closed = False
        self.close()  # leftovers of an earlier run with the same pid
        self._closed = False
        atexit.register(self.close)
        try:
            _ip("netns", "add", self.name)
            _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            _ip("link", "set", self.ns_if, "netns", self.name)
            _ip("addr", "add", f"{self.host_ip}/24", "dev", self.host_if)
            _ip("link", "set", self.host_if, "up")
            self.exec_ip("addr", "add", f"{self.ns_ip}/24", "dev", self.ns_if)
            self.exec_ip("link", "set", self.ns_if, "up")
            self.exec_ip("link", "set", "lo", "up")
        except subprocess.CalledProcessError as e:
            self.close()
            raise RuntimeError(f"netns setup failed: {e.cmd}: {e.stderr}") from e

    def prefix(self):
        return ["ip", "netns", "exec", self.name]

    def exec_ip(self, *args):
        return _ip("-n", self.name, *args)

    def cut(self):
        _ip("link", "set", self.host_if, "down")
        # With the link down its connected route goes too, and host packets for the namespace
        # would follow the default route (on a sandboxed machine, to an HTTP proxy that answers
        # Kafka clients with "HTTP/1.1 ..."): a blackhole route keeps them local and dropped.
        _ip("route", "replace", "blackhole", f"{self.ns_ip}/32")

    def heal(self):
        _ip("route", "del", "blackhole", f"{self.ns_ip}/32", check=False)
        _ip("link", "set", self.host_if, "up")

    def close(self):
        if self._closed:
            return
        self._closed = True
        _ip("route", "del", "blackhole", f"{self.ns_ip}/32", check=False)
        _ip("link", "del", self.host_if, check=False)  # deletes both ends
        _ip("netns", "del", self.name, check=False)
