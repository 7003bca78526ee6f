#!/usr/bin/env bash
# Runs the black-box HTTP suite (tests/) against one runtime:
#   scripts/blackbox.sh native   the edgesync binary on a local libSQL file
#   scripts/blackbox.sh spin     the Spin component under `wasmtime serve`, libSQL = sqld
#   scripts/blackbox.sh worker   the Worker under `wrangler dev --local` (workerd), libSQL = sqld
#   scripts/blackbox.sh workerd  the same Worker bundle in bare workerd (no wrangler proxy)
# `spin`, `worker` and `workerd` need a sqld primary: run them inside scripts/with-sqld.sh.
# The test binaries come from `build_tests` (scripts/env.sh): nothing is compiled here but
# the runtime itself (nothing at all with EDGESYNC_PREBUILT=1: run what an earlier step built).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/blackbox.sh native|spin|worker|workerd}
source scripts/targets.sh

work=$(mktemp -d)
port=$(free_port)
jwt_env edgesync-blackbox
[ -f "$test_bins_list" ] || build_tests
pid='' jwks_pid=''
cleanup() { stop_pid "$pid"; stop_pid "$jwks_pid"; rm -rf "$work"; }
trap cleanup EXIT
provider_env "$work/keys"
if [ "$target" = workerd ] && [ -z "${EDGESYNC_PREBUILT:-}" ]; then build_worker; fi

start_target "$target" "$port" "$work"
wait_healthy "$port" "$work"

echo "black-box suite against $target at http://127.0.0.1:$port"
tests=(api sdk live tokens)
if [ "$target" = spin ]; then
  export EDGESYNC_SPIN_WASM=$spin_wasm EDGESYNC_SPIN_DEPLOY_WASM=$spin_deploy_wasm
  tests+=(component_imports)
fi
export EDGESYNC_BASE_URL="http://127.0.0.1:$port" EDGESYNC_REQUIRE_TARGET=1 EDGESYNC_SERVER_PID=$pid EDGESYNC_TARGET=$target \
  EDGESYNC_SERVER_LOG="$work/server.log" \
  EDGESYNC_TEST_HS256_SECRET="$JWT_HS256_SECRET" EDGESYNC_TEST_ISSUER="$JWT_ISSUER" EDGESYNC_TEST_AUDIENCE="$JWT_AUDIENCE"
failed() { echo "--- $target log (tail) ---" >&2; tail -50 "$work/server.log" >&2; exit 1; }
run_tests edgesync-blackbox "${tests[@]}" || failed
# The attacks, one at a time: they read the server's peak memory.
run_tests edgesync-blackbox hostile -- --test-threads=1 --nocapture || failed
