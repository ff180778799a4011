"""One Lambda execution environment as a host process: this executor's ``/var/rapid/init``.

LocalStack's Docker executor runs its Go init in each container; this module speaks the same
protocol with LocalStack, from a host process started by ``HostRuntimeExecutor``:

* it starts the runtime (``awslambdaric``) behind a ``RuntimeApi`` and, once the runtime asks
  for its first event, posts ``<endpoint>/status/<id>/ready`` (or ``/status/<id>/error`` with
  the init error, e.g. ``Runtime.ImportModuleError``);
* LocalStack posts ``{"invoke-id", "invoked-function-arn", "payload", "trace-id"}`` to
  ``http://127.0.0.1:<port>/invoke``; it is answered at once, and when the runtime is done the
  environment posts the invocation's logs to ``<endpoint>/invocations/<id>/logs`` and then the
  result to ``/invocations/<id>/response`` or ``/error``;
* past the function's timeout it posts the Go init's timeout error, kills the runtime and starts
  a fresh one for the next event (Lambda's reset after a timeout);
* SIGTERM (LocalStack stopping the environment), or LocalStack's process going away, ends it.

Run as ``python -I -m localstack_host_executor.environment --invoke-fd N`` with the launch spec
(JSON: ``command``, ``cwd``, ``env``) on stdin; ``N`` is a listening socket inherited from
the executor. Stdlib only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import sys
import threading
import time
import urllib.request
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from localstack_host_executor.runtime_api import Invocation, Outcome, RuntimeApi
from localstack_host_executor.runtime_process import LogBuffer, RuntimeProcess

# LocalStack's own endpoints must never go through a proxy configured for the function.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class LocalStackLink:
    """Posts to LocalStack's executor endpoint (``LOCALSTACK_RUNTIME_ENDPOINT``)."""

    def __init__(self, endpoint: str, runtime_id: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.runtime_id = runtime_id

    def _post(self, path: str, body: bytes) -> None:
        request = urllib.request.Request(
            self.endpoint + path, data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with _NO_PROXY.open(request, timeout=30) as response:
                response.read()
        except OSError as error:
            print(f"[host-executor] POST {path} failed: {error}", file=sys.stderr, flush=True)

    def status(self, status: str, body: bytes = b"{}") -> None:
        self._post(f"/status/{self.runtime_id}/{status}", body)

    def logs(self, request_id: str, text: str) -> None:
        self._post(f"/invocations/{request_id}/logs", json.dumps({"logs": text}).encode())

    def result(self, request_id: str, outcome: Outcome) -> None:
        self._post(f"/invocations/{request_id}/{outcome.kind}", outcome.body)


def _exit_error(exit_code: int | None, request_id: str = "") -> Outcome:
    prefix = f"RequestId: {request_id} " if request_id else ""
    return Outcome(
        "error",
        json.dumps(
            {
                "errorType": "Runtime.ExitError",
                "errorMessage": (
                    f"{prefix}Error: Runtime exited with error: exit status {exit_code}"
                ),
            }
        ).encode(),
    )


class Environment:
    """Runs the runtime and turns LocalStack's invokes into Runtime API events."""

    def __init__(self, spec: dict[str, Any], link: LocalStackLink) -> None:
        self.command: list[str] = spec["command"]
        self.cwd: str = spec["cwd"]
        self.env: dict[str, str] = spec["env"]
        self.timeout_seconds = int(self.env.get("AWS_LAMBDA_FUNCTION_TIMEOUT") or 3)
        self.link = link
        self.logs = LogBuffer()
        self.runtime: RuntimeProcess | None = None
        self.init_duration_ms: float | None = None
        self._invoke_lock = threading.Lock()
        self.stopped = threading.Event()

    def _start_runtime(self, timeout: float | None) -> Outcome | None:
        """Start a runtime and wait for its init; return the init's failure, if any."""
        started = time.monotonic()
        api = RuntimeApi()
        runtime = self.runtime = RuntimeProcess.spawn(
            self.command, self.cwd, self.env, api, self.logs
        )
        finished = api.wait(
            lambda: api.ready or api.init_error is not None or api.exit_code is not None, timeout
        )
        self.init_duration_ms = (time.monotonic() - started) * 1000
        if api.ready:
            return None
        runtime.kill()
        self.runtime = None
        if not finished:
            return None  # the caller reports its own timeout
        runtime.flush_output()
        return Outcome("error", api.init_error) if api.init_error else _exit_error(api.exit_code)

    def start(self) -> None:
        """First init; LocalStack's startup timer bounds how long it may take."""
        failure = self._start_runtime(timeout=None)
        if failure is None:
            self.link.status("ready")
        else:
            self.link.status("error", failure.body)

    def invoke(self, request: dict[str, Any]) -> None:
        with self._invoke_lock:
            self._invoke(request)

    def _invoke(self, request: dict[str, Any]) -> None:
        request_id = request["invoke-id"]
        started = time.monotonic()
        deadline = started + self.timeout_seconds
        version = self.env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.logs.write(f"START RequestId: {request_id} Version: {version}\n")
        init_ms = self.init_duration_ms
        self.init_duration_ms = None

        outcome = None
        if self.runtime is None:  # reset after a timeout or a crash: init again first
            outcome = self._start_runtime(timeout=self.timeout_seconds)
            init_ms = self.init_duration_ms
            self.init_duration_ms = None
        runtime = self.runtime
        if runtime is not None and outcome is None:
            api = runtime.api
            api.submit(
                Invocation(
                    request_id=request_id,
                    function_arn=request.get("invoked-function-arn", ""),
                    payload=request.get("payload", "").encode(),
                    trace_id=request.get("trace-id", ""),
                    deadline_ms=int((time.time() + deadline - time.monotonic()) * 1000),
                )
            )
            api.wait(
                lambda: api.outcome(request_id) is not None or api.exit_code is not None,
                max(0.0, deadline - time.monotonic()),
            )
            runtime.flush_output()
            outcome = api.outcome(request_id)
            if outcome is None and api.exit_code is not None:
                outcome = _exit_error(api.exit_code, request_id)
                self.logs.write(
                    f"RequestId: {request_id} Error: Runtime exited with error: "
                    f"exit status {api.exit_code}\nRuntime.ExitError\n"
                )
                runtime.kill()
                self.runtime = None
        if outcome is None:  # timed out (during the handler or during a re-init)
            outcome = self._time_out(request_id)

        self._report(request_id, started, init_ms)
        self.link.logs(request_id, self.logs.drain())
        self.link.result(request_id, outcome)

    def _time_out(self, request_id: str) -> Outcome:
        if self.runtime is not None:
            self.runtime.kill()
            self.runtime.flush_output()
            self.runtime = None
        message = (
            f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {request_id} "
            f"Task timed out after {self.timeout_seconds}.00 seconds"
        )
        self.logs.write(message + "\n")
        return Outcome("error", json.dumps({"errorMessage": message}).encode())

    def _report(self, request_id: str, started: float, init_ms: float | None) -> None:
        duration_ms = min((time.monotonic() - started) * 1000, self.timeout_seconds * 1000)
        memory = self.env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        init = f"Init Duration: {init_ms:.2f} ms\t" if init_ms is not None else ""
        self.logs.write(
            f"END RequestId: {request_id}\n"
            f"REPORT RequestId: {request_id}\t{init}Duration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: {memory} MB\t"
            f"Max Memory Used: {memory} MB\t\n"
        )

    def stop(self) -> None:
        if self.runtime is not None:
            self.runtime.kill()
            self.runtime = None
        self.stopped.set()


class _InvokeHandler(BaseHTTPRequestHandler):
    server: _InvokeServer

    def log_message(self, format: str, *args: object) -> None:
        """Silence the per-request access log."""

    def do_POST(self) -> None:
        if self.path != "/invoke":
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        # Answer at once, like the Go init: the result goes back through LocalStack's endpoint.
        threading.Thread(
            target=self.server.environment.invoke, args=(request,), name="invoke", daemon=True
        ).start()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")


class _InvokeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, listening: socket.socket, environment: Environment) -> None:
        super().__init__(listening.getsockname(), _InvokeHandler, bind_and_activate=False)
        self.socket.close()
        self.socket = listening
        self.environment = environment


def _watch_parent(environment: Environment, parent_pid: int) -> None:
    """Stop when LocalStack's process is gone (e.g. killed), so no environment outlives it."""
    while not environment.stopped.wait(1.0):
        if os.getppid() != parent_pid:
            environment.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoke-fd", type=int, required=True)
    args = parser.parse_args(argv)
    spec = json.load(sys.stdin)
    env = spec["env"]
    link = LocalStackLink(env["LOCALSTACK_RUNTIME_ENDPOINT"], env["LOCALSTACK_RUNTIME_ID"])
    environment = Environment(spec, link)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: environment.stop())
    threading.Thread(
        target=_watch_parent, args=(environment, os.getppid()), name="parent-watch", daemon=True
    ).start()

    listening = socket.socket(fileno=args.invoke_fd)
    server = _InvokeServer(listening, environment)
    threading.Thread(
        target=server.serve_forever, args=(0.1,), name="invoke-server", daemon=True
    ).start()
    threading.Thread(target=environment.start, name="init", daemon=True).start()

    environment.stopped.wait()
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
