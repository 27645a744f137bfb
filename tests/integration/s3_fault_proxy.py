"""A small HTTP proxy between Shale and an S3 server that injects faults.

It forwards every request verbatim (method, path, query, headers incl. Host and the SigV4
Authorization, body), so signatures stay valid, and returns the server's answer — unless a fault
fires for that request:
  slowdown  answer 503 with an S3 <Error><Code>SlowDown</Code> body (never forwarded)
  hang      read the request, answer nothing, close the connection after `hang_s` (or when the
            fault is switched off)
  reset     close the connection with SO_LINGER 0 (the client sees ECONNRESET)
  slow      forward, but sleep `delay_s` before answering
Faults fire with `probability` per request. Counters per outcome are in `counts`.
Usage: p = FaultProxy(upstream_port); p.start(); p.set("slowdown", 1.0); ...; p.set(None); p.stop()
"""
import http.client
import random
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLOWDOWN_BODY = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
                 b'<Message>Please reduce your request rate.</Message>'
                 b'<RequestId>fault-proxy</RequestId></Error>')
HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te"}


class FaultProxy:
    def __init__(self, upstream_port, upstream_host="127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self.mode = None
        self.probability = 1.0
        self.delay_s = 0.3
        self.hang_s = 10.0
        self.counts = {"forwarded": 0, "slowdown": 0, "hang": 0, "reset": 0, "slow": 0}
        self.lock = threading.Lock()
        self.switch = threading.Event()  # set whenever the mode changes (releases hangs)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                body = b""
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    body = self.rfile.read(n)
                fault = proxy.pick()
                if fault == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault == "hang":
                    proxy.switch.wait(proxy.hang_s)
                    self.close_connection = True
                    return
                if fault == "slowdown":
                    self.send_response(503, "Slow Down")
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(SLOWDOWN_BODY)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(SLOWDOWN_BODY)
                    return
                if fault == "slow":
                    time.sleep(proxy.delay_s)
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                    conn.request(self.command, self.path, body=body if n else None,
                                 headers=headers)
                    r = conn.getresponse()
                    data = r.read()
                    self.send_response(r.status, r.reason)
                    for k, v in r.getheaders():
                        if k.lower() not in HOP and k.lower() != "content-length":
                            self.send_header(k, v)
                    length = r.getheader("Content-Length") if self.command == "HEAD" else None
                    self.send_header("Content-Length", length or str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def pick(self):
        with self.lock:
            mode = self.mode
            fire = mode is not None and random.random() < self.probability
            self.counts[mode if fire else "forwarded"] += 1
            return mode if fire else None

    def set(self, mode, probability=1.0):
        assert mode in (None, "slowdown", "hang", "reset", "slow")
        with self.lock:
            self.mode, self.probability = mode, probability
        self.switch.set()
        self.switch = threading.Event()

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.set(None)
        self.server.shutdown()
        self.server.server_close()
