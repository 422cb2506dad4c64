#!/usr/bin/env bash
# Test fixture: a private mariadbd for the tests, on 127.0.0.1, on a free port, with its own data
# directory, a database and a user with a random password, InnoDB syncing every commit
# (innodb_flush_log_at_trx_commit=1, as the no-loss tests need), owned by this fixture alone.
#   mariadb.sh start DIR -> starts it, writes DIR/server.env (DATABASE_URL, MYSQL_HOST,
#                           MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD, MYSQL_DATABASE, SERVER_PID)
#   mariadb.sh stop DIR  -> stops it by the PID it recorded
# The user may create and drop databases named t_* (one per test) besides its own database.
# See libs/testing/include/msgbroker/testing/test_servers.hpp.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?state directory}

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
stop_mariadb() { stop_pid "$1" TERM 300; }

case "$cmd" in
  start)
    if [[ -f "$dir/mariadbd.pid" ]]; then stop_mariadb "$(cat "$dir/mariadbd.pid")"; fi
    rm -rf "$dir"
    mkdir -p "$dir/data"
    dir=$(cd "$dir" && pwd)
    socket="$dir/mysqld.sock"
    run_as=()
    if [[ $EUID -eq 0 ]]; then run_as=(--user=root); fi
    if ! mariadb-install-db --no-defaults --datadir="$dir/data" "${run_as[@]}" \
      --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1; then
      echo "mariadb-install-db failed; log:" >&2
      cat "$dir/install.log" >&2 || true
      exit 1
    fi
    password=$(head -c 18 /dev/urandom | base64 | tr -d '+/=')
    user=msgbroker
    database=msgbroker
    root_sql=(mariadb --no-defaults --socket="$socket" --user=root --batch --skip-column-names)
    for _ in $(seq 1 20); do
      port=$((20000 + RANDOM % 40000))
      rm -f "$dir/mariadbd.pid" "$socket"
      mariadbd --no-defaults --datadir="$dir/data" --socket="$socket" \
        --pid-file="$dir/mariadbd.pid" --port="$port" --bind-address=127.0.0.1 \
        --skip-name-resolve --innodb-flush-log-at-trx-commit=1 --log-error="$dir/error.log" \
        "${run_as[@]}" </dev/null >/dev/null 2>&1 &
      launched=$!
      # Up when it answers on our socket (a server in another directory cannot own it).
      up=no
      for _ in $(seq 1 300); do
        if mariadb-admin --no-defaults --socket="$socket" --user=root ping >/dev/null 2>&1; then
          up=yes
          break
        fi
        kill -0 "$launched" 2>/dev/null || break
        sleep 0.1
      done
      if [[ "$up" != yes || ! -s "$dir/mariadbd.pid" ]]; then
        stop_mariadb "$launched"
        continue
      fi
      pid=$(cat "$dir/mariadbd.pid")
      if [[ "$pid" != "$launched" ]]; then
        stop_mariadb "$launched"
        continue
      fi
      "${root_sql[@]}" <<SQL
CREATE DATABASE \`$database\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE USER '$user'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON \`$database\`.* TO '$user'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`t\\_%\`.* TO '$user'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
      # Ours, not another server that happened to hold the port: over TCP it must report our
      # data directory.
      served=$(mariadb --no-defaults --protocol=TCP --host=127.0.0.1 --port="$port" \
        --user="$user" --password="$password" --batch --skip-column-names \
        -e 'SELECT @@datadir' 2>/dev/null || true)
      if [[ "${served%/}" == "$dir/data" ]]; then
        cat >"$dir/server.env" <<ENV
DATABASE_URL=mysql://$user:$password@127.0.0.1:$port/$database
MYSQL_HOST=127.0.0.1
MYSQL_PORT=$port
MYSQL_USER=$user
MYSQL_PASSWORD=$password
MYSQL_DATABASE=$database
SERVER_PID=$pid
ENV
        echo "mariadbd $pid on 127.0.0.1:$port"
        exit 0
      fi
      stop_mariadb "$pid"
    done
    echo "could not start mariadbd; log:" >&2
    cat "$dir/error.log" >&2 || true
    exit 1
    ;;
  stop)
    if [[ -f "$dir/mariadbd.pid" ]]; then stop_mariadb "$(cat "$dir/mariadbd.pid")"; fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
