#!/usr/bin/env bash
# Installs everything Shale needs to build, run and test on a fresh Debian 12 machine.
# Idempotent: packages already present are skipped by apt; npm packages are installed
# into tests/node (gitignored) only when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS=(
  # toolchain
  build-essential cmake ninja-build python3 clang clang-format libclang-rt-14-dev
  # libraries
  libasio-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev libtomlplusplus-dev
  libisal-dev libzstd-dev liblz4-dev libsnappy-dev zlib1g-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # real Kafka clients used as compatibility judges and by the benchmark
  librdkafka-dev kcat python3-confluent-kafka python3-kafka python3-pytest
  # codecs kafka-python needs for snappy, lz4 and zstd batches (tests/integration/test_compat_clients.py)
  python3-snappy python3-lz4 python3-zstandard
  # S3 client (src/s3) and the single-node Ceph RGW its `s3` test label runs against (scripts/rgw.sh)
  libcurl4-openssl-dev curl radosgw ceph-mon ceph-osd ceph-common uuid-runtime
  # etcd metadata backend (src/etcd) and the etcd its `etcd` test label runs against (scripts/etcd.sh)
  etcd-server etcd-client
)
# Node.js: use the machine's if it has one (it may come bundled with npm), else Debian's.
command -v npm >/dev/null 2>&1 || APT_PKGS+=(nodejs npm)

missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Node test clients (kafkajs) live in tests/node/node_modules, never committed.
if [ -f tests/node/package.json ] && [ ! -d tests/node/node_modules/kafkajs ]; then
  (cd tests/node && npm install --no-audit --no-fund --silent)
fi
echo "install-deps: ok"

