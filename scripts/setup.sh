#!/usr/bin/env bash
# Create every environment the project needs, from the committed lock files. Idempotent:
# a second run only checks that each one is in sync.
#   .venv               Python 3.11: training job, predict function code, tests (uv.lock)
#   .venv-localstack    Python 3.13: LocalStack + the host Lambda executor plugin
#   .venv-lambda-py312  Python 3.12: what the python3.12 Lambda runtime provides (boto3, RIC)
#   .tools/bin/sam      AWS SAM CLI, an isolated tool (its pydantic pins clash with zenml)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

SAM_CLI_VERSION=1.170.0

if ! command -v uv >/dev/null 2>&1; then
  log "installing uv"
  python3 -m pip install --quiet uv
fi

venv_from_requirements() {  # venv_from_requirements DIR PYTHON_VERSION REQUIREMENTS_FILE
  local dir="$1" version="$2" requirements="$3" python
  python="$(find_python "$version")" || die "python$version not found (pyenv install $version)"
  [[ -x "$dir/bin/python" ]] || uv venv --quiet "$dir" --python "$python"
  VIRTUAL_ENV="$dir" uv pip sync --quiet --compile-bytecode "$requirements"
}

# Bytecode compiled at install: with PYTHONDONTWRITEBYTECODE set (as on the build machines)
# Python would otherwise compile torch, ZenML and MLflow from source in every process
# (about 16 s more per `python -m training run` here). The first sync compiles for about a
# minute.
log "training/test environment .venv (uv.lock)"
py311="$(find_python 3.11)" || die "python3.11 not found"
uv sync --frozen --quiet --compile-bytecode --python "$py311"

log "LocalStack environment .venv-localstack (requirements/localstack.txt + host executor)"
venv_from_requirements .venv-localstack 3.13 requirements/localstack.txt
VIRTUAL_ENV=.venv-localstack uv pip install --quiet --no-deps -e tools/localstack_host_executor

log "Lambda python3.12 runtime environment .venv-lambda-py312 (requirements/lambda-runtime.txt)"
venv_from_requirements .venv-lambda-py312 3.12 requirements/lambda-runtime.txt

if [[ "$("$ROOT/.tools/bin/sam" --version 2>/dev/null)" != *"$SAM_CLI_VERSION"* ]]; then
  log "AWS SAM CLI $SAM_CLI_VERSION as an isolated tool in .tools/"
  UV_TOOL_DIR="$ROOT/.tools/uv" UV_TOOL_BIN_DIR="$ROOT/.tools/bin" \
    uv tool install --quiet --force --compile-bytecode --python "$py311" \
    "aws-sam-cli==$SAM_CLI_VERSION"
fi
log "setup complete"
