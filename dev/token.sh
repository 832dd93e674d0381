#!/usr/bin/env bash
# Prints a bearer token the local functions accept: ./dev/token.sh <user-id> [email] [--org ID --role ROLE]
# curl -H "Authorization: Bearer $(./dev/token.sh user_123)" http://127.0.0.1:9000/entitlements
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"
load_local_env
cargo run --quiet -p devtool -- token "$@"
