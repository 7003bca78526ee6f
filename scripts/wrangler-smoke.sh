#!/usr/bin/env bash
# The `wrangler dev` workflow, as a developer runs it: wrangler runs wrangler.toml's [build]
# command (worker-build) and serves the Worker through its local proxy. A smoke test: health,
# OpenAPI, three clients converging through the API, the live sockets (the per-document
# socket and the channel, with the Durable Objects and migrations wrangler.toml declares),
# and the Cron Trigger (compaction) fired
# through `--test-scheduled`. The whole black-box suite runs against the same bundle in bare
# workerd (scripts/blackbox.sh workerd), without wrangler's proxy in the way.
# Needs a sqld primary: run inside scripts/with-sqld.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/targets.sh
: "${EDGESYNC_SQLD_URL:?run inside scripts/with-sqld.sh}"

work=$(mktemp -d)
port=$(free_port)
jwt_env edgesync-wrangler
[ -f "$test_bins_list" ] || build_tests
"$native_bin" --data-dir "$work" --libsql-url "$EDGESYNC_SQLD_URL" migrate
# Configured as a deployment is: the database URL and the signing secret from a .dev.vars-shaped
# file (what `wrangler secret put` provides in production; here in the run's temp dir, never
# the developer's own .dev.vars), the rest as vars.
printf 'LIBSQL_URL=%s\nJWT_HS256_SECRET=%s\n' "$EDGESYNC_SQLD_URL" "$JWT_HS256_SECRET" >"$work/dev.vars"
spawn "$work/server.log" wrangler dev --local --test-scheduled --ip 127.0.0.1 --port "$port" \
  --env-file "$work/dev.vars" --var "JWT_ISSUER:$JWT_ISSUER" --var "JWT_AUDIENCE:$JWT_AUDIENCE" \
  --var "EDGESYNC_RATE_LIMIT:0"
cleanup() { stop_pid "$pid"; rm -rf "$work"; }
trap cleanup EXIT
wait_healthy "$port" "$work"

fail() { echo "$1" >&2; echo "--- wrangler dev log (tail) ---" >&2; tail -40 "$work/server.log" >&2; exit 1; }
EDGESYNC_BASE_URL="http://127.0.0.1:$port" EDGESYNC_REQUIRE_TARGET=1 \
EDGESYNC_TEST_HS256_SECRET="$JWT_HS256_SECRET" EDGESYNC_TEST_ISSUER="$JWT_ISSUER" EDGESYNC_TEST_AUDIENCE="$JWT_AUDIENCE" \
  run_tests edgesync-blackbox api live -- health_and_openapi three_clients_edit_offline document_socket channel:: || fail "smoke tests failed"

# The Cron Trigger, fired the way wrangler documents it.
status=$(curl -s -o "$work/cron.out" -w '%{http_code}' "http://127.0.0.1:$port/__scheduled?cron=*/5+*+*+*+*")
[ "$status" = 200 ] || fail "/__scheduled answered $status: $(cat "$work/cron.out")"
for _ in $(seq 1 50); do grep -q "compaction: [0-9]* documents" "$work/server.log" && break; sleep 0.1; done
grep -q "compaction: [0-9]* documents" "$work/server.log" || fail "the Cron Trigger did not log a compaction pass"
echo "ok: the Cron Trigger ran a compaction pass ($(grep -o 'compaction: [0-9]* documents' "$work/server.log" | tail -1))"
