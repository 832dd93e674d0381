#!/usr/bin/env bash
# Lints template.yaml with cfn-lint and `sam validate --lint` (both offline, no credentials).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"
activate_venv
export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
cfn-lint template.yaml
sam validate --lint --template-file template.yaml
