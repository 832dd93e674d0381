#!/usr/bin/env bash
# Runs every test: unit tests, handler tests driven by events/*.json, the integration tests in
# tests/ (which start their own moto server and Stripe emulators on free loopback ports), and
# the end-to-end tests through `cargo lambda watch` (dev/e2e.sh), the console in a real browser
# (dev/console-check.sh: headless chromium through Playwright), the emulator driven by
# Stripe's official Python and Node SDKs (dev/sdk-check.sh), and a short fixed-seed billing audit
# (dev/audit.sh: random customer histories checked against the money invariants).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"
activate_venv
cargo test --workspace --all-targets "$@"
if [ "$#" -eq 0 ]; then
  ./dev/e2e.sh
  ./dev/console-check.sh
  ./dev/sdk-check.sh
  ./dev/audit.sh --users 6 --days 30 --seed 19
fi
