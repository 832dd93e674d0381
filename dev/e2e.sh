#!/usr/bin/env bash
# End-to-end tests: starts a private stack on free loopback ports (dev/stack.sh: moto, the
# Stripe emulator delivering webhooks to `cargo lambda watch`, which serves every function),
# runs the e2e test binary against it, and stops everything. Called by ./dev/test.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$root/dev/stack.sh"
cd "$root"
activate_venv

work="$(mktemp -d)"
cleanup() { stop_stack; rm -rf "$work"; }
trap cleanup EXIT INT TERM

e2e_bin=$(cargo test --quiet -p integration-tests --test e2e --no-run --message-format=json \
  | python3 -c 'import sys, json
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "e2e":
        print(m["executable"])')

start_stack "$work"

echo "e2e: running"
E2E_API="$STACK_API" E2E_STRIPE="$STACK_STRIPE" E2E_DYNAMODB="$STACK_DYNAMODB" E2E_TABLE="$STACK_TABLE" \
  "$e2e_bin" --test-threads=1 "$@" || { echo "e2e: failed; watch log:"; tail -n 80 "$work/watch.log"; echo "emulator log:"; tail -n 40 "$work/emulator.log"; exit 1; }
