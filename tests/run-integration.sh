#!/usr/bin/env bash
# Runs the integration suite (real `shale serve` processes and real Kafka clients).
# Usage: tests/run-integration.sh [pytest args...]   (SHALE_BIN overrides build/shale)
set -euo pipefail
cd "$(dirname "$0")/.."
export SHALE_BIN="${SHALE_BIN:-$PWD/build/shale}"
if [ ! -x "$SHALE_BIN" ]; then
  echo "run-integration: $SHALE_BIN not found; build it first (scripts/build.sh or ninja -C build shale)" >&2
  exit 2
fi
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration "$@"
