"""Settings: TOML file + flags (flags win), --help listing every setting with its default."""
import subprocess

from confluent_kafka.admin import AdminClient

from conftest import SHALE_BIN


def test_config_file_values_apply_and_flags_override_them(shale_factory, tmp_path):
    cfg = tmp_path / "shale.toml"
    cfg.write_text('node-id = 5\ncluster-id = "from-file"\ndefault-partitions = 3\n')
    s = shale_factory("--config", str(cfg), "--cluster-id", "from-flag")
    a = AdminClient({"bootstrap.servers": s.bootstrap})
    md = a.list_topics(timeout=10)
    assert list(md.brokers) == [5]
    assert md.controller_id == 5
    assert md.cluster_id == "from-flag"
    md = a.list_topics(topic="auto3", timeout=10)  # auto-created with default-partitions
    assert len(md.topics["auto3"].partitions) == 3


def test_bad_config_file_is_a_clear_error(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("data_dir = 'typo'\n")
    out = subprocess.run([SHALE_BIN, "serve", "--config", str(cfg)], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 2
    assert "unknown setting 'data_dir'" in out.stderr


def test_help_lists_every_setting_with_its_default():
    top = subprocess.run([SHALE_BIN, "--help"], capture_output=True, text=True, timeout=10)
    serve = subprocess.run([SHALE_BIN, "serve", "--help"], capture_output=True, text=True,
                           timeout=10)
    assert top.returncode == 0 and serve.returncode == 0
    for name, default in [("data-dir", "./data"), ("listen", "127.0.0.1:9092"),
                          ("http", "127.0.0.1:9644"), ("max-request-bytes", "104857600"),
                          ("max-connections", "10000"), ("idle-timeout-ms", "600000"),
                          ("wal-segment-bytes", "67108864"), ("log-cache-bytes", "268435456"),
                          ("upload-interval-ms", "500")]:
        assert name in top.stdout and default in top.stdout, name
        assert f"--{name}" in serve.stdout, name
