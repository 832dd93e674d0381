#!/usr/bin/env bash
# Runs every test: unit tests, handler tests driven by events/*.json, and the integration
# tests in tests/ (which start their own moto server on a free loopback port).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"
activate_venv
cargo test --workspace --all-targets "$@"
