"""Admin and metadata APIs through real clients: kcat (librdkafka), confluent-kafka's
AdminClient and kafka-python's KafkaAdminClient."""
import subprocess

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic


def admin(shale):
    return AdminClient({"bootstrap.servers": shale.bootstrap})


def test_kcat_lists_the_broker(shale):
    out = subprocess.run(["kcat", "-b", shale.bootstrap, "-L", "-m", "5"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert f"broker 0 at 127.0.0.1:{shale.port}" in out.stdout
    assert "(controller)" in out.stdout


def test_list_topics_and_cluster_id(shale):
    md = admin(shale).list_topics(timeout=10)
    assert md.cluster_id == "shale-cluster"
    assert md.controller_id == 0
    assert list(md.brokers) == [0]
    assert md.brokers[0].port == shale.port


def test_create_describe_delete_topic(shale):
    a = admin(shale)
    fs = a.create_topics([NewTopic("orders", num_partitions=3, replication_factor=1,
                                   config={"retention.ms": "3600000"})])
    fs["orders"].result(timeout=10)
    md = a.list_topics(timeout=10)
    t = md.topics["orders"]
    assert sorted(t.partitions) == [0, 1, 2]
    for p in t.partitions.values():
        assert p.leader == 0 and p.replicas == [0] and p.isrs == [0]

    # Creating it again fails with TOPIC_ALREADY_EXISTS.
    fs = a.create_topics([NewTopic("orders", num_partitions=1, replication_factor=1)])
    with pytest.raises(Exception) as e:
        fs["orders"].result(timeout=10)
    assert "TOPIC_ALREADY_EXISTS" in str(e.value)

    res = ConfigResource(ConfigResource.Type.TOPIC, "orders")
    cfg = a.describe_configs([res])[res].result(timeout=10)
    assert cfg["retention.ms"].value == "3600000"

    a.create_partitions([NewPartitions("orders", 5)])["orders"].result(timeout=10)
    assert len(a.list_topics(timeout=10).topics["orders"].partitions) == 5

    a.delete_topics(["orders"])["orders"].result(timeout=10)
    assert "orders" not in a.list_topics(timeout=10).topics


def test_replication_factor_three_is_accepted_and_reported_as_one_replica(shale):
    a = admin(shale)
    a.create_topics([NewTopic("rf3", num_partitions=1, replication_factor=3)])["rf3"].result(10)
    p = a.list_topics(timeout=10).topics["rf3"].partitions[0]
    assert p.replicas == [0] and p.isrs == [0]


def test_invalid_topic_name_is_refused(shale):
    a = admin(shale)  # keep the client alive until the future resolves
    fs = a.create_topics([NewTopic("bad/name", num_partitions=1, replication_factor=1)])
    with pytest.raises(Exception) as e:
        fs["bad/name"].result(timeout=10)
    assert "val=17" in str(e.value)  # INVALID_TOPIC_EXCEPTION (librdkafka: TOPIC_EXCEPTION)


def test_alter_configs_incrementally(shale):
    a = admin(shale)
    a.create_topics([NewTopic("cfg", num_partitions=1, replication_factor=1)])["cfg"].result(10)
    res = ConfigResource(ConfigResource.Type.TOPIC, "cfg", set_config={"retention.ms": "1000"})
    a.alter_configs([res])[res].result(timeout=10)
    d = ConfigResource(ConfigResource.Type.TOPIC, "cfg")
    assert a.describe_configs([d])[d].result(timeout=10)["retention.ms"].value == "1000"


def test_metadata_auto_creates_topics(shale):
    out = subprocess.run(["kcat", "-b", shale.bootstrap, "-L", "-t", "auto-made", "-m", "5"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert admin(shale).list_topics(timeout=10).topics.get("auto-made") is not None


def test_auto_create_can_be_disabled(shale_factory):
    s = shale_factory("--auto-create-topics", "false")
    a = AdminClient({"bootstrap.servers": s.bootstrap})
    md = a.list_topics(topic="nope", timeout=10)
    assert md.topics["nope"].error is not None
    assert "UNKNOWN_TOPIC" in str(md.topics["nope"].error)


def test_kafka_python_admin(shale):
    from kafka.admin import KafkaAdminClient, NewTopic as KNewTopic
    a = KafkaAdminClient(bootstrap_servers=shale.bootstrap, request_timeout_ms=10000)
    try:
        a.create_topics([KNewTopic("kp", num_partitions=2, replication_factor=1)])
        assert "kp" in a.list_topics()
        cluster = a.describe_cluster()
        assert cluster["controller_id"] == 0
        a.delete_topics(["kp"])
        assert "kp" not in a.list_topics()
    finally:
        a.close()


def test_topics_survive_restart(tmp_path):
    from conftest import Shale
    s = Shale(tmp_path)
    try:
        a = AdminClient({"bootstrap.servers": s.bootstrap})
        a.create_topics([NewTopic("durable", num_partitions=2,
                                  replication_factor=1)])["durable"].result(10)
    finally:
        assert s.stop()[0] == 0
    s2 = Shale(tmp_path)  # same data dir, new ports
    try:
        md = AdminClient({"bootstrap.servers": s2.bootstrap}).list_topics(timeout=10)
        assert len(md.topics["durable"].partitions) == 2
    finally:
        assert s2.stop()[0] == 0
