#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang-14 with ASan/UBSan: preset fuzz, in build/fuzz) and
# runs each of them for a bounded number of executions, one process on one core, starting from
# its seed corpus fuzz/corpus/<target>/. docs/SECURITY.md ("Fuzzing") has the figures of the last
# long run.
#
#   scripts/fuzz.sh [RUNS|SECONDSs] [--target NAME]... [--save-corpus]
#
# RUNS: executions per target (default 10000000); "600s" runs each target for 600 seconds instead.
# --target: only these targets (http_request, api_json, config); default all three.
# --save-corpus: merge the new interesting inputs into fuzz/corpus/<target>/ (libFuzzer -merge=1
#   keeps only inputs that add coverage). Without it they stay in the temporary work directory.
# Crash reproducers are written to the work directory; the script exits 1 if any target crashed.
# Replay one with build/fuzz/fuzz/<target>_fuzz FILE, then add it to fuzz/corpus/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

limit=10000000
targets=()
save_corpus=false
while (($#)); do
  case "$1" in
    --target) targets+=("$2"); shift 2 ;;
    --save-corpus) save_corpus=true; shift ;;
    [0-9]*) limit="$1"; shift ;;
    *) echo "usage: $0 [RUNS|SECONDSs] [--target NAME]... [--save-corpus]" >&2; exit 2 ;;
  esac
done
((${#targets[@]})) || targets=(http_request api_json config)
if [[ $limit == *s ]]; then
  limit_flag="-max_total_time=${limit%s}"
else
  limit_flag="-runs=$limit"
fi

# The compiler, libFuzzer and the sanitizer runtimes, and llvm-symbolizer for readable reports.
bash scripts/install-deps.sh clang-14 libclang-rt-14-dev llvm-14

export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14
export UBSAN_OPTIONS="print_stacktrace=1"

# Inputs never need to be larger than what reaches the code: an HTTP request with its headers at
# the 8 KiB limit and a body, a JSON document or a configuration file.
max_len() {
  case "$1" in
    http_request) echo 16384 ;;
    *) echo 4096 ;;
  esac
}

work=$(mktemp -d /tmp/msgbroker-fuzz.XXXXXX)
echo "work directory: $work"
crashed=()
for target in "${targets[@]}"; do
  binary="build/fuzz/fuzz/${target}_fuzz"
  [[ -x $binary ]] || { echo "unknown target $target" >&2; exit 2; }
  mkdir -p "$work/$target/corpus"
  echo "== $target ($limit_flag)"
  status=0
  # -timeout is wall-clock time per input: 60 s, since a fuzzer niced behind builds on a busy
  # machine was once starved for 13 s on an input that runs in a millisecond.
  "$binary" "$limit_flag" -max_len="$(max_len "$target")" -timeout=60 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/$target/" \
    "$work/$target/corpus" "fuzz/corpus/$target" >"$work/$target.log" 2>&1 || status=$?
  grep -E '^#[0-9]+ +(INITED|DONE)|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
    "$work/$target.log" || true
  if ((status != 0)); then
    crashed+=("$target")
    grep -E 'ERROR|SUMMARY|property violated|Test unit written' "$work/$target.log" || true
    echo "$target FAILED (exit $status); log: $work/$target.log"
  fi
  if $save_corpus; then
    "$binary" -merge=1 -max_len="$(max_len "$target")" "fuzz/corpus/$target" \
      "$work/$target/corpus" >>"$work/$target.log" 2>&1
    echo "merged new inputs into fuzz/corpus/$target"
  fi
done

if ((${#crashed[@]})); then
  echo "crashed: ${crashed[*]} (reproducers in $work/<target>/)"
  exit 1
fi
echo "no crashes; new inputs in $work/<target>/corpus"
