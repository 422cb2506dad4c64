#!/usr/bin/env bash
# Installs the Debian bookworm packages that building, running and testing msgbroker need, and any
# further packages named as arguments (scripts/fuzz.sh adds its compiler and sanitizer runtimes).
# Idempotent; run as root (or with sudo).
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git clang-format-14
  # libraries
  libboost1.81-dev libssl-dev libsqlite3-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libcli11-dev libexpected-dev libsodium-dev prometheus-cpp-dev zlib1g-dev libyaml-cpp-dev
  libhiredis-dev libpq-dev libmariadb-dev
  # servers the database tests start on loopback (never the system's own instances)
  redis-server postgresql-15 mariadb-server
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev curl ca-certificates procps
  "$@"
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "Installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
