#!/usr/bin/env bash
# edgesync against automerge-repo's sync server, side by side in one run, on the issue 14
# workloads (docs/benchmarks.md):
#   reply (default)  CLIENTS clients each make ROUNDS small edits spread over DOCS shared
#                    documents, one edit at a time, each followed by the server's answer;
#   unpaced          the same, the automerge-repo clients making their edits back to back (so
#                    automerge-repo may batch them; edge-load's edits stay one request each);
#   create           each client creates ROUNDS new documents with one change each, one at a
#                    time, each followed by the server's answer (DOCS unused): server CPU per
#                    document and the server's memory after;
#   offline          CLIENTS clients hold one document, each makes ROUNDS edits offline, then
#                    they sync until all converge: bytes and messages both ways, seconds.
#   edgesync:        the native server (release, a local libSQL file), driven over HTTP by
#                    tests/src/bin/edge-load.rs (one sync request per edit or document)
#   edgesync-repo:   the same server driven by the same unchanged automerge-repo clients as
#                    automerge-repo's server, through GET /v1/automerge-repo (one user, the
#                    token in the URL)
#   automerge-repo:  @automerge/automerge-repo 2.5.6 with its WebSocket adapter and files on
#                    disk, `sharePolicy` announcing nothing, as its sync server runs
#                    (bench/automerge-repo/server.mjs), driven by unchanged automerge-repo
#                    clients (bench/automerge-repo/load.mjs, offline.mjs)
# Each server is fresh per run; the runs alternate between the three, RUNS times, and the table
# shows the medians and each edgesync row's ratio to automerge-repo. Server CPU is the CPU time of
# all the server process's threads from before the clients start until they are done
# (scripts/cpu-meter.sh); memory its resident set when they are done and its peak (VmHWM).
#   scripts/bench-automerge-repo.sh [CLIENTS=8] [ROUNDS=200] [DOCS=10] [RUNS=3] [WORKLOAD=reply]
# e.g. `8 1250 0 3 create` (10,000 documents), `2 1000 1 3 offline`.
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-8} rounds=${2:-200} docs=${3:-10} runs=${4:-3} workload=${5:-reply}
case "$workload" in reply | unpaced) mode=shared:$docs ;; create | offline) mode=$workload ;; *) echo "unknown workload $workload" >&2; exit 2 ;; esac
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

source scripts/cpu-meter.sh
mb() { awk -v k="$2:" '$1 == k { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# peer_run LABEL URL: bench/automerge-repo's clients against the server $pid listens on at URL;
# appends LABEL's row to $results and stops the server.
peer_run() {
  local cpu json
  cpu_start "$pid"
  json=$(node "$peer/load.mjs" "$2" "$clients" "$rounds" "$docs" "$workload")
  cpu=$(cpu_ms)
  echo "$json" | python3 -c '
import json, sys
r = json.load(sys.stdin)
label, cpu, rss, peak, workload = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
if workload == "offline":
    print(label, r["sent"], r["received"], r["sent"] + r["received"], r["messages"], r["seconds"], cpu,
          r["wire_sent"], r["wire_received"], r["wire_sent"] + r["wire_received"])
else:
    assert r["timeouts"] == 0, r
    print(label, cpu / r["edits"], r["edits"] / r["converged_seconds"], r["p50_ms"], rss, peak)' \
    "$1" "$cpu" "$(mb "$pid" VmRSS)" "$(mb "$pid" VmHWM)" "$workload" >>"$results"
  stop_pid "$pid"; pid=''
}

pid=''
trap 'stop_pid "$pid"' EXIT
results=$(mktemp)
for run in $(seq 1 "$runs"); do
  # edgesync
  work=$(mktemp -d)
  port=$(free_port)
  start_target native "$port" "$work"
  wait_healthy "$port" "$work"
  cpu_start "$pid"
  row=$(EDGESYNC_BASE_URL="http://127.0.0.1:$port" EDGESYNC_TEST_HS256_SECRET="$JWT_HS256_SECRET" \
    EDGESYNC_TEST_ISSUER="$JWT_ISSUER" EDGESYNC_TEST_AUDIENCE="$JWT_AUDIENCE" \
    "$out/release/edge-load" edgesync "$clients" "$rounds" "$mode")
  cpu=$(cpu_ms)
  # Rows: | label | mode | clients | rounds/s | p50 | p99 | loads | retries |, or for offline
  # | label | offline | clients | edits | request bytes | response bytes | messages | seconds |
  # wire bytes to the server | wire bytes from it |.
  echo "$row" | awk -F'|' -v cpu="$cpu" -v rss="$(mb "$pid" VmRSS)" -v peak="$(mb "$pid" VmHWM)" -v n=$((clients * rounds)) -v w="$workload" \
    '{ gsub(/ /, "") } w == "offline" { print "edgesync", $6, $7, $6 + $7, $8, $9, cpu, $10, $11, $10 + $11; next }
     { printf "edgesync %s %s %s %s %s\n", cpu / n, $5 + 0, $6 + 0, rss, peak }' >>"$results"
  stop_pid "$pid"; pid=''
  rm -rf "$work"

  # edgesync, driven by automerge-repo's clients
  work=$(mktemp -d)
  port=$(free_port)
  start_target native "$port" "$work"
  wait_healthy "$port" "$work"
  token=$(EDGESYNC_BASE_URL="http://127.0.0.1:$port" EDGESYNC_TEST_HS256_SECRET="$JWT_HS256_SECRET" \
    EDGESYNC_TEST_ISSUER="$JWT_ISSUER" EDGESYNC_TEST_AUDIENCE="$JWT_AUDIENCE" "$out/release/edge-load" token bench)
  peer_run edgesync-repo "ws://127.0.0.1:$port/v1/automerge-repo?token=$token"
  rm -rf "$work"

  # automerge-repo
  work=$(mktemp -d)
  port=$(free_port)
  spawn "$work/server.log" node "$peer/server.mjs" "$port" "$work/data"
  for _ in $(seq 1 100); do grep -q listening "$work/server.log" && break; sleep 0.1; done
  grep -q listening "$work/server.log" || { cat "$work/server.log" >&2; exit 1; }
  peer_run automerge-repo "ws://127.0.0.1:$port"
  rm -rf "$work"
done

echo
case "$workload" in
  create) echo "$clients clients x $rounds new documents, one change each, medians of $runs runs; $(date -u)" ;;
  offline) echo "$clients clients x $rounds offline edits on one document, then synced, medians of $runs runs; $(date -u)" ;;
  *) echo "$clients clients x $rounds edits over $docs shared documents (automerge-repo clients: $workload), medians of $runs runs; $(date -u)" ;;
esac
python3 - "$results" "$workload" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, *values = line.split()
    rows.setdefault(name, []).append([float(v) for v in values])
med = {name: [statistics.median(col) for col in zip(*vals)] for name, vals in rows.items()}
if sys.argv[2] == "offline":
    # message bodies sent, received, both; messages; seconds; server CPU ms; then the same bytes
    # on the wire (HTTP headers, WebSocket upgrade and frame headers included)
    print("| server | body bytes to the server | from the server | in all | messages | seconds to converge | server CPU (ms) "
          "| wire bytes to the server | from the server | in all |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    table = med
    formats = ["{:.0f}", "{:.0f}", "{:.0f}", "{:.0f}", "{:.3f}", "{:.0f}", "{:.0f}", "{:.0f}", "{:.0f}"]
else:
    unit = "document" if sys.argv[2] == "create" else "edit"
    print(f"| server | server CPU per {unit} (ms) | {unit}s/s | {unit} p50 (ms) | RSS after (MB) | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|---:|")
    table = med
    formats = ["{:.3f}", "{:.0f}", "{:.2f}", "{:.1f}", "{:.1f}"]
names = {"edgesync": "edgesync (HTTP, edge-load)", "edgesync-repo": "edgesync (automerge-repo clients)", "automerge-repo": "automerge-repo"}
for name, title in names.items():
    print(f"| {title} | " + " | ".join(f.format(v) for f, v in zip(formats, table[name])) + " |")
a = table["automerge-repo"]
for name in ("edgesync", "edgesync-repo"):
    print(f"| **{names[name]} / automerge-repo** | " + " | ".join(f"{x / y:.2f}" for x, y in zip(table[name], a)) + " |")
PY
rm -f "$results"
