# Shared by scripts/blackbox.sh and scripts/bench-edges.sh (source it): start one runtime of
# the API on a loopback port and wait until it answers.
#   start_target native|spin|worker|workerd PORT WORKDIR   -> sets $pid
# (workerd: the Worker bundle already built by worker-build in edge/worker/build, served by bare
# workerd without wrangler's proxy; see build_worker)
#   wait_healthy PORT WORKDIR                      -> fails with the runtime's log if it never answers
#   stop_pid PID                                   -> stops a runtime and everything it started
# JWT_ISSUER, JWT_AUDIENCE and JWT_HS256_SECRET must be exported; spin and worker need
# EDGESYNC_SQLD_URL (scripts/with-sqld.sh).

# Token settings for a test or benchmark run: issuer and audience NAME, a fresh random secret.
jwt_env() {
  export JWT_ISSUER=$1 JWT_AUDIENCE=$1
  JWT_HS256_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  export JWT_HS256_SECRET
}

# An identity provider for this run (tests/src/bin/test-keys.rs): its public keys become
# JWT_JWKS, the tests sign with the private ones in EDGESYNC_TEST_KEYS=$1. The same keys
# under other ids are published at JWT_JWKS_URL by tests/src/bin/jwks-server.rs (started
# here, $jwks_pid: stop it with stop_pid), which a rotation test may fetch once a second.
provider_env() {
  "$out/debug/test-keys" "$1"
  JWT_JWKS=$(cat "$1/jwks.json")
  spawn "$1/jwks-server.log" "$out/debug/jwks-server" "$1"
  jwks_pid=$pid
  for _ in $(seq 1 100); do [ -s "$1/jwks.port" ] && break; sleep 0.05; done
  [ -s "$1/jwks.port" ] || { echo "jwks-server did not start" >&2; return 1; }
  JWT_JWKS_URL="http://127.0.0.1:$(cat "$1/jwks.port")/jwks.json"
  export JWT_JWKS EDGESYNC_TEST_KEYS=$1 JWT_JWKS_URL JWT_JWKS_MIN_REFRESH_SECS=1
}

source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# Every runtime is started with EDGESYNC_CORS_ORIGINS set to this one origin: the black-box
# suite checks each honours it (tests/tests/api.rs).
export EDGESYNC_TEST_CORS_ORIGIN=https://app.edgesync.test
# free_port: a loopback port nothing listens on, chosen below the kernel's ephemeral range
# (32768 and up), where the source ports of the tests' own outgoing connections come from: a
# port handed out by bind(0) could be taken by one of those before the server binds it.
free_port() {
  python3 -c '
import random, socket
low, high = 15000, 32000
with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
    start = int(f.read().split()[0])
high = min(high, start)
for _ in range(1000):
    port = random.randrange(low, high)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    raise SystemExit("no free port")
'
}
# The native binary (bench-edges.sh points this at a release build).
native_bin=${EDGESYNC_NATIVE_BIN:-$out/debug/edgesync}
# The workerd binary itself: npm's `workerd` is a Node wrapper that would outlive a kill.
workerd_bin=$tools_dir/node_modules/@cloudflare/workerd-linux-64/bin/workerd

# spawn LOG CMD...: runs CMD in the background as the leader of its own process group (sets
# $pid), so stop_pid can stop it together with whatever it starts (wrangler's workerd).
spawn() {
  local log=$1; shift
  setsid "$@" >>"$log" 2>&1 &
  pid=$!
}

stop_pid() {
  local p=$1
  kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 -- "-$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}

start_target() {
  local target=$1 port=$2 work=$3
  # Built by `build_tests` (scripts/env.sh) with the features of the test run: nothing is
  # compiled twice.
  [ -n "${EDGESYNC_NATIVE_BIN:-}" ] || [ -x "$native_bin" ] || build_tests
  case "$target" in
    native)
      local db_args=()
      if [ -n "${EDGESYNC_NATIVE_ON_SQLD:-}" ]; then db_args=(--libsql-url "$EDGESYNC_SQLD_URL"); fi
      spawn "$work/server.log" "$native_bin" --data-dir "$work" "${db_args[@]}" --rate-limit 0 --cors-origins "$EDGESYNC_TEST_CORS_ORIGIN" serve \
        --addr "127.0.0.1:$port" --compaction-interval 0 --header-timeout-secs 2
      ;;
    spin)
      : "${EDGESYNC_SQLD_URL:?run inside scripts/with-sqld.sh}"
      [ -n "${EDGESYNC_PREBUILT:-}" ] || build_spin
      # Migrations run at deploy time, as for real deployments: the component never alters
      # the schema by itself.
      "$native_bin" --data-dir "$work" --libsql-url "$EDGESYNC_SQLD_URL" migrate
      # Configured as `spin up` configures it: the database and the secret as application
      # variables (wasi:config, lower-case names), the rest from the environment. A variable
      # wins over the environment (the LIBSQL_URL there is a closed port).
      spawn "$work/server.log" wasmtime serve -Scli -Sconfig --addr "127.0.0.1:$port" \
        -Sconfig-var=libsql_url="$EDGESYNC_SQLD_URL" -Sconfig-var=jwt_hs256_secret="$JWT_HS256_SECRET" \
        -Sconfig-var=libsql_auth_token= --env LIBSQL_URL=http://127.0.0.1:9 --env JWT_ISSUER="$JWT_ISSUER" --env JWT_AUDIENCE="$JWT_AUDIENCE" \
        --env EDGESYNC_RATE_LIMIT=0 --env EDGESYNC_CORS_ORIGINS="$EDGESYNC_TEST_CORS_ORIGIN" \
        --env LIBSQL_TIMEOUT_MS="${LIBSQL_TIMEOUT_MS:-10000}" --env JWT_JWKS="${JWT_JWKS:-}" \
        --env JWT_JWKS_URL="${JWT_JWKS_URL:-}" --env JWT_JWKS_MIN_REFRESH_SECS="${JWT_JWKS_MIN_REFRESH_SECS:-}" \
        "$spin_wasm"
      ;;
    worker)
      : "${EDGESYNC_SQLD_URL:?run inside scripts/with-sqld.sh}"
      "$native_bin" --data-dir "$work" --libsql-url "$EDGESYNC_SQLD_URL" migrate
      # Node 22 and the build tools come from tools/ (scripts/env.sh); wrangler runs the
      # [build] command (worker-build) before serving.
      local jwks=()
      [ -z "${JWT_JWKS:-}" ] || jwks=(--var "JWT_JWKS:$JWT_JWKS")
      [ -z "${JWT_JWKS_URL:-}" ] || jwks+=(--var "JWT_JWKS_URL:$JWT_JWKS_URL" --var "JWT_JWKS_MIN_REFRESH_SECS:${JWT_JWKS_MIN_REFRESH_SECS:-60}")
      spawn "$work/server.log" wrangler dev --local --ip 127.0.0.1 --port "$port" \
        --var "LIBSQL_URL:$EDGESYNC_SQLD_URL" --var "JWT_ISSUER:$JWT_ISSUER" --var "JWT_AUDIENCE:$JWT_AUDIENCE" \
        --var "JWT_HS256_SECRET:$JWT_HS256_SECRET" --var "EDGESYNC_RATE_LIMIT:0" --var "EDGESYNC_CORS_ORIGINS:$EDGESYNC_TEST_CORS_ORIGIN" \
        "${jwks[@]}"
      ;;
    workerd)
      : "${EDGESYNC_SQLD_URL:?run inside scripts/with-sqld.sh}"
      "$native_bin" --data-dir "$work" --libsql-url "$EDGESYNC_SQLD_URL" migrate
      [ -f edge/worker/build/index_bg.wasm ] || build_worker
      cp edge/worker/build/index.js edge/worker/build/index_bg.wasm "$work/"
      mkdir -p "$work/objects"
      workerd_config "$port" "$work/objects" >"$work/workerd.capnp"
      spawn "$work/server.log" "$workerd_bin" serve "$work/workerd.capnp"
      ;;
    *) echo "unknown target $target" >&2; return 2 ;;
  esac
}

# Builds the Spin component in the profile $wasm_profile: as spin.toml does ($spin_deploy_wasm)
# and for `wasmtime serve` ($spin_wasm, the `wasmtime` feature: edge/spin/src/config.rs).
build_spin() {
  local built=$out/wasm32-wasip2/$wasm_profile/edgesync_spin.wasm
  mkdir -p "$(dirname "$spin_wasm")"
  # The two builds differ in the edgesync-spin crate only (src/config.rs): seconds. A cdylib's
  # file has no per-feature name, so each build would find the other's output "fresh":
  # cleaning the one crate first makes cargo link each variant anew.
  # (Each step is checked: callers may run this where `set -e` does not apply.)
  local features copy
  for features in "" wasmtime; do
    copy=$spin_deploy_wasm
    [ -z "$features" ] || copy=$spin_wasm
    cargo clean -q -p edgesync-spin --target wasm32-wasip2 --profile "$wasm_profile" || return 1
    cargo build -q -p edgesync-spin --target wasm32-wasip2 --profile "$wasm_profile" --features "$features" || return 1
    cp "$built" "$copy" || return 1
  done
}

# For the benchmark scripts: release builds of the native server and of the load generator
# `$1` (a tests/src/bin binary), the native server on the sqld of scripts/with-sqld.sh, and
# tokens for the bench. Sets native_bin: it is read when this file is sourced, so exporting
# EDGESYNC_NATIVE_BIN afterwards would leave the debug binary in use.
bench_setup() {
  jwt_env edgesync-bench
  export EDGESYNC_NATIVE_ON_SQLD=1
  cargo build -q --release -p edgesync-blackbox --bin "$1" -p edgesync-server --bin edgesync
  export EDGESYNC_NATIVE_BIN="$out/release/edgesync"
  native_bin=$EDGESYNC_NATIVE_BIN
}

# Builds the Worker bundle (edge/worker/build) the way wrangler.toml's [build] command does.
build_worker() {
  # shellcheck disable=SC2086 # the flags are words
  (cd edge/worker && CARGO_PROFILE_RELEASE_OPT_LEVEL=z worker-build --release ${EDGESYNC_WORKER_BUILD_FLAGS:-} >/dev/null)
}

# A workerd config serving the bundle with the same vars and Durable Object bindings
# wrangler.toml gives it (EDGESYNC_WORKERD_NO_CHANNEL=1: without LIVE_CHANNELS, as a deployment
# that left it out); the objects' storage (alarms) in directory $2. Outbound fetches may
# reach loopback (sqld); workerd's default network allows only public addresses.
# A value as a capnp text literal's contents (JSON keeps its quotes).
capnp_text() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'; }

workerd_config() {
  local port=$1 objects=$2 date
  date=$(sed -n 's/^compatibility_date = "\(.*\)"/\1/p' wrangler.toml)
  cat <<CAPNP
using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .edgesync),
    (name = "internet", network = (allow = ["public", "private", "local"])),
    (name = "objects", disk = (path = "$objects", writable = true)),
  ],
  sockets = [(name = "http", address = "127.0.0.1:$port", http = (), service = "main")],
);
const edgesync :Workerd.Worker = (
  modules = [
    (name = "index.js", esModule = embed "index.js"),
    (name = "index_bg.wasm", wasm = embed "index_bg.wasm"),
  ],
  compatibilityDate = "$date",
  durableObjectNamespaces = [
    (className = "DocumentRoom", uniqueKey = "edgesync-document-room", enableSql = true),
    (className = "LiveChannel", uniqueKey = "edgesync-live-channel", enableSql = true),
    (className = "RepoConnections", uniqueKey = "edgesync-repo-connections", enableSql = true),
  ],
  durableObjectStorage = (localDisk = "objects"),
  bindings = [
    (name = "DOCUMENT_ROOMS", durableObjectNamespace = "DocumentRoom"),
    (name = "REPO_CONNECTIONS", durableObjectNamespace = "RepoConnections"),
$( [ -z "${EDGESYNC_WORKERD_NO_CHANNEL:-}" ] && echo '    (name = "LIVE_CHANNELS", durableObjectNamespace = "LiveChannel"),')
$( [ -n "${EDGESYNC_SQLD_URL:-}" ] && echo "    (name = \"LIBSQL_URL\", text = \"$EDGESYNC_SQLD_URL\"),")
$( [ -n "${JWT_ED25519_PUBLIC_KEYS:-}" ] && echo "    (name = \"JWT_ED25519_PUBLIC_KEYS\", text = \"$JWT_ED25519_PUBLIC_KEYS\"),")
$( [ -n "${JWT_JWKS:-}" ] && echo "    (name = \"JWT_JWKS\", text = \"$(capnp_text "$JWT_JWKS")\"),")
$( [ -n "${JWT_JWKS_URL:-}" ] && echo "    (name = \"JWT_JWKS_URL\", text = \"$JWT_JWKS_URL\"),")
$( [ -n "${JWT_JWKS_MIN_REFRESH_SECS:-}" ] && echo "    (name = \"JWT_JWKS_MIN_REFRESH_SECS\", text = \"$JWT_JWKS_MIN_REFRESH_SECS\"),")
    (name = "JWT_ISSUER", text = "$JWT_ISSUER"),
    (name = "JWT_AUDIENCE", text = "$JWT_AUDIENCE"),
    (name = "JWT_HS256_SECRET", text = "$JWT_HS256_SECRET"),
    (name = "EDGESYNC_RATE_LIMIT", text = "0"),
    (name = "EDGESYNC_CORS_ORIGINS", text = "$EDGESYNC_TEST_CORS_ORIGIN"),
    (name = "LIBSQL_TIMEOUT_MS", text = "${LIBSQL_TIMEOUT_MS:-10000}"),
$( [ -n "${EDGESYNC_LIVE_POLL_MS:-}" ] && echo "    (name = \"EDGESYNC_LIVE_POLL_MS\", text = \"$EDGESYNC_LIVE_POLL_MS\"),")
  ],
);
CAPNP
}

wait_healthy() {
  local port=$1 work=$2
  for _ in $(seq 1 3000); do  # up to 5 min: wrangler builds first
    if curl -fs "http://127.0.0.1:$port/v1/health" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then cat "$work/server.log" >&2; echo "the runtime exited" >&2; return 1; fi
    sleep 0.1
  done
  cat "$work/server.log" >&2; echo "the runtime never became healthy" >&2; return 1
}
