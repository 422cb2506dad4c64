# Shared by the test-server fixtures (sourced, not run).

# stop_pid PID [SIGNAL] [TENTHS]: sends SIGNAL (default TERM) to PID, waits up to TENTHS tenths
# of a second (default 100) for it to exit, then sends KILL. Only ever a PID the fixture recorded.
stop_pid() {
  local pid=$1 signal=${2:-TERM} tenths=${3:-100}
  kill "-$signal" "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 "$tenths"); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# await_exit PID NAME: waits up to 5 s for PID to be gone; fails, naming NAME, when it is not.
await_exit() {
  local pid=$1 name=$2
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "$name $pid did not stop" >&2
  return 1
}
