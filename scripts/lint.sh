#!/usr/bin/env bash
# Static checks: ruff (lint and format), shellcheck, and the SAM template lint.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

log "ruff check / ruff format --check"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
log "shellcheck"
shellcheck scripts/*.sh .ci/run
log "sam validate --lint"
.tools/bin/sam validate --lint --region us-east-1
