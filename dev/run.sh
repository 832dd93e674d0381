#!/usr/bin/env bash
# Runs the whole system locally: moto (DynamoDB) on 127.0.0.1:8000, the table, the Stripe
# emulator on 127.0.0.1:12111 (delivering signed webhooks to the local webhook function), and
# `cargo lambda watch` on 127.0.0.1:9000 serving the DESIGN.md routes as plain paths, the event
# bus `billing-events` on moto, the console on http://127.0.0.1:9001/ (dev/console), and the
# scheduled functions on their schedule (the events
# publisher every 2 seconds, the usage reporter every minute, reconcile every 15 minutes, through
# `cargo lambda invoke` against the watch server).
# Ctrl-C stops everything this script started.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"
activate_venv
load_local_env

state_dir="$root/.dev"
mkdir -p "$state_dir"
# One clock for the emulator and the functions: advancing the emulator's clock
# (POST /_emulator/clock/advance) moves renewals, trial ends and grace periods for both.
export STRIPE_EMULATOR_CLOCK_FILE="$state_dir/clock" LOCAL_CLOCK_FILE="$state_dir/clock"
pids=()
console_pid=""
cleanup() {
  trap - INT TERM EXIT
  echo
  # The console first, while moto still answers: it removes its rule and queue from the bus.
  if [ -n "$console_pid" ]; then
    kill "$console_pid" 2>/dev/null || true
    wait "$console_pid" 2>/dev/null || true
  fi
  echo "stopping: ${pids[*]:-nothing}"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

dynamo_host=127.0.0.1
dynamo_port="${DYNAMODB_ENDPOINT##*:}"
if port_in_use "$dynamo_host" "$dynamo_port"; then
  echo "DynamoDB: something already listens on $dynamo_host:$dynamo_port; using it"
else
  python3 dev/moto-server.py -H "$dynamo_host" -p "$dynamo_port" > "$state_dir/moto.log" 2>&1 &
  pids+=($!)
  wait_for_port "$dynamo_host" "$dynamo_port" 30 "moto server"
fi

cargo build --quiet -p devtool -p stripe-emulator -p console
cargo run --quiet -p devtool -- create-table
cargo run --quiet -p devtool -- create-bus

emulator_host="${STRIPE_EMULATOR_ADDR%:*}"
emulator_port="${STRIPE_EMULATOR_ADDR##*:}"
if port_in_use "$emulator_host" "$emulator_port"; then
  echo "Stripe emulator: something already listens on $STRIPE_EMULATOR_ADDR; not starting another" >&2
  exit 1
fi
cargo run --quiet -p stripe-emulator > "$state_dir/stripe-emulator.log" 2>&1 &
pids+=($!)
wait_for_port "$emulator_host" "$emulator_port" 60 "Stripe emulator"

cat <<INFO

stripe-lambda local stack
  console (open it)         http://127.0.0.1:9001/   log: .dev/console.log
  API (cargo lambda watch)  http://127.0.0.1:9000   e.g. curl http://127.0.0.1:9000/plans
  DynamoDB (moto server)    $DYNAMODB_ENDPOINT  table $TABLE_NAME   log: .dev/moto.log
  Stripe emulator           http://$STRIPE_EMULATOR_ADDR  webhooks → $STRIPE_EMULATOR_WEBHOOK_URLS   log: .dev/stripe-emulator.log
  bearer token for a user   ./dev/token.sh user_123
  usage reporter            every ${USAGE_REPORT_EVERY:-60} s   log: .dev/usage-reporter.log
  domain events             bus $EVENT_BUS_NAME on $EVENTBRIDGE_ENDPOINT, published every ${PUBLISH_EVERY:-2} s   log: .dev/events-publisher.log
                            watch them: cargo run -p devtool -- events tail
  reconcile                 every ${RECONCILE_EVERY:-900} s   log: .dev/reconcile.log   (now: cargo run -p devtool -- reconcile)
Ctrl-C stops everything started here.

INFO

cargo lambda watch -A 127.0.0.1 -P 9000 --env-file "$root/dev/local.env" &
pids+=($!)
# The console: the page, and its server (tokens, usage through the trusted path, the clock, the
# live feed), calling the functions through the watch server.
if port_in_use 127.0.0.1 9001; then
  echo "console: something already listens on 127.0.0.1:9001; not starting the console" >&2
else
  cargo run --quiet -p console -- --addr "127.0.0.1:9001" --api http://127.0.0.1:9000 > "$state_dir/console.log" 2>&1 &
  console_pid=$!
  wait_for_port 127.0.0.1 9001 60 "console (log: .dev/console.log)" && echo "console: open http://127.0.0.1:9001/"
fi

# What the table's stream and EventBridge Scheduler do in AWS: every SECONDS FUNCTION, through
# `cargo lambda invoke` against the watch server, logged to .dev/FUNCTION.log.
every() {
  wait_for_port 127.0.0.1 9000 120 "cargo lambda watch" > /dev/null
  while sleep "$1"; do
    cargo lambda invoke "$2" --invoke-address 127.0.0.1 --invoke-port 9000 --data-ascii '{}' >> "$state_dir/$2.log" 2>&1 || true
    echo >> "$state_dir/$2.log"
  done
}
every "${PUBLISH_EVERY:-2}" events-publisher &
pids+=($!)
every "${USAGE_REPORT_EVERY:-60}" usage-reporter &
pids+=($!)
every "${RECONCILE_EVERY:-900}" reconcile &
pids+=($!)
wait "${pids[@]}"
