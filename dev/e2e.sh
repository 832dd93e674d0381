#!/usr/bin/env bash
# End-to-end tests: starts a private stack on free loopback ports (moto, the Stripe emulator
# delivering webhooks to `cargo lambda watch`, which serves the four functions), runs the e2e
# test binary against it, and stops everything. Called by ./dev/test.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"
activate_venv

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
dynamo_port=$(free_port); stripe_port=$(free_port); api_port=$(free_port)
table="e2e-$$"

# The environment of every process of this stack: the local defaults with this stack's ports.
grep -vE '^(TABLE_NAME|DYNAMODB_ENDPOINT|STRIPE_API_BASE|STRIPE_EMULATOR_ADDR|STRIPE_EMULATOR_WEBHOOK_URLS|RUST_LOG)=' dev/local.env | grep -vE '^\s*(#|$)' > "$work/e2e.env"
cat >> "$work/e2e.env" <<ENV
TABLE_NAME=$table
DYNAMODB_ENDPOINT=http://127.0.0.1:$dynamo_port
STRIPE_API_BASE=http://127.0.0.1:$stripe_port/
STRIPE_EMULATOR_ADDR=127.0.0.1:$stripe_port
STRIPE_EMULATOR_WEBHOOK_URLS=http://127.0.0.1:$api_port/webhook
RUST_LOG=warn
ENV
set -a; source "$work/e2e.env"; set +a

echo "e2e: building"
cargo build --quiet -p devtool -p stripe-emulator
e2e_bin=$(cargo test --quiet -p integration-tests --test e2e --no-run --message-format=json \
  | python3 -c 'import sys, json
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "e2e":
        print(m["executable"])')

python3 dev/moto-server.py -H 127.0.0.1 -p "$dynamo_port" > "$work/moto.log" 2>&1 &
pids+=($!)
wait_for_port 127.0.0.1 "$dynamo_port" 30 "moto server"
cargo run --quiet -p devtool -- create-table

cargo run --quiet -p stripe-emulator > "$work/emulator.log" 2>&1 &
pids+=($!)
wait_for_port 127.0.0.1 "$stripe_port" 60 "Stripe emulator"
# Faster delivery retries than the default, so shuffled events settle quickly.
curl -fsS -X POST "http://127.0.0.1:$stripe_port/_emulator/config" -H 'content-type: application/json' \
  -d '{"delivery_backoff_ms": 200, "delivery_retries": 8}' > /dev/null

cargo lambda watch --ignore-changes -A 127.0.0.1 -P "$api_port" --env-file "$work/e2e.env" > "$work/watch.log" 2>&1 &
pids+=($!)
wait_for_port 127.0.0.1 "$api_port" 120 "cargo lambda watch"

# The first request to each function builds and starts it; wait until each answers itself.
warm() { # method path expected-status
  local deadline=$((SECONDS + 900)) status
  until status=$(curl -s -o /dev/null -w '%{http_code}' -X "$1" "http://127.0.0.1:$api_port$2" -H 'content-type: application/json' -d '{}') && [ "$status" = "$3" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "e2e: $1 $2 never answered $3 (last: $status)"; tail -n 50 "$work/watch.log"; exit 1; fi
    sleep 1
  done
}
echo "e2e: starting the functions"
warm GET /plans 200
warm POST /checkout 401
warm POST /portal 401
warm POST /webhook 400
warm GET /entitlements 401
warm GET /subscription 401
warm POST /usage 401
# The functions without a route (usage reporter, reconcile, authorizer), through the Lambda Invoke API of cargo lambda watch.
deadline=$((SECONDS + 900))
until curl -fsS -X POST "http://127.0.0.1:$api_port/2015-03-31/functions/usage-reporter/invocations" -d '{}' > /dev/null 2>&1; do
  if [ "$SECONDS" -ge "$deadline" ]; then echo "e2e: usage-reporter never answered"; tail -n 50 "$work/watch.log"; exit 1; fi
  sleep 1
done
deadline=$((SECONDS + 900))
until curl -fsS -X POST "http://127.0.0.1:$api_port/2015-03-31/functions/reconcile/invocations" -d '{}' > /dev/null 2>&1; do
  if [ "$SECONDS" -ge "$deadline" ]; then echo "e2e: reconcile never answered"; tail -n 50 "$work/watch.log"; exit 1; fi
  sleep 1
done
deadline=$((SECONDS + 900))
until curl -fsS -X POST "http://127.0.0.1:$api_port/2015-03-31/functions/authorizer/invocations" -d '{"routeKey": "GET /profile"}' > /dev/null 2>&1; do
  if [ "$SECONDS" -ge "$deadline" ]; then echo "e2e: authorizer never answered"; tail -n 50 "$work/watch.log"; exit 1; fi
  sleep 1
done

echo "e2e: running"
E2E_API="http://127.0.0.1:$api_port" E2E_STRIPE="http://127.0.0.1:$stripe_port" \
E2E_DYNAMODB="http://127.0.0.1:$dynamo_port" E2E_TABLE="$table" \
  "$e2e_bin" --test-threads=1 "$@" || { echo "e2e: failed; watch log:"; tail -n 80 "$work/watch.log"; echo "emulator log:"; tail -n 40 "$work/emulator.log"; exit 1; }
