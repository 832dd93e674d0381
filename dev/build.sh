#!/usr/bin/env bash
# Release build of the eleven functions for Lambda (arm64, provided.al2023) with SAM's
# rust-cargolambda builder: one `cargo lambda build --release --arm64 --bin <name>` per
# function, output in .aws-sam/build/. Then `sam deploy --guided`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"
activate_venv
export SAM_CLI_TELEMETRY=0
rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
sam build --beta-features "$@"
