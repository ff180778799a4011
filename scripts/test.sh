#!/usr/bin/env bash
# The project's test command (what `make test` and CI run): static checks, then every
# pytest test, the integration ones against the host LocalStack (already started).
# Prints LocalStack's log tail when a test fails.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

scripts/lint.sh
log "pytest (unit + integration)"
if ! .venv/bin/python -m pytest "$@"; then
  log "tests failed; LocalStack log tail:"
  scripts/localstack.sh logs | tail -n 80 || true
  exit 1
fi
