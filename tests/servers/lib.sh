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
