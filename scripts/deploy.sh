#!/usr/bin/env bash
# Build the SAM application and deploy it to the host LocalStack (or tear it down).
#   scripts/deploy.sh            sam build + sam deploy --config-env localstack
#   scripts/deploy.sh delete     sam delete the stack
# Extra arguments after the verb go to `sam deploy`, e.g. --parameter-overrides Stage=test.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

SAM="$ROOT/.tools/bin/sam"
[[ -x "$SAM" ]] || die "SAM CLI not found at $SAM: run 'make setup' first"
localstack_env

verb="${1:-deploy}"
[[ $# -gt 0 ]] && shift
case "$verb" in
  deploy)
    # The function's and the layer's makefiles build with the python3.12 first on PATH.
    py312="$(find_python 3.12)" || die "python3.12 not found (pyenv install 3.12)"
    log "sam build (layer and function for python3.12, using $py312)"
    PATH="$(dirname "$py312"):$PATH" "$SAM" build --config-env localstack
    log "sam deploy to $AWS_ENDPOINT_URL"
    "$SAM" deploy --config-env localstack "$@"
    ;;
  delete)
    log "sam delete (stack detector-dev) on $AWS_ENDPOINT_URL"
    "$SAM" delete --config-env localstack --no-prompts "$@"
    ;;
  *) die "usage: $0 [deploy|delete] [sam args...]" ;;
esac
