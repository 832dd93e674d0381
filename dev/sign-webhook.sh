#!/usr/bin/env bash
# Signs a Stripe event payload with the local webhook secret (fresh timestamp) and prints the
# API Gateway event for `cargo lambda invoke`:
#   ./dev/sign-webhook.sh events/stripe/customer.subscription.updated.json > /tmp/webhook.json
#   cargo lambda invoke webhook -A 127.0.0.1 --data-file /tmp/webhook.json
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"
load_local_env
cargo run --quiet -p devtool -- sign-webhook "$@"
