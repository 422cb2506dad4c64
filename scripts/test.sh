#!/usr/bin/env bash
# Builds everything (warnings are errors) and runs the whole test suite: unit, database,
# component (real TLS), integration (the real binary, curl, SIGKILL), benchmark smoke runs and the
# fuzz corpora (fuzz/corpus/, label fuzz).
# Pass ctest arguments to narrow it down, e.g. `scripts/test.sh -L unit`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
cmake --preset ci >/dev/null
cmake --build --preset ci
ctest --preset ci "$@"
