#!/usr/bin/env bash
# Benchmarks (release builds; not part of .ci/run). Prints a report; see docs/testing.md.
#   - webhook: own CPU per event (verify + parse + decide), DynamoDB round trips per event and
#     the outbox items riding in its transaction; the publisher's requests per domain event
#   - entitlements: own CPU per check, round trips per check, release binary start → ready for
#     the first invoke, max RSS, and the arm64 release zip sizes of all twelve functions
#   - a seated member of an organization: own CPU and DynamoDB round trips per decision
#   - usage: own CPU per record and DynamoDB round trips per record (warm process)
#   - authorizer: own CPU per decision (token verify + decide), HS256 and RS256
#   - Stripe connections a warm process opens per 100 calls (pooled client vs async-stripe's own)
#   - checkout and webhook release binaries: fresh process start → first response (local stack)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"
activate_venv
target="${CARGO_TARGET_DIR:-$root/target}"

rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
echo "bench: building arm64 release zips (cargo lambda build --release --arm64)" >&2
for f in checkout portal webhook entitlements subscription usage usage-reporter reconcile authorizer events-publisher notifier seats; do
  cargo lambda build --quiet --release --arm64 --output-format zip --bin "$f"
done
echo "bench: building the native release binaries and the bench harness" >&2
cargo build --quiet --release -p entitlements -p checkout -p webhook -p bench
"$target/release/bench" --release-dir "$target/release" --zips "$target/lambda" "$@"
