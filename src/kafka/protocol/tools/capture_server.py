#!/usr/bin/env python3
"""Captures the first request frame a Kafka client sends (always ApiVersions).

Usage: capture_server.py PORT OUT.bin
Listens on 127.0.0.1:PORT, accepts one connection, reads one size-prefixed frame, writes the
frame without its 4-byte size to OUT.bin, closes the connection and exits. Gives up after 20 s.
"""
import socket
import struct
import sys


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(1)
    srv.settimeout(20)
    conn, _ = srv.accept()
    conn.settimeout(20)
    (size,) = struct.unpack(">i", read_exact(conn, 4))
    if size < 0 or size > 1 << 20:
        raise ValueError("implausible frame size %d" % size)
    frame = read_exact(conn, size)
    with open(out, "wb") as f:
        f.write(frame)
    conn.close()
    srv.close()
    print("captured %d bytes: api_key=%d api_version=%d" % ((len(frame),) + struct.unpack(">hh", frame[:4])))


if __name__ == "__main__":
    main()
