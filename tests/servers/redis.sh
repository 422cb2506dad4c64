#!/usr/bin/env bash
# Test fixture: a private redis-server for the tests, on 127.0.0.1, on a free port, with a
# password and AOF (appendfsync always, as the no-loss tests need), owned by this fixture alone.
#   redis.sh start DIR   -> starts it, writes DIR/server.env (REDIS_HOST, REDIS_PORT,
#                           REDIS_PASSWORD, REDIS_URL, SERVER_PID, SERVER_SCRIPT, SERVER_DIR)
#   redis.sh stop DIR    -> stops it by the PID it recorded
#   redis.sh down DIR    -> stops it by that PID but keeps DIR (data, port, password) for `up`
#   redis.sh up DIR      -> starts it again as `start` recorded it (same port, password and AOF)
#                           and records the new SERVER_PID; fails when the port is taken
# `down` and `up` are for fault tests, on a fixture of their own (a restart would disturb any
# other test sharing the server). See libs/testing/include/msgbroker/testing/test_servers.hpp.
set -euo pipefail
cmd=${1:?start|stop|down|up}
dir=${2:?state directory}

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
script=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")

# launch PORT PASSWORD: starts redis-server on PORT over DIR/data (which holds the AOF) and waits
# until the server on PORT reports the PID it wrote to DIR/redis.pid. Prints that PID; fails
# (after stopping what it started) when the port belongs to someone else or it does not come up.
launch() {
  local port=$1 password=$2 pid served=
  rm -f "$dir/redis.pid"
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir/data" --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --requirepass "$password" \
    --appendonly yes --appendfsync always --save '' >/dev/null 2>&1 || return 1
  for _ in $(seq 1 50); do
    [[ -s "$dir/redis.pid" ]] && break
    sleep 0.1
  done
  [[ -s "$dir/redis.pid" ]] || return 1
  pid=$(cat "$dir/redis.pid")
  # Ours, not another server that happened to hold the port: it must report our PID (and answer
  # PING, i.e. be done loading the AOF).
  for _ in $(seq 1 100); do
    served=$(REDISCLI_AUTH="$password" redis-cli -h 127.0.0.1 -p "$port" info server 2>/dev/null |
      tr -d '\r' | sed -n 's/^process_id://p')
    if [[ "$served" == "$pid" ]] &&
      [[ $(REDISCLI_AUTH="$password" redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) == PONG ]]; then
      echo "$pid"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  stop_pid "$pid"
  return 1
}

# write_env PORT PASSWORD PID: DIR/server.env, replaced atomically (tests read it at any time).
write_env() {
  cat >"$dir/server.env.new" <<ENV
REDIS_HOST=127.0.0.1
REDIS_PORT=$1
REDIS_PASSWORD=$2
REDIS_URL=redis://:$2@127.0.0.1:$1
SERVER_PID=$3
SERVER_SCRIPT=$script
SERVER_DIR=$dir
ENV
  mv "$dir/server.env.new" "$dir/server.env"
}

# recorded KEY: a value `start` wrote to DIR/server.env.
recorded() { sed -n "s/^$1=//p" "$dir/server.env"; }

case "$cmd" in
  start)
    if [[ -f "$dir/redis.pid" ]]; then stop_pid "$(cat "$dir/redis.pid")"; fi
    rm -rf "$dir"
    mkdir -p "$dir/data"
    dir=$(cd "$dir" && pwd)
    password=$(head -c 18 /dev/urandom | base64 | tr -d '+/=')
    for _ in $(seq 1 20); do
      port=$((20000 + RANDOM % 40000))
      if pid=$(launch "$port" "$password"); then
        write_env "$port" "$password" "$pid"
        echo "redis-server $pid on 127.0.0.1:$port"
        exit 0
      fi
    done
    echo "could not start redis-server; log:" >&2
    cat "$dir/redis.log" >&2 || true
    exit 1
    ;;
  down)
    pid=$(recorded SERVER_PID)
    stop_pid "$pid"
    await_exit "$pid" redis-server
    ;;
  up)
    dir=$(cd "$dir" && pwd)
    port=$(recorded REDIS_PORT)
    password=$(recorded REDIS_PASSWORD)
    if ! pid=$(launch "$port" "$password"); then
      echo "could not start redis-server again on 127.0.0.1:$port; log:" >&2
      tail -n 20 "$dir/redis.log" >&2 || true
      exit 1
    fi
    write_env "$port" "$password" "$pid"
    echo "redis-server $pid on 127.0.0.1:$port again"
    ;;
  stop)
    if [[ -f "$dir/redis.pid" ]]; then stop_pid "$(cat "$dir/redis.pid")"; fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|stop|down|up DIR" >&2
    exit 2
    ;;
esac
