#!/usr/bin/env bash
# Benchmarks (release builds; not part of .ci/run). Prints a report; see README "Benchmarks".
#   - webhook: own CPU per event (verify + parse + decide) and DynamoDB round trips per event
#   - entitlements: own CPU per check, round trips per check, release binary start → ready for
#     the first invoke, max RSS, and the arm64 release zip sizes of all four functions
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"
activate_venv
target="${CARGO_TARGET_DIR:-$root/target}"

rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
echo "bench: building arm64 release zips (cargo lambda build --release --arm64)" >&2
for f in checkout portal webhook entitlements; do
  cargo lambda build --quiet --release --arm64 --output-format zip --bin "$f"
done
echo "bench: building the native release binary and the bench harness" >&2
cargo build --quiet --release -p entitlements -p bench
"$target/release/bench" --release-bin "$target/release/entitlements" --zips "$target/lambda" "$@"
