#!/usr/bin/env bash
# The console's end-to-end test in a real browser: starts a private stack on free loopback
# ports (dev/stack.sh), the events publisher every 2 seconds (as ./dev/run.sh does) and the
# console (dev/console) on a free port, then drives Debian's chromium through Playwright's Python
# package (tests/browser/console_e2e.py): sign in, subscribe through the emulator's hosted
# Checkout, usage, a plan change with its preview, cancel, resume, the clock. Screenshots go to
# $CONSOLE_SCREENSHOTS (default .dev/console-screenshots/). Called by ./dev/test.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$root/dev/stack.sh"
cd "$root"
activate_venv
"$root/dev/bootstrap.sh" --browser > /dev/null
chromium_bin="$(command -v chromium)"
screenshots="${CONSOLE_SCREENSHOTS:-$root/.dev/console-screenshots}"
rm -rf "$screenshots"
mkdir -p "$screenshots"

work="$(mktemp -d)"
cleanup() { stop_stack; rm -rf "$work"; }
trap cleanup EXIT INT TERM

echo "console-check: building the console"
cargo build --quiet -p console
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

console_port=$(free_port)
console_url="http://127.0.0.1:$console_port"
# The console's page is where Checkout and the portal send the user back to.
start_stack "$work" "ALLOWED_REDIRECT_ORIGINS=$console_url" "DEFAULT_RETURN_URL=$console_url/"

# The table's stream and the schedule in AWS: the publisher, every 2 seconds.
( while sleep 2; do
    curl -s -X POST "$STACK_API/2015-03-31/functions/events-publisher/invocations" -d '{}' > /dev/null || true
  done ) &
stack_pids+=($!)

# The binary itself (not `cargo run`), so that stopping it stops the console.
"$target_dir/debug/console" --addr "127.0.0.1:$console_port" --api "$STACK_API" > "$work/console.log" 2>&1 &
stack_pids+=($!)
wait_for_port 127.0.0.1 "$console_port" 60 "console"

echo "console-check: driving chromium ($chromium_bin) against $console_url"
if ! python3 tests/browser/console_e2e.py --console "$console_url" --screenshots "$screenshots" --chromium "$chromium_bin"; then
  echo "console-check: failed; screenshots in $screenshots; console log:"
  tail -n 40 "$work/console.log"
  echo "watch log:"
  tail -n 60 "$work/watch.log"
  exit 1
fi
