#!/usr/bin/env bash
# Two or more builds of the native server, alternating, under the same HTTP load
# (`edge-load native CLIENTS ROUNDS own|shared`): how docs/benchmarks.md tells a change to the
# sync path from this machine's noise, for clients on their own documents and on one shared one.
#   scripts/bench-ab-http.sh RUNS CLIENTS ROUNDS LABEL=BINARY ...
# e.g. `scripts/bench-ab-http.sh 5 8 400 before=/tmp/edgesync-A after=/tmp/edgesync-B` (release
# binaries of the two builds copied aside). PIN=1 puts the server's threads on core 0 and the
# clients on core 1, so that neither takes the other's CPU. MODES="thin:own thin:shared" drives
# the same load with edge-load's thin clients (they apply nothing they receive).
# Each run starts a fresh server on a fresh local libSQL file per build and mode and prints one
# line: run, build, mode, the server's CPU per round (ms, user + system from /proc, ticks of 10
# ms), the clients' CPU (s), then edge-load's row (rounds/s, p50, p99, full merges, 503s).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 4 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
runs=$1 clients=$2 rounds=$3
shift 3
export EDGESYNC_WASM_PROFILE=release
source scripts/targets.sh
jwt_env edgesync-bench
unset EDGESYNC_NATIVE_ON_SQLD # a local file
cargo build -q --release -p edgesync-blackbox --bin edge-load
tick=$(getconf CLK_TCK)
cpu_ms() { awk -v t="$tick" '{ print ($14 + $15) * 1000 / t }' "/proc/$1/stat"; }
pid='' work=''
trap 'stop_pid "$pid"; [ -z "$work" ] || rm -rf "$work"' EXIT

echo "run build mode server_cpu_ms_per_round clients_cpu_s | edge-load row"
for run in $(seq 1 "$runs"); do
  for mode in ${MODES:-own shared}; do
    for spec in "$@"; do
      label=${spec%%=*} bin=${spec#*=}
      export EDGESYNC_NATIVE_BIN=$bin
      native_bin=$bin
      work=$(mktemp -d) port=$(free_port)
      start_target native "$port" "$work"
      wait_healthy "$port" "$work"
      server=$(pgrep -f "edgesync.*--port $port" | head -1 || true)
      [ -n "$server" ] || server=$pid
      pin=()
      if [ -n "${PIN:-}" ]; then
        taskset -a -p -c 0 "$server" >/dev/null
        pin=(taskset -c 1)
      fi
      before=$(cpu_ms "$server")
      times=$(mktemp)
      timer=(/usr/bin/time -o "$times" -f '%U %S') # Debian's `time` package
      [ -x /usr/bin/time ] || { timer=(); echo '- 0' >"$times"; }
      row=$("${pin[@]}" "${timer[@]}" env EDGESYNC_BASE_URL="http://127.0.0.1:$port" \
        EDGESYNC_TEST_HS256_SECRET="$JWT_HS256_SECRET" EDGESYNC_TEST_ISSUER="$JWT_ISSUER" EDGESYNC_TEST_AUDIENCE="$JWT_AUDIENCE" \
        "$out/release/edge-load" native "$clients" "$rounds" "$mode")
      after=$(cpu_ms "$server")
      per_round=$(echo "scale=3; ($after - $before) / ($clients * $rounds)" | bc)
      echo "$run $label $mode $per_round $(awk '{ print $1 + $2 }' "$times") $row"
      rm -f "$times"
      stop_pid "$pid" && pid='' && rm -rf "$work" && work=''
    done
  done
done
