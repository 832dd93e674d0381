# A private local stack for a script's run (sourced by dev/e2e.sh and dev/audit.sh, after
# lib.sh): moto, the table, the Stripe emulator delivering signed webhooks to
# `cargo lambda watch`, which serves every function, all on free loopback ports, and stopped
# when the script exits.
#
#   start_stack <work dir> [KEY=VALUE …]   extra settings for every process of the stack (each
#                                          replaces the dev/local.env default of its KEY)
#
# Sets STACK_API, STACK_STRIPE, STACK_DYNAMODB and STACK_TABLE (moto also serves the stack's
# event bus and SES); logs go to <work dir>.

stack_pids=()
stop_stack() {
  for pid in "${stack_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

# warm METHOD PATH EXPECTED-STATUS: the first request to a function builds and starts it.
warm() {
  local deadline=$((SECONDS + 900)) status
  until status=$(curl -s -o /dev/null -w '%{http_code}' -X "$1" "$STACK_API$2" -H 'content-type: application/json' -d '{}') && [ "$status" = "$3" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "stack: $1 $2 never answered $3 (last: $status)"; tail -n 50 "$stack_work/watch.log"; return 1; fi
    sleep 1
  done
}

# warm_invoke FUNCTION PAYLOAD: a function without a route, through the Lambda Invoke API.
warm_invoke() {
  local deadline=$((SECONDS + 900))
  until curl -fsS -X POST "$STACK_API/2015-03-31/functions/$1/invocations" -d "$2" > /dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "stack: $1 never answered"; tail -n 50 "$stack_work/watch.log"; return 1; fi
    sleep 1
  done
}

start_stack() {
  stack_work="$1"; shift
  local dynamo_port stripe_port api_port
  dynamo_port=$(free_port); stripe_port=$(free_port); api_port=$(free_port)
  STACK_TABLE="stack-$$"
  STACK_API="http://127.0.0.1:$api_port"
  STACK_STRIPE="http://127.0.0.1:$stripe_port"
  STACK_DYNAMODB="http://127.0.0.1:$dynamo_port"

  # The environment of every process of this stack: the local defaults with this stack's ports,
  # and the caller's settings instead of the defaults they name.
  local replaced="TABLE_NAME|DYNAMODB_ENDPOINT|EVENTBRIDGE_ENDPOINT|SES_ENDPOINT|STRIPE_API_BASE|STRIPE_EMULATOR_ADDR|STRIPE_EMULATOR_WEBHOOK_URLS|RUST_LOG"
  local setting
  for setting in "$@"; do replaced="$replaced|${setting%%=*}"; done
  grep -vE "^($replaced)=" "$root/dev/local.env" \
    | grep -vE '^\s*(#|$)' > "$stack_work/stack.env"
  cat >> "$stack_work/stack.env" <<ENV
TABLE_NAME=$STACK_TABLE
DYNAMODB_ENDPOINT=$STACK_DYNAMODB
EVENTBRIDGE_ENDPOINT=$STACK_DYNAMODB
SES_ENDPOINT=$STACK_DYNAMODB
STRIPE_API_BASE=$STACK_STRIPE/
STRIPE_EMULATOR_ADDR=127.0.0.1:$stripe_port
STRIPE_EMULATOR_WEBHOOK_URLS=$STACK_API/webhook
RUST_LOG=warn
ENV
  for setting in "$@"; do echo "$setting" >> "$stack_work/stack.env"; done
  set -a; source "$stack_work/stack.env"; set +a

  echo "stack: building"
  cargo build --quiet -p devtool -p stripe-emulator
  python3 "$root/dev/moto-server.py" -H 127.0.0.1 -p "$dynamo_port" > "$stack_work/moto.log" 2>&1 &
  stack_pids+=($!)
  wait_for_port 127.0.0.1 "$dynamo_port" 30 "moto server"
  cargo run --quiet -p devtool -- create-table
  cargo run --quiet -p devtool -- create-bus

  cargo run --quiet -p stripe-emulator > "$stack_work/emulator.log" 2>&1 &
  stack_pids+=($!)
  wait_for_port 127.0.0.1 "$stripe_port" 60 "Stripe emulator"
  # Faster delivery retries than the default, so shuffled events settle quickly.
  curl -fsS -X POST "$STACK_STRIPE/_emulator/config" -H 'content-type: application/json' \
    -d '{"delivery_backoff_ms": 200, "delivery_retries": 8}' > /dev/null

  cargo lambda watch --ignore-changes -A 127.0.0.1 -P "$api_port" --env-file "$stack_work/stack.env" > "$stack_work/watch.log" 2>&1 &
  stack_pids+=($!)
  wait_for_port 127.0.0.1 "$api_port" 120 "cargo lambda watch"

  echo "stack: starting the functions"
  warm GET /plans 200
  warm POST /checkout 401
  warm POST /portal 401
  warm POST /webhook 400
  warm GET /entitlements 401
  warm GET /subscription 401
  warm POST /usage 403
  warm_invoke usage-reporter '{}'
  warm_invoke reconcile '{}'
  warm_invoke events-publisher '{}'
  warm_invoke authorizer '{"routeKey": "GET /profile"}'
}
