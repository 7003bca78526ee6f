#!/usr/bin/env bash
# Builds the wasm the suites run, one after the other, as the test command needs them:
#   scripts/build-wasm.sh DIR [spin] [worker] [web]
#     spin    the Spin component (wasm32-wasip2, profile $wasm_profile)
#     worker  the Worker bundle, as wrangler.toml's [build] command builds it
#     web     the web SDK's crate (wasm32-unknown-unknown, $wasm_profile; scripts/build-web.sh
#             runs wasm-bindgen on it)
# For each build, DIR/NAME.log gets its output and then DIR/NAME.done its seconds, or
# DIR/NAME.failed. scripts/test.sh runs this in the background at the lowest CPU priority while
# suites that mostly wait on sockets, sqld and timers run; `await_wasm NAME` (below, for
# sourcing) blocks until a build is there. The later `cargo build` of the same crate, profile
# and flags (blackbox.sh, wrangler's [build], build-web.sh) then compiles nothing.
set -euo pipefail

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  cd "$(dirname "$0")/.."
  dir=$1; shift
  source scripts/env.sh
  source scripts/targets.sh
  mkdir -p "$dir"
  for build in "$@"; do
    start=$(date +%s)
    case "$build" in
      spin) cmd=(build_spin) ;;
      worker) cmd=(build_worker) ;;
      web) cmd=(build_web_wasm "$wasm_profile") ;;
      *) echo "unknown build: $build" >"$dir/$build.failed"; exit 2 ;;
    esac
    if ! "${cmd[@]}" >"$dir/$build.log" 2>&1; then
      touch "$dir/$build.failed"
      exit 1
    fi
    echo $(($(date +%s) - start)) >"$dir/$build.done"
  done
  exit 0
fi

# await_wasm DIR NAME PID: waits for build NAME of the scripts/build-wasm.sh DIR run PID; fails
# with its log if it failed or the run ended without it.
await_wasm() {
  local dir=$1 build=$2 pid=$3
  until [ -e "$dir/$build.done" ]; do
    # A run that ended is a zombie until waited for: its state, not kill -0, tells.
    if [ -e "$dir/$build.failed" ] || ! [ -r "/proc/$pid/status" ] || grep -q '^State:.*Z' "/proc/$pid/status"; then
      [ -e "$dir/$build.done" ] && break
      echo "the $build build failed:" >&2
      cat "$dir/$build.log" >&2 2>/dev/null || true
      return 1
    fi
    sleep 1
  done
  echo "($build: built in the background in $(cat "$dir/$build.done") s)"
}
