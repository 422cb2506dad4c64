#!/usr/bin/env bash
# Test fixture: a private redis-server for the tests, on 127.0.0.1, on a free port, with a
# password and AOF (appendfsync always, as the no-loss tests need), owned by this fixture alone.
#   redis.sh start DIR   -> starts it, writes DIR/server.env (REDIS_HOST, REDIS_PORT,
#                           REDIS_PASSWORD, REDIS_URL, SERVER_PID)
#   redis.sh stop DIR    -> stops it by the PID it recorded
# See libs/testing/include/msgbroker/testing/test_servers.hpp.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?state directory}

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "$cmd" in
  start)
    if [[ -f "$dir/redis.pid" ]]; then stop_pid "$(cat "$dir/redis.pid")"; fi
    rm -rf "$dir"
    mkdir -p "$dir/data"
    password=$(head -c 18 /dev/urandom | base64 | tr -d '+/=')
    for _ in $(seq 1 20); do
      port=$((20000 + RANDOM % 40000))
      rm -f "$dir/redis.pid"
      redis-server --bind 127.0.0.1 --port "$port" --dir "$dir/data" --daemonize yes \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --requirepass "$password" \
        --appendonly yes --appendfsync always --save '' >/dev/null 2>&1 || continue
      for _ in $(seq 1 50); do
        [[ -s "$dir/redis.pid" ]] && break
        sleep 0.1
      done
      [[ -s "$dir/redis.pid" ]] || continue
      pid=$(cat "$dir/redis.pid")
      # Ours, not another server that happened to hold the port: it must report our PID.
      for _ in $(seq 1 50); do
        served=$(REDISCLI_AUTH="$password" redis-cli -h 127.0.0.1 -p "$port" info server 2>/dev/null |
          tr -d '\r' | sed -n 's/^process_id://p')
        [[ "$served" == "$pid" ]] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      if [[ "$served" == "$pid" ]]; then
        cat >"$dir/server.env" <<ENV
REDIS_HOST=127.0.0.1
REDIS_PORT=$port
REDIS_PASSWORD=$password
REDIS_URL=redis://:$password@127.0.0.1:$port
SERVER_PID=$pid
ENV
        echo "redis-server $pid on 127.0.0.1:$port"
        exit 0
      fi
      stop_pid "$pid"
    done
    echo "could not start redis-server; log:" >&2
    cat "$dir/redis.log" >&2 || true
    exit 1
    ;;
  stop)
    if [[ -f "$dir/redis.pid" ]]; then stop_pid "$(cat "$dir/redis.pid")"; fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
