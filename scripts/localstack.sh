#!/usr/bin/env bash
# The host LocalStack (no Docker): a background process on 127.0.0.1:4566 only.
#   scripts/localstack.sh start    start it (no-op when it already runs) and wait until healthy
#   scripts/localstack.sh stop     stop it and wait until it is gone
#   scripts/localstack.sh status   pid and health; exit 0 only when healthy
#   scripts/localstack.sh logs     print its log (logs -f follows it)
# Lambda functions run as host processes through tools/localstack_host_executor
# (LAMBDA_RUNTIME_EXECUTOR=host); where Docker exists, LAMBDA_RUNTIME_EXECUTOR=docker
# scripts/localstack.sh start keeps LocalStack's own executor. The environments come from
# `make setup` (scripts/setup.sh). State and log live in .state/localstack/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

STATE_DIR="$ROOT/.state/localstack"
PID_FILE="$STATE_DIR/localstack.pid"
LOG_FILE="$STATE_DIR/localstack.log"
LOCALSTACK_PYTHON="$ROOT/.venv-localstack/bin/python"
GATEWAY="127.0.0.1:4566"
HEALTH_URL="http://$GATEWAY/_localstack/health"
START_TIMEOUT="${LOCALSTACK_START_TIMEOUT:-90}"
STOP_TIMEOUT="${LOCALSTACK_STOP_TIMEOUT:-30}"

running_pid() {  # print the pid of the LocalStack this script started, if it is alive
  local pid
  [[ -f "$PID_FILE" ]] || return 1
  pid="$(<"$PID_FILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

healthy() { curl -fsS --max-time 2 --noproxy '*' "$HEALTH_URL" >/dev/null 2>&1; }

fail_with_log() {
  printf '\033[1;31merror:\033[0m %s\n' "$1" >&2
  if [[ -f "$LOG_FILE" ]]; then
    echo "---- last 40 lines of $LOG_FILE ----" >&2
    tail -n 40 "$LOG_FILE" >&2
  fi
  exit 1
}

check_installed() {
  if ! { [[ -x "$LOCALSTACK_PYTHON" ]] && "$LOCALSTACK_PYTHON" -c 'import localstack' 2>/dev/null; }; then
    die "LocalStack is not installed in .venv-localstack: run make setup"
  fi
  if [[ "$LAMBDA_RUNTIME_EXECUTOR" == host ]]; then
    "$LOCALSTACK_PYTHON" -c 'import localstack_host_executor' 2>/dev/null \
      || die "the host Lambda executor is not installed in .venv-localstack: run make setup"
    [[ -x "$HOST_EXECUTOR_PYTHON_3_12" ]] \
      || log "warning: no python3.12 Lambda runtime at $HOST_EXECUTOR_PYTHON_3_12 (run make setup); python3.12 functions will fail"
  fi
}

wait_healthy() {  # wait_healthy PID
  local pid="$1" waited=0
  until healthy; do
    kill -0 "$pid" 2>/dev/null || { rm -f "$PID_FILE"; fail_with_log "LocalStack exited during start"; }
    if (( waited >= START_TIMEOUT * 2 )); then
      kill "$pid" 2>/dev/null || true
      rm -f "$PID_FILE"
      fail_with_log "LocalStack did not answer $HEALTH_URL within ${START_TIMEOUT}s (stopped it)"
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
}

start() {
  local pid
  if pid="$(running_pid)"; then
    wait_healthy "$pid"
    log "LocalStack already runs (pid $pid) at http://$GATEWAY"
    return 0
  fi
  if healthy; then
    log "a LocalStack not started by this script already answers at http://$GATEWAY; using it"
    return 0
  fi
  export LAMBDA_RUNTIME_EXECUTOR="${LAMBDA_RUNTIME_EXECUTOR:-host}"
  export HOST_EXECUTOR_PYTHON_3_12="${HOST_EXECUTOR_PYTHON_3_12:-$ROOT/.venv-lambda-py312/bin/python}"
  check_installed
  mkdir -p "$STATE_DIR/volume" "$STATE_DIR/filesystem"
  {
    echo
    echo "==== $(date -u +%FT%TZ) scripts/localstack.sh start (LAMBDA_RUNTIME_EXECUTOR=$LAMBDA_RUNTIME_EXECUTOR)"
  } >>"$LOG_FILE"
  # setsid: its own session, so a Ctrl-C or the end of the caller's process group leaves it be.
  # GATEWAY_SERVER=hypercorn: LocalStack's default (twisted) ignores GATEWAY_LISTEN's host and
  # listens on every interface; hypercorn binds 127.0.0.1 only (tests/integration checks).
  GATEWAY_LISTEN="$GATEWAY" GATEWAY_SERVER=hypercorn DNS_ADDRESS=0 DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 \
    LOCALSTACK_VOLUME_DIR="$STATE_DIR/volume" FILESYSTEM_ROOT="$STATE_DIR/filesystem" \
    setsid "$LOCALSTACK_PYTHON" -m localstack.runtime.main </dev/null >>"$LOG_FILE" 2>&1 &
  pid=$!
  echo "$pid" >"$PID_FILE"
  log "starting LocalStack (pid $pid, Lambda executor $LAMBDA_RUNTIME_EXECUTOR), log in $LOG_FILE"
  wait_healthy "$pid"
  log "LocalStack ready at http://$GATEWAY"
}

stop() {
  local pid waited=0
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"
    log "LocalStack is not running (not started by this script)"
    return 0
  fi
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do
    if (( waited >= STOP_TIMEOUT * 2 )); then
      log "LocalStack did not stop within ${STOP_TIMEOUT}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
  rm -f "$PID_FILE"
  log "LocalStack stopped"
}

status() {
  local pid
  if pid="$(running_pid)"; then
    echo "running: pid $pid, log $LOG_FILE"
  else
    echo "not running (no live pid in $PID_FILE)"
  fi
  if healthy; then
    curl -fsS --max-time 2 --noproxy '*' "$HEALTH_URL"
    echo
  else
    echo "no answer at $HEALTH_URL"
    return 1
  fi
}

logs() {
  [[ -f "$LOG_FILE" ]] || die "no log yet at $LOG_FILE"
  if [[ "${1:-}" == "-f" ]]; then
    tail -n 50 -f "$LOG_FILE"
  else
    cat "$LOG_FILE"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  logs) shift; logs "$@" ;;
  *) echo "usage: $0 start|stop|status|logs [-f]" >&2; exit 2 ;;
esac
