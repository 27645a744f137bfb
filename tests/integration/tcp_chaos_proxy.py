"""A TCP proxy for tests that cuts connections at random points.

    proxy = ChaosProxy(seed=1, min_bytes=2000, max_bytes=40000)   # listens on 127.0.0.1:<port>
    proxy.target = ("127.0.0.1", broker_port)                     # may be set after start
    ...                                                           # clients connect to proxy.addr
    proxy.stop()

Every accepted connection gets two random byte budgets (client->server and server->client, each
uniform in [min_bytes, max_bytes]); when either direction has forwarded its budget, the proxy
forwards the bytes up to exactly that point and then closes both sockets, so the cut lands at an
arbitrary byte: inside a request, inside a response, or between them. `cut = False` turns the
chaos off (plain forwarding). Counters: connections, cuts. Threads only; loopback unless `host`
names another local address (the scenario run forwards RGW to a network namespace this way).
"""
import random
import socket
import threading


class ChaosProxy:
    def __init__(self, seed=0, min_bytes=1000, max_bytes=50000, cut=True, host="127.0.0.1"):
        self.rng = random.Random(seed)
        self.min_bytes, self.max_bytes = min_bytes, max_bytes
        self.cut = cut
        self.target = None
        self.connections = 0
        self.cuts = 0
        self._lock = threading.Lock()
        self._socks = set()
        self._stopped = False
        self._lsock = socket.socket()
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind((host, 0))
        self._lsock.listen(64)
        self.port = self._lsock.getsockname()[1]
        self.addr = f"{host}:{self.port}"
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self):
        while not self._stopped:
            try:
                client, _ = self._lsock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except (OSError, TypeError):
                client.close()  # broker down (e.g. restarting): the client reconnects
                continue
            with self._lock:
                self.connections += 1
                budgets = [self.rng.randint(self.min_bytes, self.max_bytes) for _ in range(2)]
                state = {"closed": False}
                self._socks.update((client, upstream))
            for src, dst, budget in ((client, upstream, budgets[0]),
                                     (upstream, client, budgets[1])):
                threading.Thread(target=self._pump, args=(src, dst, budget, state, client,
                                                          upstream), daemon=True).start()

    def _pump(self, src, dst, budget, state, a, b):
        left = budget if self.cut else None
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if left is not None and len(data) >= left:
                    dst.sendall(data[:left])
                    with self._lock:
                        if not state["closed"]:
                            self.cuts += 1
                    break
                if left is not None:
                    left -= len(data)
                dst.sendall(data)
        except OSError:
            pass
        self._close(state, a, b)

    def _close(self, state, a, b):
        with self._lock:
            if state["closed"]:
                return
            state["closed"] = True
            self._socks.discard(a)
            self._socks.discard(b)
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def stop(self):
        self._stopped = True
        self._lsock.close()
        with self._lock:
            socks = list(self._socks)
            self._socks.clear()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
