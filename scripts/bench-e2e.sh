#!/usr/bin/env bash
# End-to-end benchmark of the distributed layout on real servers, every process separate:
#
#   msgbroker bench ──mTLS──▶ msgbroker proxy ──▶ redis-server ──▶ msgbroker worker(s)
#                                 ──mTLS──▶ msgbroker main-server ──▶ PostgreSQL
#
# It builds the release preset, starts a private redis-server and PostgreSQL on 127.0.0.1
# (tests/servers/redis.sh, postgres.sh), creates a data directory with `msgbroker up` (CA,
# certificates, keys; stopped again at once), registers the demo client in PostgreSQL, starts one
# main server, one proxy and the workers from YAML files, and runs `msgbroker bench`:
#   single messages at 64 connections, then batches of 100 and of 500, with the workers
#   delivering all along; then the intake runs: single messages, and batches of 500 at 8 and 32
#   connections for at most 8 s (the proxy's queue.max_messages is 2,000,000 here), with the
#   workers stopped during the load (the queue absorbs it) and resumed for the drain, which
#   then measures delivery alone. A run whose requests were refused says so next to accepted/s.
# For every run it reports accepted/s, delivered/s (committed in PostgreSQL: the bench counts the
# main server's stored items, incremented after each COMMIT), latency percentiles and CPU seconds
# per component from /proc/<pid>/stat (utime+stime deltas; PostgreSQL = postmaster + every child,
# including reaped ones via cutime/cstime), as % of one core and CPU µs per delivered message.
# Then reference figures on the same servers: redis-benchmark and pgbench; and, when nginx is
# installed (it is not a dependency: `apt-get install nginx-light`), the ceiling of HTTP over
# mutual TLS on these cores with this load generator: nginx answering a fixed 202 to the same
# `msgbroker bench` single-message load.
# Everything listens on 127.0.0.1 only; every load is bounded in time; every process this script
# starts is stopped by its PID on exit.
#
# Usage: scripts/bench-e2e.sh [--quick] [--skip-build] [--no-reference] [--no-intake]
#          [--profile DIR] [--keep] [--runs NAME,...]
#          [--duration S] [--workers N] [--worker-concurrency N] [--worker-batch N]
#          [--proxy-io-threads N] [--main-io-threads N] [--bench-threads N] [--out DIR]
#          [--redis-appendfsync always|everysec]
# The same settings as environment variables: E2E_DURATION, E2E_WORKERS, E2E_WORKER_CONCURRENCY,
# E2E_WORKER_BATCH, E2E_PROXY_IO_THREADS, E2E_MAIN_IO_THREADS, E2E_BENCH_THREADS,
# E2E_REDIS_APPENDFSYNC.
#   --quick        3-second runs, small reference runs (a smoke test of the script itself)
#   --no-intake    skip the intake runs
#   --profile DIR  after the measured runs, repeat the single and the batch-100 run under
#                  `perf record` (all components) and write flat profiles to DIR; with --runs,
#                  those of the listed runs, the intake runs included
#   --keep         keep the temporary directory (logs, configs, data) for inspection
#   --runs LIST    only these runs (comma-separated names as the report shows them, e.g.
#                  intake-batch500-c32), for an A/B of one change
#   --redis-appendfsync everysec   diagnostic only (gives up the 202-means-durable promise): how
#                  much of a run is waiting for Redis's fsync rather than CPU
#   --out DIR      results.jsonl, report.md, reference.txt, Redis command statistics per run
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
servers="$repo/tests/servers"

duration=${E2E_DURATION:-20}
workers=${E2E_WORKERS:-1}
worker_concurrency=${E2E_WORKER_CONCURRENCY:-2}
worker_batch=${E2E_WORKER_BATCH:-500}
proxy_io_threads=${E2E_PROXY_IO_THREADS:-2}
main_io_threads=${E2E_MAIN_IO_THREADS:-2}
bench_threads=${E2E_BENCH_THREADS:-1}
redis_appendfsync=${E2E_REDIS_APPENDFSYNC:-always}
quick=0
build=1
reference=1
intake=1
keep=0
profile_dir=""
out_dir=""
runs=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --skip-build) build=0 ;;
    --no-reference) reference=0 ;;
    --no-intake) intake=0 ;;
    --keep) keep=1 ;;
    --profile) profile_dir=$2; shift ;;
    --out) out_dir=$2; shift ;;
    --runs) runs=$2; shift ;;
    --duration) duration=$2; shift ;;
    --workers) workers=$2; shift ;;
    --worker-concurrency) worker_concurrency=$2; shift ;;
    --worker-batch) worker_batch=$2; shift ;;
    --proxy-io-threads) proxy_io_threads=$2; shift ;;
    --main-io-threads) main_io_threads=$2; shift ;;
    --bench-threads) bench_threads=$2; shift ;;
    --redis-appendfsync) redis_appendfsync=$2; shift ;;
    -h | --help) sed -n '2,38p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [[ $quick -eq 1 ]]; then duration=3; fi
known_runs=" single-c64 batch100-c16 batch500-c8 intake-single-c64 intake-batch500-c8"
known_runs+=" intake-batch500-c32 "
for run in ${runs//,/ }; do
  if [[ "$known_runs" != *" $run "* ]]; then
    echo "bench-e2e: unknown run $run (known:$known_runs)" >&2
    exit 2
  fi
done
drain_timeout=$((quick ? 60 : 300))

for tool in redis-server redis-cli redis-benchmark jq; do
  command -v "$tool" >/dev/null || { echo "bench-e2e: $tool is missing" >&2; exit 1; }
done

# --- build ---------------------------------------------------------------------------------------
cd "$repo"
if [[ $build -eq 1 ]]; then
  cmake --preset release >/dev/null
  cmake --build --preset release --target msgbroker
fi
bin="$repo/build/release/msgbroker"
[[ -x "$bin" ]] || bin="$repo/build/release/cli/msgbroker"
[[ -x "$bin" ]] || { echo "bench-e2e: no release binary (build/release/msgbroker)" >&2; exit 1; }

# --- state and clean-up --------------------------------------------------------------------------
tmp=$(mktemp -d /tmp/msgbroker-bench-e2e.XXXXXX)
chmod 0755 "$tmp"  # the postgres system user must reach $tmp/pg when we run as root
[[ -n "$out_dir" ]] || out_dir="$tmp/out"
mkdir -p "$out_dir"
started_pids=()  # every msgbroker and perf process this script started
redis_dir="$tmp/redis"
pg_dir="$tmp/pg"

stop_started() {
  local pid
  # CONT first: a worker stopped for an intake run would not act on TERM.
  for pid in "${started_pids[@]}"; do kill -CONT "$pid" 2>/dev/null; kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${started_pids[@]}"; do
    for _ in $(seq 1 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  started_pids=()
}
cleanup() {
  local status=$?
  set +e
  stop_started
  [[ -f "$redis_dir/server.env" || -f "$redis_dir/redis.pid" ]] && bash "$servers/redis.sh" stop "$redis_dir" >/dev/null 2>&1
  [[ -d "$pg_dir/data" ]] && bash "$servers/postgres.sh" stop "$pg_dir" >/dev/null 2>&1
  if [[ $keep -eq 1 || $status -ne 0 ]]; then
    echo "bench-e2e: kept $tmp (logs: $tmp/logs)" >&2
  else
    rm -rf "$tmp"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench-e2e: $*" >&2; }

# --- servers -------------------------------------------------------------------------------------
mkdir -p "$tmp/logs" "$tmp/config"
bash "$servers/redis.sh" start "$redis_dir" >&2
bash "$servers/postgres.sh" start "$pg_dir" >&2
redis_port=$(sed -n 's/^REDIS_PORT=//p' "$redis_dir/server.env")
redis_password=$(sed -n 's/^REDIS_PASSWORD=//p' "$redis_dir/server.env")
redis_pid=$(sed -n 's/^SERVER_PID=//p' "$redis_dir/server.env")
pg_pid=$(sed -n 's/^SERVER_PID=//p' "$pg_dir/server.env")
database_url=$(sed -n 's/^DATABASE_URL=//p' "$pg_dir/server.env")
pg_bin=$(sed -n 's/^PG_BIN=//p' "$pg_dir/server.env")
export PGHOST=127.0.0.1 PGPORT PGUSER PGPASSWORD PGDATABASE
PGPORT=$(sed -n 's/^PGPORT=//p' "$pg_dir/server.env")
PGUSER=$(sed -n 's/^PGUSER=//p' "$pg_dir/server.env")
PGPASSWORD=$(sed -n 's/^PGPASSWORD=//p' "$pg_dir/server.env")
PGDATABASE=$(sed -n 's/^PGDATABASE=//p' "$pg_dir/server.env")
psql_() { "$pg_bin/psql" -XAtq -v ON_ERROR_STOP=1 "$@"; }
as_pg_owner=()
if [[ $EUID -eq 0 ]]; then as_pg_owner=(runuser -u postgres --); fi

# --- data directory (CA, certificates, keys) via `msgbroker up`, stopped once it is up ----------
# start_service LOGFILE ARGS...: starts a msgbroker process, records its PID in started_pids and
# in last_pid.
last_pid=""
start_service() {
  local logfile=$1
  shift
  "$bin" "$@" >"$logfile" 2>&1 &
  last_pid=$!
  started_pids+=("$last_pid")
}
# wait_log LOGFILE REGEX PID: prints the first capture group of REGEX once it appears.
wait_log() {
  local logfile=$1 regex=$2 pid=$3
  for _ in $(seq 1 600); do
    if grep -qE "$regex" "$logfile" 2>/dev/null; then
      grep -oE "$regex" "$logfile" | head -n 1 | grep -oE '[0-9]+$'
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "process $pid exited; log $logfile:"; tail -n 30 "$logfile" >&2; return 1
    fi
    sleep 0.1
  done
  log "timeout waiting for /$regex/ in $logfile"; tail -n 30 "$logfile" >&2
  return 1
}

data="$tmp/data"
start_service "$tmp/logs/up.log" up --data-dir "$data" --host 127.0.0.1 --proxy-port 0 \
  --main-server-port 0 --portal-port 0 --worker-metrics-port 0
pid_up=$last_pid
wait_log "$tmp/logs/up.log" 'event=started main_server_port=[0-9]+' "$pid_up" >/dev/null
kill -TERM "$pid_up"
wait "$pid_up" || true
started_pids=()

secret() { printf '%s' "$2" >"$1"; chmod 0600 "$1"; }
secret "$tmp/config/redis-password" "$redis_password"
secret "$tmp/config/database-url" "$database_url"
tls() {
  printf '  tls:\n    cert_file: %s\n    key_file: %s\n    ca_file: %s\n' \
    "$data/pki/$1.crt" "$data/pki/$1.key" "$data/pki/ca.crt"
}
queue_yaml="  queue:
    type: redis
    redis:
      host: 127.0.0.1
      port: $redis_port
      password_file: $tmp/config/redis-password
      key_prefix: \"msgbroker:\"
    max_messages: 2000000"

cat >"$tmp/config/main-server.yaml" <<YAML
main_server:
  listen: {host: 127.0.0.1, port: 0, io_threads: $main_io_threads}
$(tls main-server)
  limits:
    max_body_bytes: 16777216
    request_timeout: 30s
  database:
    url_file: $tmp/config/database-url
    pool_size: 4
    migrate: true
  secrets:
    key_ring_file: $data/secrets/keyring.json
    sender_hmac_key_file: $data/secrets/sender-hmac.key
    envelope_public_key_file: $data/secrets/envelope.pub
    envelope_secret_key_file: $data/secrets/envelope.key
  log_level: info
YAML
cat >"$tmp/config/proxy.yaml" <<YAML
proxy:
  listen: {host: 127.0.0.1, port: 0, io_threads: $proxy_io_threads}
$(tls proxy)
$queue_yaml
  database:
    url_file: $tmp/config/database-url
    pool_size: 2
    migrate: false
  secrets:
    envelope_public_key_file: $data/secrets/envelope.pub
  registry_refresh_interval: 2s
  log_level: info
YAML

start_service "$tmp/logs/main-server.log" main-server --config "$tmp/config/main-server.yaml"
pid_main=$last_pid
main_port=$(wait_log "$tmp/logs/main-server.log" 'event=started service=main_server port=[0-9]+' "$pid_main")

# The demo client (registered in the data directory's SQLite database) into PostgreSQL, where
# the proxy reads the registry.
sqlite_db="$data/db/msgbroker.db"
{
  echo "BEGIN;"
  sqlite3 -cmd ".mode insert clients" "$sqlite_db" \
    "SELECT id, domain, status, created_at FROM clients"
  sqlite3 -cmd ".mode insert client_certificates" "$sqlite_db" \
    "SELECT fingerprint_sha256, client_id, serial_hex, not_before, not_after, status, created_at
       FROM client_certificates"
  echo "COMMIT;"
} >"$tmp/config/clients.sql"
psql_ -f "$tmp/config/clients.sql" >/dev/null

start_service "$tmp/logs/proxy.log" proxy --config "$tmp/config/proxy.yaml"
pid_proxy=$last_pid
proxy_port=$(wait_log "$tmp/logs/proxy.log" 'event=started service=proxy port=[0-9]+' "$pid_proxy")

worker_pids=()
for i in $(seq 1 "$workers"); do
  cat >"$tmp/config/worker-$i.yaml" <<YAML
worker:
  metrics: {host: 127.0.0.1, port: 0}
$(tls worker)
$queue_yaml
  main_server_url: https://127.0.0.1:$main_port
  worker:
    concurrency: $worker_concurrency
    batch_size: $worker_batch
  log_level: info
YAML
  start_service "$tmp/logs/worker-$i.log" worker --config "$tmp/config/worker-$i.yaml"
  pid_worker=$last_pid
  wait_log "$tmp/logs/worker-$i.log" 'event=started service=worker metrics_port=[0-9]+' \
    "$pid_worker" >/dev/null
  worker_pids+=("$pid_worker")
done
log "main server :$main_port (pid $pid_main), proxy :$proxy_port (pid $pid_proxy)," \
  "workers ${worker_pids[*]} (concurrency $worker_concurrency, batch $worker_batch)," \
  "redis :$redis_port (pid $redis_pid), postgres :$PGPORT (pid $pg_pid)"

# --- CPU accounting ------------------------------------------------------------------------------
hz=$(getconf CLK_TCK)
# Ticks of one process: utime+stime; ticks_all adds cutime+cstime (its reaped children).
stat_fields() { local stat; stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo "0 0 0 0"; return; }
  stat=${stat##*) }; echo "$stat" | awk '{print $12, $13, $14, $15}'; }
ticks() { stat_fields "$1" | awk '{print $1 + $2}'; }
ticks_all() { stat_fields "$1" | awk '{print $1 + $2 + $3 + $4}'; }
pg_pids() { echo "$pg_pid"; ps -o pid= --ppid "$pg_pid" | tr -d ' '; }
# postgres: the postmaster with its reaped children, plus every live child.
pg_ticks() {
  local total child
  total=$(ticks_all "$pg_pid")
  for child in $(ps -o pid= --ppid "$pg_pid"); do total=$((total + $(ticks "$child"))); done
  echo "$total"
}
worker_ticks() { local t=0 p; for p in "${worker_pids[@]}"; do t=$((t + $(ticks "$p"))); done; echo $t; }
# One line: proxy worker main redis postgres
snapshot() {
  echo "$(ticks "$pid_proxy") $(worker_ticks) $(ticks "$pid_main") $(ticks "$redis_pid") $(pg_ticks)"
}

rcli() { REDISCLI_AUTH="$redis_password" redis-cli --no-auth-warning -h 127.0.0.1 -p "$redis_port" "$@"; }
if [[ "$redis_appendfsync" != always ]]; then
  log "DIAGNOSTIC: redis appendfsync $redis_appendfsync (a 202 no longer means fsynced)"
  rcli CONFIG SET appendfsync "$redis_appendfsync" >/dev/null
fi

results="$out_dir/results.jsonl"
: >"$results"

# Every run starts from a settled system: the rows the previous runs stored are vacuumed and
# checkpointed now, so PostgreSQL's autovacuum and checkpointer do not take the cores during the
# next run's load (they would, for tens of seconds after a million inserts).
settle() {
  local t0=$SECONDS
  psql_ -c "VACUUM (ANALYZE) messages" >/dev/null
  # CHECKPOINT needs the superuser: the fixture's, over its own Unix socket.
  "${as_pg_owner[@]}" "$pg_bin/psql" -XAtq -v ON_ERROR_STOP=1 -h "$pg_dir/sock" -p "$PGPORT" \
    -U postgres -d postgres -c "CHECKPOINT" >/dev/null
  log "settled in $((SECONDS - t0)) s (VACUUM messages, CHECKPOINT)"
}

# run_bench NAME CONNECTIONS BATCH DURATION [PERF_OUT] [intake]
# With `intake`, the workers are stopped (SIGSTOP, idle: the previous run has drained) for the
# load and continued (SIGCONT) when it ends: the queue absorbs the burst with the delivery side
# taking no CPU, and the drain that follows measures delivery alone.
run_bench() {
  local name=$1 connections=$2 batch=$3 seconds=$4 perf_out=${5:-} mode=${6:-}
  if [[ -n "$runs" && ",$runs," != *",${name#profile-},"* ]]; then return 0; fi
  local load before after t0 t1 bench_cpu json perf_pid="" bench_pid
  settle
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  rcli CONFIG RESETSTAT >/dev/null
  before=$(snapshot)
  if [[ -n "$perf_out" ]]; then
    local pids
    pids=$(echo "$pid_proxy" "${worker_pids[@]}" "$pid_main" "$redis_pid" "$(pg_pids | paste -sd' ')" | tr ' ' ',')
    perf record -F 999 -p "$pids" -o "$perf_out" -- sleep "$((${seconds%.*} + 1))" \
      >"$tmp/logs/perf-$name.log" 2>&1 &
    perf_pid=$!
    started_pids+=("$perf_pid")
  fi
  t0=$(date +%s.%N)
  local TIMEFORMAT='%U %S'
  if [[ "$mode" == intake ]]; then kill -STOP "${worker_pids[@]}"; fi
  { time "$bin" bench --data-dir "$data" --url "https://127.0.0.1:$proxy_port" \
    --main-server-url "https://127.0.0.1:$main_port" -c "$connections" --batch "$batch" \
    -d "$seconds" --threads "$bench_threads" --drain-timeout "$drain_timeout" \
    --count-via-metrics --json >"$tmp/bench-$name.json" 2>"$tmp/logs/bench-$name.log"; } \
    2>"$tmp/bench-$name.time" &
  bench_pid=$!
  if [[ "$mode" == intake ]]; then
    sleep "$seconds"
    kill -CONT "${worker_pids[@]}"
  fi
  wait "$bench_pid" || log "bench $name exited non-zero (see $tmp/logs/bench-$name.log)"
  t1=$(date +%s.%N)
  after=$(snapshot)
  # Where Redis spent its command time (scripts' inner commands are counted on their own too).
  rcli INFO commandstats | tr -d '\r' | grep '^cmdstat_' |
    sed -E 's/^cmdstat_([a-z|]+):calls=([0-9]+),usec=([0-9]+),usec_per_call=([0-9.]+).*/\1 \2 \3 \4/' |
    sort -k3 -nr >"$out_dir/redis-commandstats-$name.txt"
  if [[ -n "$perf_pid" ]]; then wait "$perf_pid" || true; fi
  bench_cpu=$(awk '{print $1 + $2}' "$tmp/bench-$name.time")
  json=$(tail -n 1 "$tmp/bench-$name.json")
  [[ -n "$json" ]] || { log "bench $name printed nothing"; cat "$tmp/logs/bench-$name.log" >&2; return 1; }
  jq -c --arg name "$name" --arg load "$load" --argjson wall "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" \
    --argjson hz "$hz" --argjson bench_cpu "$bench_cpu" \
    --argjson before "[$(echo "$before" | tr ' ' ',')]" \
    --argjson after "[$(echo "$after" | tr ' ' ',')]" \
    '. + {name: $name, load_before: $load, wall_s: $wall,
          cpu_s: {proxy: (($after[0] - $before[0]) / $hz), worker: (($after[1] - $before[1]) / $hz),
                  main: (($after[2] - $before[2]) / $hz), redis: (($after[3] - $before[3]) / $hz),
                  postgres: (($after[4] - $before[4]) / $hz), bench: $bench_cpu}}' \
    <<<"$json" >>"$results"
  log "$name: $(tail -n 1 "$results" | jq -r '"accepted \(.accepted_per_s|floor)/s (\(.failed) refused), delivered \(.delivered_per_s|floor)/s, p50 \(.p50_ms) ms, p99 \(.p99_ms) ms, all delivered: \(.all_delivered)"') (load before: $load)"
}

# A short warm-up (connections, registry snapshot, PostgreSQL caches): not reported.
"$bin" bench --data-dir "$data" --url "https://127.0.0.1:$proxy_port" \
  --main-server-url "https://127.0.0.1:$main_port" -c 8 -d 1 --count-via-metrics --json \
  >"$tmp/logs/warmup.json" 2>&1 || { log "warm-up failed:"; cat "$tmp/logs/warmup.json" >&2; exit 1; }

run_bench single-c64 64 1 "$duration"
run_bench batch100-c16 16 100 "$duration"
run_bench batch500-c8 8 500 "$duration"
if [[ $intake -eq 1 ]]; then
  run_bench intake-single-c64 64 1 "$duration" "" intake
  # The queue holds at most queue.max_messages (2,000,000 here, twice the default; Redis needs
  # about 1 kB per queued message) and nothing drains it during an intake run: 8 s keep a batch
  # run below that up to 250,000/s.
  intake_batch_seconds=$((duration < 8 ? duration : 8))
  run_bench intake-batch500-c8 8 500 "$intake_batch_seconds" "" intake
  run_bench intake-batch500-c32 32 500 "$intake_batch_seconds" "" intake
fi

if [[ -n "$profile_dir" ]]; then
  command -v perf >/dev/null || { log "perf is missing (apt-get install linux-perf)"; exit 1; }
  mkdir -p "$profile_dir"
  profile_seconds=$((quick ? 3 : 10))
  for run in "single-c64 64 1" "batch100-c16 16 100" "intake-single-c64 64 1 intake" \
    "intake-batch500-c32 32 500 intake"; do
    set -- $run
    # Without --runs, the intake profile is left out (the two runs above are the usual pair).
    if [[ -z "$runs" && "$1" == intake-* ]]; then continue; fi
    seconds=$profile_seconds
    if [[ "${4:-}" == intake && $seconds -gt 8 ]]; then seconds=8; fi
    run_bench "profile-$1" "$2" "$3" "$seconds" "$profile_dir/perf-$1.data" "${4:-}"
    [[ -f "$profile_dir/perf-$1.data" ]] || continue
    # Flat profile per component: samples by (shared object, symbol), as % of the component.
    perf script -i "$profile_dir/perf-$1.data" -F comm,pid,ip,sym,dso 2>/dev/null |
      awk -v proxy="$pid_proxy" -v main="$pid_main" -v redis="$redis_pid" \
        -v workers=" ${worker_pids[*]} " '
        {
          pid = $2
          c = (pid == proxy) ? "proxy" : (pid == main) ? "main-server" : (pid == redis) ? "redis" :
              (index(workers, " " pid " ") > 0) ? "worker" : ($1 == "postgres") ? "postgres" : "other"
          dso = $NF; gsub(/[()]/, "", dso); n = split(dso, parts, "/"); dso = parts[n]
          sym = ""; for (i = 4; i < NF; i++) sym = sym (i > 4 ? " " : "") $i
          sub(/\+0x[0-9a-f]+$/, "", sym); sym = substr(sym, 1, 110)
          total[c]++; count[c "\t" dso "\t" sym]++
        }
        END {
          for (k in count) { split(k, f, "\t"); printf "%s\t%.1f\t%s\t%s\n", f[1], 100 * count[k] / total[f[1]], f[2], f[3] }
          for (c in total) printf "%s\t(total)\t%d samples\t\n", c, total[c]
        }' | sort -t$'\t' -k1,1 -k2,2nr >"$profile_dir/$1-profile.tsv" || true
  done
  log "profiles in $profile_dir"
fi

# --- reference figures on the same servers -------------------------------------------------------
ref="$out_dir/reference.txt"
: >"$ref"
if [[ $reference -eq 1 ]]; then
  n=$((quick ? 20000 : 200000))
  rb() { redis-benchmark -h 127.0.0.1 -p "$redis_port" -a "$redis_password" --dbnum 9 -q "$@" 2>/dev/null |
    tr '\r' '\n' | grep -E 'requests per second' | tail -n 1 |
    sed -E 's/.*: ([0-9.]+) requests per second, p50=([0-9.]+) msec.*/\1 requests\/s (p50 \2 ms)/'; }
  # One Lua call doing what the queue's enqueue script does for one message (layout 2, ADR 0007).
  lua='if not redis.call("HGET", "rb:ids", ARGV[1]) then
  local e = redis.call("XADD", "rb:stream", "*", "i", ARGV[1], "p", ARGV[2], "t", 1)
  redis.call("HSET", "rb:ids", ARGV[1], e)
end
return redis.call("XLEN", "rb:stream") + redis.call("ZCARD", "rb:delayed")'
  payload=$(head -c 150 /dev/urandom | base64 -w0)
  {
    echo "redis-benchmark SET -c 64 -n $n: $(rb -c 64 -n "$n" -t set)"
    echo "redis-benchmark SET -c 64 -P 16 -n $((n * 5)): $(rb -c 64 -P 16 -n $((n * 5)) -t set)"
    echo "redis-benchmark XADD -c 64 -n $n: $(rb -c 64 -n "$n" -r 100000000 XADD rb:xstream '*' id __rand_int__)"
    echo "redis-benchmark EVAL enqueue-like (1 msg/call) -c 64 -n $n: $(rb -c 64 -n "$n" -r 100000000 EVAL "$lua" 0 __rand_int__ "$payload")"
  } | tee -a "$ref" >&2
  REDISCLI_AUTH="$redis_password" redis-cli --no-auth-warning -h 127.0.0.1 -p "$redis_port" -n 9 flushdb >/dev/null

  # The disk's fdatasync latency right now (Redis and PostgreSQL commit with it).
  "$pg_bin/pg_test_fsync" -s 2 -f "$tmp/fsync-test" 2>/dev/null |
    awk '$1 == "fdatasync" && !done { done = 1
      print "pg_test_fsync: fdatasync of one 8 kB write: " $2 " ops/s, " $4 " µs/op" }' |
    tee -a "$ref" >&2
  rm -f "$tmp/fsync-test"
  pg_seconds=$((quick ? 3 : 15))
  "$pg_bin/pgbench" -i -s $((quick ? 1 : 10)) -q >"$tmp/logs/pgbench-init.log" 2>&1
  tps() { grep -E '^tps' | sed -E 's/tps = ([0-9.]+).*/\1/' | head -n 1; }
  tpcb=$("$pg_bin/pgbench" -n -c 8 -j 2 -T "$pg_seconds" 2>/dev/null | tps)
  psql_ -c "DROP TABLE IF EXISTS bench_messages; CREATE TABLE bench_messages (LIKE messages INCLUDING ALL)"
  row="(gen_random_uuid()::text, 'demo', 'delivered', md5(random()::text), '+4915****5678', 'k1', '\\x000102030405060708090a0b'::bytea, decode(repeat('ab', 180), 'hex'), 1, '', 1, 1, NULL, 1)"
  cols="(id, client_id, status, sender_hmac, sender_masked, key_id, nonce, content, attempts, last_error, queued_at, delivered_at, failed_at, stored_at)"
  echo "INSERT INTO bench_messages $cols VALUES $row;" >"$tmp/insert1.sql"
  { printf 'INSERT INTO bench_messages %s VALUES ' "$cols"
    for i in $(seq 1 100); do printf '%s%s' "$row" "$([[ $i -lt 100 ]] && echo , || echo ';')"; done
    echo; } >"$tmp/insert100.sql"
  ins1=$("$pg_bin/pgbench" -n -c 8 -j 2 -T "$pg_seconds" -f "$tmp/insert1.sql" 2>/dev/null | tps)
  ins100=$("$pg_bin/pgbench" -n -c 4 -j 2 -T "$pg_seconds" -f "$tmp/insert100.sql" 2>/dev/null | tps)
  {
    echo "pgbench tpcb-like scale $((quick ? 1 : 10)) -c 8 -j 2 -T $pg_seconds: $tpcb tps"
    echo "pgbench INSERT 1 messages-like row per transaction -c 8 -j 2: $ins1 tps = $(printf '%.0f' "$ins1") rows/s"
    echo "pgbench INSERT 100 messages-like rows per transaction -c 4 -j 2: $ins100 tps = $(awk -v t="$ins100" 'BEGIN {printf "%.0f", t * 100}') rows/s"
  } | tee -a "$ref" >&2
  psql_ -c "DROP TABLE IF EXISTS bench_messages, pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers"

  # nginx with the proxy's certificate, requiring a client certificate from the same CA, keep-alive
  # without a request limit, answering POST /api/v1/messages with a fixed 202 (and the bench's
  # /metrics poll with nothing): what the HTTP and TLS layers alone cost, on both sides.
  if command -v nginx >/dev/null; then
    mkdir -p "$tmp/nginx"
    ngx_port="" ngx_pid=""
    for _ in $(seq 1 20); do
      try=$((20000 + RANDOM % 40000))
      cat >"$tmp/nginx/nginx.conf" <<NGINX
daemon off;
worker_processes 2;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:$try ssl;
    ssl_certificate $data/pki/proxy.crt;
    ssl_certificate_key $data/pki/proxy.key;
    ssl_client_certificate $data/pki/ca.crt;
    ssl_verify_client on;
    ssl_protocols TLSv1.2 TLSv1.3;
    location = /api/v1/messages { default_type application/json; return 202 '{"status":"queued"}'; }
    location = /metrics { default_type text/plain; return 200 ''; }
  }
}
NGINX
      nginx -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx" -e "$tmp/nginx/error.log" &
      ngx_pid=$!
      started_pids+=("$ngx_pid")
      for _ in $(seq 1 50); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$try") 2>/dev/null; then ngx_port=$try; break; fi
        kill -0 "$ngx_pid" 2>/dev/null || break
        sleep 0.1
      done
      [[ -n "$ngx_port" ]] && break
      kill -TERM "$ngx_pid" 2>/dev/null || true
      wait "$ngx_pid" 2>/dev/null || true
    done
    if [[ -n "$ngx_port" ]]; then
      ngx_json=$("$bin" bench --data-dir "$data" --url "https://127.0.0.1:$ngx_port" \
        --main-server-url "https://127.0.0.1:$ngx_port" -c 64 -d "$((quick ? 3 : 10))" \
        --count-via-metrics --drain-timeout 0 --json 2>/dev/null | tail -n 1 || true)
      echo "nginx 202 over mutual TLS, msgbroker bench -c 64: $(jq -r '"\(.accepted_per_s | floor) requests/s (p50 \(.p50_ms) ms, p99 \(.p99_ms) ms)"' <<<"$ngx_json")" |
        tee -a "$ref" >&2
      kill -TERM "$ngx_pid" 2>/dev/null || true
      wait "$ngx_pid" 2>/dev/null || true
    else
      log "nginx did not start (log: $tmp/nginx/error.log); no nginx reference"
    fi
  fi
fi

# --- report --------------------------------------------------------------------------------------
{
  echo
  echo "### msgbroker end to end on Redis + PostgreSQL ($(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "proxy io_threads $proxy_io_threads; main server io_threads $main_io_threads;" \
    "$workers worker process(es) x concurrency $worker_concurrency, batch $worker_batch;" \
    "bench threads $bench_threads; load runs of ${duration}s; redis appendfsync $redis_appendfsync"
  echo
  echo "| run | load avg before | accepted/s | delivered/s into PG | drain-only delivered/s | p50 ms | p99 ms | proxy | worker | main | redis | postgres | bench | total CPU µs/msg | CPU used, % of $(nproc) cores | CPU-bound ceiling msgs/s |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  jq -r '
    def pct(x): ((x / .wall_s * 100) | floor | tostring) + "%";
    def us(x): (if .delivered > 0 then (x * 1e6 / .delivered) | floor | tostring else "-" end);
    def cell(x): pct(x) + " / " + us(x);
    (.cpu_s | add) as $total |
    "| \(.name) | \(.load_before) | \(.accepted_per_s | floor)\(if .failed > 0 then " (\(.failed) refused)" else "" end) | \(.delivered_per_s | floor)\(if .all_delivered then "" else " (NOT ALL)" end) | " +
    (if (.delivered_s - .load_s) > 0.5 then (((.delivered - .delivered_during_load) / (.delivered_s - .load_s)) | floor | tostring) else "-" end) +
    " | \(.p50_ms) | \(.p99_ms) | \(cell(.cpu_s.proxy)) | \(cell(.cpu_s.worker)) | \(cell(.cpu_s.main)) | \(cell(.cpu_s.redis)) | \(cell(.cpu_s.postgres)) | \(cell(.cpu_s.bench)) | \(us($total)) | " +
    "\(($total / .wall_s / $cores * 100) | floor)% | \(if .delivered > 0 then ($cores * 1e6 / ($total * 1e6 / .delivered)) | floor | tostring else "-" end) |"' \
    --argjson cores "$(nproc)" "$results"
  echo
  echo "CPU cells: % of one core over the run (load + drain) / CPU µs per delivered message." \
    "CPU-bound ceiling: the delivered rate if every core did nothing but this pipeline at this" \
    "cost per message (cores x 10^6 / total µs per message)."
  if [[ -s "$ref" ]]; then
    echo
    echo "Reference on the same servers:"
    echo
    sed 's/^/- /' "$ref"
  fi
} | tee "$out_dir/report.md"
