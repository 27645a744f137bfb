"""The network server against real sockets: negotiation, bad input, shutdown."""
import struct
import time

from kafka_wire import RawKafka, parse_api_versions_v0

API_VERSIONS = 18


def test_api_versions_v0_lists_api_versions_and_ranges(shale):
    c = RawKafka(shale.bootstrap)
    c.send_request(API_VERSIONS, 0, 11)
    corr, err, apis = parse_api_versions_v0(c.read_frame())
    assert (corr, err) == (11, 0)
    assert apis[API_VERSIONS] == (0, 4)


def test_api_versions_v3_flexible_body(shale):
    c = RawKafka(shale.bootstrap)
    # client_software_name / version as compact strings, then empty tagged fields.
    c.send_request(API_VERSIONS, 3, 12, b"\x07pytest\x021\x00", flexible_header=True)
    f = c.read_frame()
    corr, err = struct.unpack(">ih", f[:6])
    assert (corr, err) == (12, 0)
    count = f[6] - 1
    assert count >= 2
    assert len(f) == 7 + 7 * count + 5


def test_unsupported_api_versions_version_gets_error_35_and_v0_body(shale):
    c = RawKafka(shale.bootstrap)
    c.send_request(API_VERSIONS, 77, 13, b"\x00\x00\x00", flexible_header=True)
    corr, err, apis = parse_api_versions_v0(c.read_frame())
    assert (corr, err) == (13, 35)
    assert apis[API_VERSIONS] == (0, 4)


def test_bad_connections_are_closed_and_the_broker_keeps_serving(shale):
    good = RawKafka(shale.bootstrap)

    oversize = RawKafka(shale.bootstrap)
    oversize.send_raw(struct.pack(">i", 200 * 1024 * 1024))
    assert oversize.closed_by_peer()

    garbage = RawKafka(shale.bootstrap)
    garbage.send_raw(struct.pack(">i", 10) + b"\x00\x12\x00\x00\x00\x00\x00\x01\x7f\xff")
    assert garbage.closed_by_peer()

    tiny = RawKafka(shale.bootstrap)
    tiny.send_raw(struct.pack(">i", 3) + b"abc")
    assert tiny.closed_by_peer()

    unknown = RawKafka(shale.bootstrap)
    unknown.send_request(4242, 0, 1)
    assert unknown.closed_by_peer()

    good.send_request(API_VERSIONS, 1, 99)
    corr, err, _ = parse_api_versions_v0(good.read_frame())
    assert (corr, err) == (99, 0)
    status, metrics = shale.http_get("/metrics")
    assert status == 200
    assert "kafka_protocol_errors_total 4" in metrics
    assert "oversize" in shale.logs() or "socket.request.max.bytes" in shale.logs()


def test_pipelined_requests_are_answered_in_order(shale):
    c = RawKafka(shale.bootstrap)
    for i in range(50):
        c.send_request(API_VERSIONS, i % 3, 1000 + i)
    for i in range(50):
        corr, err, _ = parse_api_versions_v0(c.read_frame())
        assert (corr, err) == (1000 + i, 0)


def test_connection_limit(shale_factory):
    s = shale_factory("--max-connections", "2")
    a, b = RawKafka(s.bootstrap), RawKafka(s.bootstrap)
    a.send_request(API_VERSIONS, 0, 1)
    b.send_request(API_VERSIONS, 0, 2)
    a.read_frame(), b.read_frame()
    c = RawKafka(s.bootstrap)
    assert c.closed_by_peer()
    assert "max.connections" in s.logs()
    a.send_request(API_VERSIONS, 0, 3)
    assert parse_api_versions_v0(a.read_frame())[0] == 3


def test_health_ready_and_metrics(shale):
    assert shale.http_get("/healthz") == (200, "ok\n")
    assert shale.http_get("/readyz")[0] == 200
    c = RawKafka(shale.bootstrap)
    c.send_request(API_VERSIONS, 0, 1)
    c.read_frame()
    _, m = shale.http_get("/metrics")
    assert 'kafka_requests_total{api="ApiVersions"} 1' in m
    assert 'kafka_request_latency_seconds_bucket{api="ApiVersions",le="+Inf"} 1' in m
    assert "kafka_connections 1" in m
    assert "kafka_bytes_in_total" in m and "kafka_bytes_out_total" in m


def test_sigterm_exits_zero_quickly_with_open_connections(shale):
    conns = [RawKafka(shale.bootstrap) for _ in range(5)]
    for i, c in enumerate(conns):
        c.send_request(API_VERSIONS, 0, i)
        c.read_frame()
    rc, took = shale.stop()
    assert rc == 0, shale.logs()
    assert took < 5, f"shutdown took {took:.1f}s"
    for c in conns:
        assert c.closed_by_peer()
