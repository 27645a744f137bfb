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
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration "$@"
