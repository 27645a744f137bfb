"""kafkajs 2.2.4 (tests/node/compat.js, run by node) against `shale serve`. kafkajs supports only
none and gzip without codec plugins; snappy/lz4/zstd are covered by the librdkafka, kafka-python
and kcat tests instead."""
import json
import os
import shutil
import subprocess

import pytest

NODE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "node")

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not os.path.isdir(os.path.join(NODE_DIR, "node_modules",
                                                                   "kafkajs")),
    reason="node or tests/node/node_modules/kafkajs missing (run scripts/install-deps.sh)")


def expected_messages(n):
    out = []
    for i in range(n):
        headers = {"h1": f"a{i}", "bin": bytes([0, 255, i]).decode("latin-1")} if i % 2 else {}
        out.append({"partition": 0, "offset": i, "key": None if i % 3 == 0 else f"k{i}",
                    "value": f"v{i}-" + "x" * (i * 10), "headers": headers})
    return out


def test_kafkajs_admin_produce_consume(shale):
    r = subprocess.run(["node", os.path.join(NODE_DIR, "compat.js"), shale.bootstrap],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr + shale.logs()[-3000:]
    out = json.loads(r.stdout)
    assert out["created"] is True
    assert out["createdAgain"] is False  # kafkajs reports "already exists" as false
    assert out["multiPartitions"] == [0, 1, 2]
    assert out["multiRetention"] == [["retention.ms", "3600000"]]
    for topic in ("js-none", "js-gzip"):
        c = out["codecs"][topic]
        assert c["acks"] == [[0, 0, 0]], c["acks"]
        assert c["got"] == expected_messages(50)
    assert out["tombstone"] == {"partition": 1, "offset": 0, "key": "dead", "value": None,
                                "headers": {}}
    assert out["noneOffsets"] == [[0, "0", "50"]]
    assert "js-doomed" not in out["afterDelete"]
    assert {"js-none", "js-gzip", "js-multi"} <= set(out["afterDelete"])
