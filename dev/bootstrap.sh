#!/usr/bin/env bash
# Installs the project's tools into ignored paths. Idempotent; safe to run on every start.
#   - Python venv (default .venv/, override with STRIPE_LAMBDA_VENV) with cargo-lambda, ziglang,
#     aws-sam-cli, cfn-lint and moto[server], pinned in dev/requirements.txt.
# Prints the venv path on its last line.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${STRIPE_LAMBDA_VENV:-$root/.venv}"
req="$root/dev/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"

if [ ! -x "$venv/bin/python" ]; then
  echo "bootstrap: creating venv at $venv" >&2
  python3 -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing Python tools (cargo-lambda, moto, cfn-lint, sam) into $venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
  echo "$want" > "$stamp"
fi
echo "$venv"
