#!/usr/bin/env bash
# Runs every test of the project. Installs what the tests need first (idempotently).
#   scripts/test.sh          all suites
# Prints each step's seconds at the end (also when a step fails), and fails if any process it
# started (a runtime, sqld, a browser) is still running when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

# Every process this run starts inherits this marker; the end check finds leftovers by it.
EDGESYNC_TEST_RUN="$$-$(date +%s%N)"
export EDGESYNC_TEST_RUN

steps=()
step_name=""
step_start=0
run_start=$(date +%s)
end_step() {
  [ -n "$step_name" ] && steps+=("$(printf '%6ds  %s' $(($(date +%s) - step_start)) "$step_name")")
  step_name=""
}
step() {
  end_step
  step_name=$1
  step_start=$(date +%s)
  printf '\n==> %s\n' "$*"
}

# The wasm builds run beside the native suites, which mostly wait on processes and sockets
# (scripts/build-wasm.sh, one cargo build at a time); each runtime's suite starts when its
# artifact is ready. Their output goes to a log, printed when the foreground first needs them.
lane_dir=$(mktemp -d)
lane_pid=""
lane_shown=""
start_wasm_builds() {
  printf '\n==> started beside the next steps: the wasm builds (Spin component, Worker bundle, web SDK)\n'
  setsid scripts/build-wasm.sh "$lane_dir" >"$lane_dir/build.log" 2>&1 &
  lane_pid=$!
}
# await_built spin|worker|web: waits until that artifact is built; fails with the build log if
# the builds failed.
await_built() {
  while [ ! -f "$lane_dir/$1" ]; do
    if ! kill -0 "$lane_pid" 2>/dev/null; then
      wait "$lane_pid" 2>/dev/null || true
      [ -f "$lane_dir/$1" ] && break
      cat "$lane_dir/build.log" >&2; echo "the wasm builds failed" >&2; return 1
    fi
    sleep 1
  done
  [ -n "$lane_shown" ] || { cat "$lane_dir/build.log"; lane_shown=1; }
}
finish() {
  local status=$?
  end_step
  if [ -n "$lane_pid" ]; then
    kill -TERM -- "-$lane_pid" 2>/dev/null && { echo "stopping the wasm builds"; wait "$lane_pid" 2>/dev/null || true; }
  fi
  printf '\n==> step times (seconds)\n'
  printf '%s\n' "${steps[@]}"
  for artifact in spin worker web; do
    [ -f "$lane_dir/$artifact" ] && printf '%6ds  (beside the steps above) %s build\n' "$(cat "$lane_dir/$artifact")" "$artifact"
  done
  printf '%6ds  total\n' $(($(date +%s) - run_start))
  rm -rf "$lane_dir"
  scripts/leftovers.sh "$EDGESYNC_TEST_RUN" || status=1
  exit "$status"
}
trap finish EXIT

step "tools (installed once, then skipped)"
scripts/install-tools.sh
source scripts/env.sh

step "sync-core stays free of IO crates"
if cargo tree -p edgesync-sync-core -e normal --prefix none | grep -E '^(tokio|libsql|worker|spin-sdk|reqwest|hyper) ' ; then
  echo "sync-core must not depend on IO crates" >&2
  exit 1
fi

step "build every native target once (cargo build --all-targets over the workspace's native members)"
build_tests

start_wasm_builds

step "native workspace tests (storage suites against a real sqld too)"
# The fuzz targets (sync-core/tests/fuzz.rs, edge/app auth) replay their corpus, then generate
# inputs for this long each (docs/testing.md).
export BOLERO_RANDOM_TEST_TIME_MS=${BOLERO_RANDOM_TEST_TIME_MS:-5000}
EDGESYNC_REQUIRE_SQLD=1 scripts/with-sqld.sh cargo test

step "black-box HTTP suite against the native server"
scripts/blackbox.sh native

step "Schemathesis: requests generated from the native server's OpenAPI document; no 5xx, every answer as documented"
scripts/schemathesis.sh

step "Mobile bindings (UniFFI): generate Kotlin and Swift, run the Python bindings against the native server"
scripts/test-mobile.sh

# From here on, the suites run the artifacts scripts/build-wasm.sh built.
export EDGESYNC_PREBUILT=1

step "Spin component (wasm32-wasip2): the black-box suite under wasmtime serve with sqld"
await_built spin
scripts/with-sqld.sh scripts/blackbox.sh spin

step "Cloudflare Worker (worker-build): the black-box suite in bare workerd with sqld; configuration errors"
await_built worker
scripts/with-sqld.sh scripts/blackbox.sh workerd
scripts/worker-config-errors.sh

step "Replicated topology: sqld primary + 2 replicas, workerd/Spin/native edges on different copies; primary down; replica wiped"
scripts/test-replicas.sh

step "Web SDK: the npm package's tests in Node and headless Chromium against the native server"
await_built web
scripts/test-web.sh

step "The wrangler dev workflow: wrangler builds and serves the Worker; a smoke test through its proxy"
scripts/with-sqld.sh scripts/wrangler-smoke.sh
