# Shared shell helpers, sourced by the scripts in this folder.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
export UV_PYTHON_DOWNLOADS=never
export SAM_CLI_TELEMETRY=0

# The host LocalStack's gateway, and the dummy credentials it accepts.
export LOCALSTACK_ENDPOINT="${LOCALSTACK_ENDPOINT:-http://127.0.0.1:4566}"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# find_python X.Y: print the path of a working pythonX.Y interpreter (pyenv's shims answer
# "command not found" for versions not selected, so look in pyenv's versions folder first).
find_python() {
  local want="$1" candidate
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$want"*/bin/python"$want" \
                   "$(command -v "python$want" 2>/dev/null || true)"; do
    if [[ -x "$candidate" ]] && "$candidate" -c 'pass' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# localstack_env: point AWS SDKs and CLIs in this shell at the host LocalStack.
localstack_env() {
  export AWS_ENDPOINT_URL="$LOCALSTACK_ENDPOINT"
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
  export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
  export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
  export AWS_REGION="$AWS_DEFAULT_REGION"
}
