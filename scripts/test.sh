#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a passing test suite: installs dependencies,
# builds, and runs every test tier:
#   1. unit tests and process-level SIGKILL tests (Release build, build/; labels unit, slow)
#   2. unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)
#   3. the Kafka request-decoder fuzzer for a bounded time (clang + libFuzzer, build-fuzz/)
#   4. backends against real servers the tests start and stop themselves: etcd (label etcd)
#      and a single-node Ceph RGW (label s3)
#   5. integration tests with real Kafka clients against build/shale (tests/run-integration.sh)
#   6. a smoke run of the benchmark harness (bench/run-all --smoke)
# Set SHALE_TEST_SKIP="asan fuzz" (any of asan fuzz services integration bench) to skip tiers.
set -euo pipefail
cd "$(dirname "$0")/.."
skip="${SHALE_TEST_SKIP:-}"
want() { [[ " $skip " != *" $1 "* ]]; }
jobs=$(nproc)
step() { printf '\n==== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

step "install dependencies"
scripts/install-deps.sh

step "build (Release)"
scripts/build.sh

step "unit and SIGKILL tests (Release)"
ctest --test-dir build -L 'unit|slow' --output-on-failure -j "$jobs"

if want asan; then
  step "unit tests under ASan+UBSan"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSHALE_SANITIZE=ON \
    -DSHALE_BENCH=OFF >/dev/null
  ninja -C build-asan
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan -L unit --output-on-failure -j "$jobs"
fi

if want fuzz; then
  step "fuzz the Kafka request decoder (bounded)"
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSHALE_FUZZ=ON -DSHALE_BENCH=OFF >/dev/null
  ninja -C build-fuzz kafka_request_fuzz
  corpus=$(mktemp -d)
  cp -r src/kafka/protocol/tests/fuzz_corpus/. "$corpus"/
  fuzzer=$(find build-fuzz -name kafka_request_fuzz -type f -perm -u+x | head -1)
  "$fuzzer" -max_total_time="${SHALE_FUZZ_SECONDS:-60}" -rss_limit_mb=2048 "$corpus" 2>&1 | tail -n 5
  rm -rf "$corpus"
fi

if want services; then
  step "etcd and S3 (Ceph RGW) backends against real servers"
  ctest --test-dir build -L 'etcd|s3' --output-on-failure
fi

if want integration && [ -x tests/run-integration.sh ]; then
  step "integration tests with real Kafka clients"
  tests/run-integration.sh
fi

if want bench && [ -x bench/run-all ]; then
  step "benchmark harness smoke run"
  bench/run-all --smoke
fi

step "all tests passed"
