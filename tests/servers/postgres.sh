#!/usr/bin/env bash
# Test fixture: a private PostgreSQL 15 for the tests, on 127.0.0.1, on a free port, with its own
# data directory (fsync on, as the no-loss tests need), its Unix socket inside DIR, and a database
# owned by a user with a random password (scram-sha-256 over TCP), owned by this fixture alone.
#   postgres.sh start DIR -> starts it, writes DIR/server.env (DATABASE_URL, PGHOST, PGPORT,
#                            PGUSER, PGPASSWORD, PGDATABASE, PG_BIN, SERVER_PID)
#   postgres.sh stop DIR  -> stops it by the PID it recorded
#   postgres.sh down DIR  -> stops it by that PID but keeps DIR (data, port, users) for `up`
#   postgres.sh up DIR    -> starts it again as `start` recorded it (same port and data) and
#                            records the new SERVER_PID; fails when the port is taken
# `down` and `up` are for fault tests, on a fixture of their own (a restart would disturb any
# other test sharing the server). server.env also names SERVER_SCRIPT and SERVER_DIR for them.
# The user owns its database, so tests may create and drop schemas in it (one per test).
# initdb refuses to run as root: as root, the server runs as the `postgres` system user.
# See libs/testing/include/msgbroker/testing/test_servers.hpp.
set -euo pipefail
cmd=${1:?start|stop|down|up}
dir=${2:?state directory}
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}

as_owner=()
if [[ $EUID -eq 0 ]]; then as_owner=(runuser -u postgres --); fi

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# SIGINT is PostgreSQL's "fast" shutdown.
stop_postgres() { stop_pid "$1" INT 300; }

script=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")

# The postmaster's PID from its pid file (first line), if it is still there.
recorded_pid() {
  if [[ -s "$dir/data/postmaster.pid" ]]; then head -n 1 "$dir/data/postmaster.pid"; fi
}

# launch PORT: starts the server of DIR/data on PORT and makes sure it is ours. Prints the
# postmaster's PID; fails (after stopping what it started) otherwise.
launch() {
  local port=$1 pid served listed_port
  "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir/sock
        -c fsync=on -c synchronous_commit=on -c max_connections=200" \
    start >/dev/null 2>&1 || return 1
  pid=$(recorded_pid)
  # Ours, not another server that happened to hold the port: the postmaster of our data
  # directory must be listening on the port, and the server there must serve our directory.
  served=$("${as_owner[@]}" "$bin/psql" -h "$dir/sock" -p "$port" -U postgres -d postgres \
    -XAtqc 'SHOW data_directory' 2>/dev/null || true)
  listed_port=$(sed -n 4p "$dir/data/postmaster.pid" 2>/dev/null || true)
  if [[ -n "$pid" && "$served" == "$dir/data" && "$listed_port" == "$port" ]] &&
    kill -0 "$pid" 2>/dev/null; then
    echo "$pid"
    return 0
  fi
  if [[ -n "$pid" ]]; then stop_postgres "$pid"; fi
  return 1
}

# write_env USER PASSWORD PORT DATABASE PID: DIR/server.env, replaced atomically (tests read it at
# any time).
write_env() {
  cat >"$dir/server.env.new" <<ENV
DATABASE_URL=postgresql://$1:$2@127.0.0.1:$3/$4
PGHOST=127.0.0.1
PGPORT=$3
PGUSER=$1
PGPASSWORD=$2
PGDATABASE=$4
PG_BIN=$bin
SERVER_PID=$5
SERVER_SCRIPT=$script
SERVER_DIR=$dir
ENV
  mv "$dir/server.env.new" "$dir/server.env"
}

# recorded KEY: a value `start` wrote to DIR/server.env.
recorded() { sed -n "s/^$1=//p" "$dir/server.env"; }

case "$cmd" in
  start)
    pid=$(recorded_pid 2>/dev/null || true)
    if [[ -n "$pid" ]]; then stop_postgres "$pid"; fi
    rm -rf "$dir"
    mkdir -p "$dir/sock"
    dir=$(cd "$dir" && pwd)
    if [[ $EUID -eq 0 ]]; then
      chown -R postgres:postgres "$dir"
      # The server user must be able to reach DIR.
      parent=$dir
      while [[ "$parent" != "/" ]]; do
        parent=$(dirname "$parent")
        if ! runuser -u postgres -- test -x "$parent"; then
          echo "the postgres user cannot reach $parent" >&2
          exit 1
        fi
      done
    fi
    chmod 0700 "$dir"
    password=$(head -c 18 /dev/urandom | base64 | tr -d '+/=')
    user=msgbroker
    database=msgbroker
    if ! "${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust \
      --auth-host=scram-sha-256 --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1; then
      echo "initdb failed; log:" >&2
      cat "$dir/initdb.log" >&2 || true
      exit 1
    fi
    # Only loopback TCP with a password, and the socket (trust) inside DIR for this script.
    cat >"$dir/data/pg_hba.conf" <<HBA
local all postgres trust
host all all 127.0.0.1/32 scram-sha-256
HBA
    for _ in $(seq 1 20); do
      port=$((20000 + RANDOM % 40000))
      pid=$(launch "$port") || continue
      "${as_owner[@]}" "$bin/psql" -h "$dir/sock" -p "$port" -U postgres -d postgres -XAtq \
        -v ON_ERROR_STOP=1 -v user="$user" -v password="$password" -v db="$database" \
        >>"$dir/setup.log" 2>&1 <<'SQL' || { cat "$dir/setup.log" >&2; stop_postgres "$pid"; exit 1; }
CREATE ROLE :"user" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"user";
SQL
      # Over TCP with the password, as the tests connect.
      if ! PGPASSWORD="$password" "$bin/psql" -h 127.0.0.1 -p "$port" -U "$user" \
        -d "$database" -XAtqc 'SELECT 1' >/dev/null 2>>"$dir/setup.log"; then
        echo "cannot log in as $user over TCP; log:" >&2
        cat "$dir/setup.log" >&2 || true
        stop_postgres "$pid"
        exit 1
      fi
      write_env "$user" "$password" "$port" "$database" "$pid"
      echo "postgres $pid on 127.0.0.1:$port"
      exit 0
    done
    echo "could not start postgres; log:" >&2
    cat "$dir/postgres.log" >&2 || true
    exit 1
    ;;
  down)
    pid=$(recorded SERVER_PID)
    stop_postgres "$pid"
    await_exit "$pid" postgres
    ;;
  up)
    dir=$(cd "$dir" && pwd)
    port=$(recorded PGPORT)
    if ! pid=$(launch "$port"); then
      echo "could not start postgres again on 127.0.0.1:$port; log:" >&2
      tail -n 20 "$dir/postgres.log" >&2 || true
      exit 1
    fi
    write_env "$(recorded PGUSER)" "$(recorded PGPASSWORD)" "$port" "$(recorded PGDATABASE)" "$pid"
    echo "postgres $pid on 127.0.0.1:$port again"
    ;;
  stop)
    pid=$(recorded_pid 2>/dev/null || true)
    if [[ -n "$pid" ]]; then stop_postgres "$pid"; fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|stop|down|up DIR" >&2
    exit 2
    ;;
esac
