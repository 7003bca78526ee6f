#!/usr/bin/env bash
# Two or more builds of the native server, alternating, under the same unchanged automerge-repo
# clients (bench/automerge-repo/load.mjs): the side-by-side comparison docs/benchmarks.md uses
# to tell a change from the machine's noise (the script against automerge-repo's server,
# scripts/bench-automerge-repo.sh, measures one build).
#   scripts/bench-ab-automerge-repo.sh RUNS CLIENTS ROUNDS DOCS LABEL=BINARY[,VAR=VALUE] ...
# e.g. `scripts/bench-ab-automerge-repo.sh 6 8 200 10 before=/tmp/edgesync-A after=/tmp/edgesync-B`
# (release binaries of the two builds copied aside), or one binary under two settings:
# `… same=target/release/edgesync wal=target/release/edgesync,EDGESYNC_SOME_SETTING=1`.
# WORKLOAD (reply, the default; unpaced; create; offline) is load.mjs's last argument.
# Each run starts a fresh server on a fresh local libSQL file, runs the clients, and prints one
# line per build: edits, timeouts, p50 (ms), messages the clients sent and received, the
# server's CPU per edit (ms, scripts/cpu-meter.sh), its resident set (MB).
# The builds take turns within each run, so a slow minute of the machine hits all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 5 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
runs=$1 clients=$2 rounds=$3 docs=$4
shift 4
export EDGESYNC_WASM_PROFILE=release
source scripts/targets.sh
jwt_env edgesync-bench
unset EDGESYNC_NATIVE_ON_SQLD # a local file, as in scripts/bench-automerge-repo.sh
cargo build -q --release -p edgesync-blackbox --bin edge-load
peer=bench/automerge-repo
[ -d "$peer/node_modules" ] || (cd "$peer" && npm install --no-audit --no-fund --loglevel=error)

source scripts/cpu-meter.sh
rss_mb() { awk '$1 == "VmRSS:" { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
pid='' work=''
trap 'stop_pid "$pid"; [ -z "$work" ] || rm -rf "$work"' EXIT

echo "run build edits timeouts p50_ms sent received cpu_ms_per_edit rss_mb"
for run in $(seq 1 "$runs"); do
  for spec in "$@"; do
    label=${spec%%=*} rest=${spec#*=}
    bin=${rest%%,*} settings=''
    [ "$rest" = "$bin" ] || settings=${rest#*,}
    export EDGESYNC_NATIVE_BIN=$bin
    native_bin=$bin
    work=$(mktemp -d) port=$(free_port)
    # The build's settings, for its server only.
    IFS=, read -r -a vars <<<"$settings"
    for var in "${vars[@]}"; do export "${var?}"; done
    start_target native "$port" "$work"
    for var in "${vars[@]}"; do unset "${var%%=*}"; done
    wait_healthy "$port" "$work"
    token=$(EDGESYNC_BASE_URL="http://127.0.0.1:$port" EDGESYNC_TEST_HS256_SECRET="$JWT_HS256_SECRET" EDGESYNC_TEST_ISSUER="$JWT_ISSUER" \
      EDGESYNC_TEST_AUDIENCE="$JWT_AUDIENCE" "$out/release/edge-load" token bench)
    server=$(pgrep -f "edgesync.*--port $port" | head -1 || true)
    [ -n "$server" ] || server=$pid
    cpu_start "$server"
    json=$(node "$peer/load.mjs" "ws://127.0.0.1:$port/v1/automerge-repo?token=$token" "$clients" "$rounds" "$docs" "${WORKLOAD:-reply}")
    cpu=$(cpu_ms)
    echo "$json" | python3 -c '
import json, sys
r = json.load(sys.stdin)
run, label, cpu, rss = sys.argv[1:5]
edits = r.get("edits") or r.get("documents") or 1
print(run, label, edits, r.get("timeouts", 0), round(r.get("p50_ms", 0), 2), r.get("messages_sent"), r.get("messages_received"),
      round(float(cpu) / edits, 4), rss)
' "$run" "$label" "$cpu" "$(rss_mb "$server")"
    stop_pid "$pid"
    pid=''
    rm -rf "$work"
    work=''
  done
done
