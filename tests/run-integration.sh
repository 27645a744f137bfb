#!/usr/bin/env bash
# Runs the integration suite (real `shale serve` processes and real Kafka clients).
# Usage: tests/run-integration.sh [pytest args...]   (SHALE_BIN overrides build/shale)
# Includes the cluster scenario run (test_cluster_scenarios.py, one pass, ~1 min; needs root for
# its network namespace, else it skips the network cut). Long mode: SHALE_SCENARIO_MINUTES=N
# loops the scenarios for N minutes; SHALE_SCENARIO_STORE=rgw runs them on Ceph RGW
# (tests/cluster/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
export SHALE_BIN="${SHALE_BIN:-$PWD/build/shale}"
if [ ! -x "$SHALE_BIN" ]; then
  echo "run-integration: $SHALE_BIN not found; build it first (scripts/build.sh or ninja -C build shale)" >&2
  exit 2
fi
# Brokers' data directories (file WAL segments are preallocated) take ~6 GiB per run; pytest
# would keep the last three runs under /tmp/pytest-of-$USER. Run in a directory of our own and
# delete it when the run passes (kept, and named, when it fails).
base=$(mktemp -d "${TMPDIR:-/tmp}/shale-it.XXXXXX")
rc=0
/usr/bin/python3 -m pytest -q -p no:cacheprovider --basetemp="$base" tests/integration "$@" || rc=$?
if [ "$rc" = 0 ]; then
  rm -rf "$base"
else
  echo "run-integration: test directories kept in $base" >&2
fi
exit "$rc"
