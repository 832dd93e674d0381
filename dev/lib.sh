# Shared shell helpers for dev/*.sh (sourced, not run).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Installs the Python tools if needed and puts the venv first on PATH (cargo-lambda finds zig).
activate_venv() {
  local venv
  venv="$("$root/dev/bootstrap.sh" | tail -n 1)"
  export STRIPE_LAMBDA_VENV="$venv"
  export PATH="$venv/bin:$PATH"
}

# Exports every KEY=VALUE of dev/local.env that the caller has not set already.
load_local_env() {
  local line key value
  while IFS= read -r line; do
    case "$line" in ''|'#'*) continue ;; esac
    key="${line%%=*}"
    value="${line#*=}"
    # Single-quoted values (JSON) lose their quotes, as the dotenv reader of `cargo lambda watch` does.
    case "$value" in \'*\') value="${value:1:${#value}-2}" ;; esac
    if [ -z "${!key+x}" ]; then export "$key=$value"; fi
  done < "$root/dev/local.env"
}

# wait_for_port HOST PORT SECONDS NAME
wait_for_port() {
  local deadline=$((SECONDS + $3))
  until (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "$4 did not start on $1:$2 within $3 s" >&2; return 1; fi
    sleep 0.2
  done
}

port_in_use() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
