#!/usr/bin/env bash
# Property-based tests of the native server generated from its own OpenAPI document
# (Schemathesis, installed by scripts/install-tools.sh into $schemathesis_dir): every operation gets schema-valid and
# schema-violating requests, sent with an admin token. The run fails on any 5xx answer and on
# any answer whose status, content type or body the document does not describe.
#   scripts/schemathesis.sh [extra st run options]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/targets.sh

work=$(mktemp -d)
port=$(free_port)
jwt_env edgesync-schemathesis
start_target native "$port" "$work"
cleanup() { stop_pid "$pid"; rm -rf "$work"; }
trap cleanup EXIT
wait_healthy "$port" "$work"

export SCHEMATHESIS_HOOKS=tests/schemathesis/hooks.py
token=$("$native_bin" --data-dir "$work" token --user schemathesis --admin)
failed() { echo "--- native log (tail) ---" >&2; tail -30 "$work/server.log" >&2; exit 1; }
# One worker: with two, Hypothesis' shared source cache raced now and then (a KeyError in
# hypothesis/internal/cache.py ended a clean-clone run as a "Runtime Error"); one is as fast here.
"$schemathesis_dir/bin/st" --no-color run "http://127.0.0.1:$port/v1/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-25}" --seed 1 --workers 1 "$@" || failed
