#!/usr/bin/env bash
# The Worker, misconfigured, must answer a clear 500 problem+json (type `misconfigured`) and log
# why, never crash: no LIBSQL_URL, then an unreadable Ed25519 public key. Runs the built bundle
# in bare workerd (no database needed: configuration is checked before any query).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/targets.sh
export JWT_ISSUER=edgesync-config JWT_AUDIENCE=edgesync-config JWT_HS256_SECRET=0123456789abcdef0123456789abcdef
[ -f edge/worker/build/index_bg.wasm ] || build_worker

check() {
  local what=$1 work port body
  work=$(mktemp -d)
  port=$(free_port)
  cp edge/worker/build/index.js edge/worker/build/index_bg.wasm "$work/"
  mkdir -p "$work/objects"
  workerd_config "$port" "$work/objects" >"$work/workerd.capnp"
  spawn "$work/server.log" "$workerd_bin" serve "$work/workerd.capnp"
  for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
  body=$(curl -s -D "$work/headers" "http://127.0.0.1:$port/v1/health")
  sleep 0.2
  stop_pid "$pid"
  local ok=1
  grep -q '^HTTP/1.1 500' "$work/headers" || ok=0
  grep -qi '^content-type: application/problem+json' "$work/headers" || ok=0
  echo "$body" | grep -q '"type":"urn:edgesync:problem:misconfigured"' || ok=0
  grep -q "edgesync is misconfigured" "$work/server.log" || ok=0
  if [ "$ok" = 1 ]; then
    echo "ok: $what -> 500 misconfigured, logged"
  else
    echo "FAILED: $what"; cat "$work/headers"; echo "$body"; cat "$work/server.log"; exit 1
  fi
  rm -rf "$work"
}

EDGESYNC_SQLD_URL='' check "LIBSQL_URL missing"
EDGESYNC_SQLD_URL=http://127.0.0.1:9 JWT_ED25519_PUBLIC_KEYS='main:not-base64!' check "bad Ed25519 public key"
