#!/usr/bin/env bash
# The billing audit: ./dev/audit.sh [--users N] [--days D] [--seed S]
#
# Starts a private stack (dev/stack.sh) whose functions share the Stripe emulator's clock, drives
# N simulated customers through D days of random histories against the real functions and the
# emulator (dev/audit: checkouts, changes, cancels, resumes, usage, payment failures, refunds,
# disputes, duplicated, reordered, delayed and dropped webhooks, reconcile), checks the money
# invariants after every day, and stops the stack. Its last line:
#   audit: <N> users, <D> days, <K> operations, <V> violations
# and it exits non-zero on any violation. Defaults: 20 users, 120 days, seed 1.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$root/dev/stack.sh"
cd "$root"
case "${1:-}" in -h|--help) cargo run --quiet -p audit -- --help; exit 0 ;; esac
activate_venv

work="$(mktemp -d)"
cleanup() { stop_stack; rm -rf "$work"; }
trap cleanup EXIT INT TERM

cargo build --quiet -p audit
# One clock for the emulator and the functions; no per-user rate limit (the simulation packs a
# customer's month into seconds: its requests are what the audit is about, not their rate); the
# default catalog with a metered ceiling the simulated customers reach (dev/audit/catalog.json).
start_stack "$work" \
  "STRIPE_EMULATOR_CLOCK_FILE=$work/clock" \
  "LOCAL_CLOCK_FILE=$work/clock" \
  "USER_RATE_LIMIT_PER_MINUTE=0" \
  "PLANS_PATH=$root/dev/audit/catalog.json"

AUDIT_API="$STACK_API" AUDIT_STRIPE="$STACK_STRIPE" AUDIT_DYNAMODB="$STACK_DYNAMODB" AUDIT_TABLE="$STACK_TABLE" \
  cargo run --quiet -p audit -- "$@" || {
    status=$?
    echo "audit: logs of the stack are in $work (kept)"; trap - EXIT; stop_stack
    exit "$status"
  }
