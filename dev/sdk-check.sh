#!/usr/bin/env bash
# Drives a private Stripe emulator with Stripe's official SDKs: starts the emulator on a free
# loopback port, runs dev/sdk/stripe_python_check.py (stripe-python, pinned in
# dev/requirements.txt) and then dev/sdk/stripe_node_check.cjs (stripe-node, pinned in
# dev/sdk/package.json and package-lock.json, installed by `dev/bootstrap.sh --node` into
# <venv>/node/; needs Node.js 20+ and npm) against it, and stops the emulator. Both checks always
# run; exits non-zero if either failed, after printing the emulator's log tail.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"
activate_venv
"$root/dev/bootstrap.sh" --node > /dev/null

work="$(mktemp -d)"
emulator_pid=""
cleanup() {
  if [ -n "$emulator_pid" ]; then
    kill "$emulator_pid" 2>/dev/null || true
    wait "$emulator_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

echo "sdk-check: building the emulator"
cargo build --quiet -p stripe-emulator
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

# The binary itself (not `cargo run`), so that stopping it stops the emulator.
STRIPE_EMULATOR_ADDR="127.0.0.1:$port" STRIPE_EMULATOR_WEBHOOK_URLS="" RUST_LOG=warn \
  "$target_dir/debug/stripe-emulator" > "$work/emulator.log" 2>&1 &
emulator_pid=$!
wait_for_port 127.0.0.1 "$port" 60 "Stripe emulator"

failed=()
echo "sdk-check: running stripe-python against http://127.0.0.1:$port"
python3 dev/sdk/stripe_python_check.py "http://127.0.0.1:$port" || failed+=(stripe-python)
echo "sdk-check: running stripe-node against http://127.0.0.1:$port"
STRIPE_NODE_MODULES="$STRIPE_LAMBDA_VENV/node/node_modules" \
  node dev/sdk/stripe_node_check.cjs "http://127.0.0.1:$port" || failed+=(stripe-node)
if [ "${#failed[@]}" -gt 0 ]; then
  echo "sdk-check: failed (${failed[*]}); emulator log:"
  tail -n 40 "$work/emulator.log"
  exit 1
fi
