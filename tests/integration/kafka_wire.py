"""A minimal Kafka framing client over a raw socket, for tests that need bytes clients never send."""
import socket
import struct


class RawKafka:
    def __init__(self, bootstrap, timeout=5.0):
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_request(self, api_key, version, corr, body=b"", flexible_header=False,
                     client_id=b"pytest"):
        hdr = struct.pack(">hhih", api_key, version, corr, len(client_id)) + client_id
        if flexible_header:
            hdr += b"\x00"
        frame = hdr + body
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)

    def read_exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("closed by peer")
            out += chunk
        return out

    def read_frame(self):
        (n,) = struct.unpack(">i", self.read_exact(4))
        return self.read_exact(n)

    def closed_by_peer(self):
        """True if the server closes the connection (EOF/reset) within the timeout."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def parse_api_versions_v0(frame):
    """-> (correlation id, error code, {api_key: (min, max)}) for a v0-v2 response."""
    corr, err, n = struct.unpack(">ihi", frame[:10])
    apis = {}
    for i in range(n):
        k, lo, hi = struct.unpack(">hhh", frame[10 + 6 * i:16 + 6 * i])
        apis[k] = (lo, hi)
    return corr, err, apis
