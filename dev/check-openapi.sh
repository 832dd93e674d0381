#!/usr/bin/env bash
# Validates docs/openapi.yaml against the OpenAPI 3.1 specification (offline). The conformance
# test tests/tests/it/openapi.rs checks the handlers' answers against the same document.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"
activate_venv
openapi-spec-validator docs/openapi.yaml
