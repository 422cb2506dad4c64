#!/usr/bin/env bash
# Builds msgbroker (release) and runs `msgbroker up` on embedded defaults. Extra arguments go to
# `msgbroker up` (e.g. --data-dir DIR, --host 0.0.0.0).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target msgbroker
exec ./build/release/cli/msgbroker up "$@"
