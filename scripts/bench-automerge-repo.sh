#!/usr/bin/env bash
# edgesync against automerge-repo's sync server, side by side in one run, on the workload where
# collaboration happens: CLIENTS clients each make ROUNDS small edits spread over DOCS shared
# documents, one edit at a time, each followed by the server's answer.
#   edgesync:        the native server (release, a local libSQL file), driven over HTTP by
#                    tests/src/bin/edge-load.rs (`shared:DOCS`: one sync request per edit)
#   automerge-repo:  @automerge/automerge-repo 2.5.6 with its WebSocket adapter and files on
#                    disk, `sharePolicy` announcing nothing, as its sync server runs
#                    (bench/automerge-repo/server.mjs), driven by unchanged automerge-repo
#                    clients (bench/automerge-repo/load.mjs: an edit, then the server's reply)
# Each server is fresh per run; the runs alternate between the two, RUNS times, and the table
# shows the medians and edgesync / automerge-repo ratios. Server CPU is the server process's
# user + system time (/proc) from before the clients start until they are done; memory its
# peak resident set (VmHWM).
#   scripts/bench-automerge-repo.sh [CLIENTS=8] [ROUNDS=200] [DOCS=10] [RUNS=3] [PACE=reply]
# PACE `unpaced`: the automerge-repo clients make their edits back to back instead of waiting
# for each reply, so automerge-repo batches them into fewer sync messages (edge-load's edits
# stay one request each).
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-8} rounds=${2:-200} docs=${3:-10} runs=${4:-3} pace=${5:-reply}
export EDGESYNC_WASM_PROFILE=release
source scripts/targets.sh
bench_setup edge-load
unset EDGESYNC_NATIVE_ON_SQLD # a local file, as automerge-repo keeps its documents on disk

# The peer's packages, pinned by bench/automerge-repo/package-lock.json.
peer=bench/automerge-repo
stamp=$peer/node_modules/.lock-$(sha256sum "$peer/package-lock.json" | cut -c1-16)
if [ ! -e "$stamp" ]; then
  # `npm install`, not `npm ci`: npm 11 leaves cbor-extract's optional platform packages out of
  # the lockfile and then refuses it in `npm ci`; the lockfile still pins every version.
  (cd "$peer" && npm install --no-audit --no-fund --loglevel=error)
  touch "$stamp"
fi

tick=$(getconf CLK_TCK)
cpu_ms() { awk -v t="$tick" '{ print ($14 + $15) * 1000 / t }' "/proc/$1/stat"; }
peak_mb() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

pid=''
trap 'stop_pid "$pid"' EXIT
results=$(mktemp)
for run in $(seq 1 "$runs"); do
  # edgesync
  work=$(mktemp -d)
  port=$(free_port)
  start_target native "$port" "$work"
  wait_healthy "$port" "$work"
  before=$(cpu_ms "$pid")
  row=$(EDGESYNC_BASE_URL="http://127.0.0.1:$port" EDGESYNC_TEST_HS256_SECRET="$JWT_HS256_SECRET" \
    EDGESYNC_TEST_ISSUER="$JWT_ISSUER" EDGESYNC_TEST_AUDIENCE="$JWT_AUDIENCE" \
    "$out/release/edge-load" edgesync "$clients" "$rounds" "shared:$docs")
  cpu=$(echo "$(cpu_ms "$pid") - $before" | bc)
  # | label | mode | clients | rounds/s | p50 | p99 | loads | retries |
  echo "$row" | awk -F'|' -v cpu="$cpu" -v mb="$(peak_mb "$pid")" -v edits=$((clients * rounds)) \
    '{ gsub(/ /, ""); printf "edgesync %s %s %s %s\n", cpu / edits, $5 + 0, $6 + 0, mb }' >>"$results"
  stop_pid "$pid"; pid=''
  rm -rf "$work"

  # automerge-repo
  work=$(mktemp -d)
  port=$(free_port)
  spawn "$work/server.log" node "$peer/server.mjs" "$port" "$work/data"
  for _ in $(seq 1 100); do grep -q listening "$work/server.log" && break; sleep 0.1; done
  grep -q listening "$work/server.log" || { cat "$work/server.log" >&2; exit 1; }
  before=$(cpu_ms "$pid")
  json=$(node "$peer/load.mjs" "ws://127.0.0.1:$port" "$clients" "$rounds" "$docs" "$pace")
  cpu=$(echo "$(cpu_ms "$pid") - $before" | bc)
  echo "$json" | python3 -c '
import json, sys
r = json.load(sys.stdin)
cpu, mb = float(sys.argv[1]), sys.argv[2]
assert r["timeouts"] == 0, r
print("automerge-repo", cpu / r["edits"], r["edits"] / r["converged_seconds"], r["p50_ms"], mb)' "$cpu" "$(peak_mb "$pid")" >>"$results"
  stop_pid "$pid"; pid=''
  rm -rf "$work"
done

echo
echo "$clients clients x $rounds edits over $docs shared documents (automerge-repo clients: $pace), medians of $runs runs; $(date -u)"
python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, *values = line.split()
    rows.setdefault(name, []).append([float(v) for v in values])
med = {name: [statistics.median(col) for col in zip(*vals)] for name, vals in rows.items()}
print("| server | server CPU per edit (ms) | edits/s | edit p50 (ms) | peak RSS (MB) |")
print("|---|---:|---:|---:|---:|")
for name in ("edgesync", "automerge-repo"):
    cpu, rate, p50, mb = med[name]
    print(f"| {name} | {cpu:.3f} | {rate:.0f} | {p50:.2f} | {mb:.1f} |")
e, a = med["edgesync"], med["automerge-repo"]
print(f"| edgesync / automerge-repo | {e[0] / a[0]:.2f} | {e[1] / a[1]:.2f} | {e[2] / a[2]:.2f} | {e[3] / a[3]:.2f} |")
PY
rm -f "$results"
