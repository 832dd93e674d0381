#!/usr/bin/env bash
# Installs the project's tools into ignored paths. Idempotent; safe to run on every start.
#   - Python venv (default .venv/, override with STRIPE_LAMBDA_VENV) with cargo-lambda, ziglang,
#     aws-sam-cli, cfn-lint and moto[server], pinned in dev/requirements.txt.
#   - checkov (template security checks, dev/lint-template.sh) in a venv of its own inside it,
#     <venv>/checkov/, pinned below: checkov pins boto3 exactly, to another version than
#     aws-sam-cli's, so the two cannot share one venv.
#   - with `--browser`, Debian's chromium (apt-get, as root or through sudo), for the browser tests.
#   - with `--node`, Stripe's official Node SDK for dev/sdk-check.sh, pinned in dev/sdk/package.json
#     and dev/sdk/package-lock.json, installed with `npm ci` into <venv>/node/node_modules (needs
#     Node.js 20+ and npm on PATH).
# Options combine (`--browser --node`). Prints the venv path on its last line.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${STRIPE_LAMBDA_VENV:-$root/.venv}"
req="$root/dev/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
checkov_pin="checkov==3.3.30"
checkov_venv="$venv/checkov"
checkov_stamp="$checkov_venv/.pin"
browser=false
node=false
for arg in "$@"; do
  case "$arg" in
    --browser) browser=true ;;
    --node) node=true ;;
    *) echo "bootstrap: unknown option $arg (known: --browser, --node)" >&2; exit 2 ;;
  esac
done

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
if [ "$(cat "$checkov_stamp" 2>/dev/null)" != "$checkov_pin" ]; then
  echo "bootstrap: installing $checkov_pin into $checkov_venv" >&2
  [ -x "$checkov_venv/bin/python" ] || python3 -m venv "$checkov_venv"
  "$checkov_venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip >&2
  "$checkov_venv/bin/pip" install --quiet --disable-pip-version-check "$checkov_pin" >&2
  echo "$checkov_pin" > "$checkov_stamp"
fi
# `--browser`: Debian's chromium for the browser tests (dev/console-check.sh), which Playwright's
# Python package drives through `executable_path` (Playwright's own browser download needs the
# internet).
if [ "$browser" = true ] && ! command -v chromium > /dev/null; then
  echo "bootstrap: installing Debian's chromium (browser tests)" >&2
  if [ "$(id -u)" -eq 0 ]; then
    as_root=()
  elif command -v sudo > /dev/null && command -v apt-get > /dev/null; then
    as_root=(sudo)
  else
    echo "bootstrap: the browser tests (dev/console-check.sh) need chromium at /usr/bin/chromium or on PATH: on Debian, apt-get install chromium as root" >&2
    exit 1
  fi
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >&2
fi
# `--node`: stripe-node for dev/sdk/stripe_node_check.cjs, exactly as package-lock.json pins it
# (`npm ci`), in <venv>/node/ (the check finds it through STRIPE_NODE_MODULES), reinstalled only
# when package.json or the lock changes.
if [ "$node" = true ]; then
  node_dir="$venv/node"
  node_stamp="$node_dir/.lock.sha256"
  node_want="$(cat "$root/dev/sdk/package.json" "$root/dev/sdk/package-lock.json" | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$node_stamp" 2>/dev/null)" != "$node_want" ] || [ ! -f "$node_dir/node_modules/stripe/package.json" ]; then
    if ! command -v npm > /dev/null || ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' 2> /dev/null; then
      echo "bootstrap: the Node SDK check (dev/sdk-check.sh) needs Node.js 20 or newer and npm on PATH" >&2
      exit 1
    fi
    echo "bootstrap: installing Stripe's Node SDK (dev/sdk/package-lock.json) into $node_dir" >&2
    mkdir -p "$node_dir"
    cp "$root/dev/sdk/package.json" "$root/dev/sdk/package-lock.json" "$node_dir/"
    npm ci --prefix "$node_dir" --ignore-scripts --no-audit --no-fund --loglevel=error >&2
    echo "$node_want" > "$node_stamp"
  fi
fi
echo "$venv"
