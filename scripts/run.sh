#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running broker: installs dependencies, builds,
# and starts `shale serve` on 127.0.0.1:9092 with the embedded default under ./data.
# Any arguments are passed to `shale serve` (see `build/shale serve --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/shale serve "$@"
