"""The Lambda Runtime API (version 2018-06-01) served to one runtime process.

This is the bridge between the environment and AWS's own runtime client, ``awslambdaric``: the
runtime long-polls ``GET /runtime/invocation/next``, runs the handler and posts the result to
``/runtime/invocation/<id>/response`` or ``/error``; an import failure goes to
``/runtime/init/error``. One ``RuntimeApi`` (with its own port) serves one runtime process, so a
killed runtime's late calls can never reach its successor.

Stdlib only: it runs inside the environment process, not inside LocalStack.

Example::

    api = RuntimeApi()  # listens on 127.0.0.1:<free port>
    env["AWS_LAMBDA_RUNTIME_API"] = api.address
    ...  # start the runtime: its first call to /next marks it ready
    api.submit(Invocation("req-1", arn, b'{"x": 1}', trace_id, deadline_ms))
    api.wait(lambda: api.outcome("req-1") is not None, timeout=3)
"""

from __future__ import annotations

import dataclasses
import json
import queue
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_PREFIX = "/2018-06-01/runtime"
_ACCEPTED = b'{"status":"OK"}'


@dataclasses.dataclass(frozen=True)
class Invocation:
    """One event for the runtime, as LocalStack handed it to the environment."""

    request_id: str
    function_arn: str
    payload: bytes
    trace_id: str
    deadline_ms: int


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What the runtime posted for an invocation: ``kind`` is ``response`` or ``error``."""

    kind: str
    body: bytes


def error_body(body: bytes, error_type: str | None) -> bytes:
    """The runtime's error document, or one built from the error-type header if it sent none."""
    try:
        if isinstance(json.loads(body), dict):
            return body
    except ValueError:
        pass
    message = body.decode("utf-8", "replace")
    return json.dumps(
        {"errorMessage": message, "errorType": error_type or "Runtime.Unknown"}
    ).encode()


class RuntimeApi:
    """State shared between the Runtime API's HTTP threads and the environment's invoke thread."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._invocations: queue.Queue[Invocation | None] = queue.Queue()
        self._outcomes: dict[str, Outcome] = {}
        self._closed = False
        self.ready = False
        self.init_error: bytes | None = None
        self.exit_code: int | None = None
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), name="runtime-api", daemon=True
        )
        self._thread.start()

    @property
    def address(self) -> str:
        """``host:port`` for ``AWS_LAMBDA_RUNTIME_API``."""
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    # Called by the environment.
    def submit(self, invocation: Invocation) -> None:
        self._invocations.put(invocation)

    def outcome(self, request_id: str) -> Outcome | None:
        with self._condition:
            return self._outcomes.get(request_id)

    def wait(self, predicate: Callable[[], bool], timeout: float | None) -> bool:
        """Block until ``predicate()`` holds (re-checked on every change) or ``timeout`` passes."""
        with self._condition:
            return self._condition.wait_for(predicate, timeout)

    def mark_exited(self, exit_code: int) -> None:
        self._update(exit_code=exit_code)

    def close(self) -> None:
        """Stop serving; a ``/next`` still waiting gets nothing."""
        self._closed = True
        self._invocations.put(None)
        self._server.shutdown()
        self._server.server_close()

    # Called by the HTTP handler threads.
    def next_invocation(self) -> Invocation | None:
        self._update(ready=True)
        while not self._closed:
            try:
                return self._invocations.get(timeout=0.5)
            except queue.Empty:
                continue
        return None

    def record_outcome(self, request_id: str, outcome: Outcome) -> None:
        with self._condition:
            self._outcomes[request_id] = outcome
            self._condition.notify_all()

    def record_init_error(self, body: bytes) -> None:
        self._update(init_error=body)

    def _update(self, **changes: object) -> None:
        with self._condition:
            for name, value in changes.items():
                setattr(self, name, value)
            self._condition.notify_all()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, api: RuntimeApi) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api = api


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1: the runtime client (libcurl) keeps its connection alive between calls.
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; with Nagle's algorithm and the client's
        # delayed ACK each reply would stall about 40 ms on a kept-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        """Silence the per-request access log."""

    def do_GET(self) -> None:
        if self.path != f"{_PREFIX}/invocation/next":
            self._reply(HTTPStatus.NOT_FOUND, b'{"errorType":"InvalidRequest"}')
            return
        invocation = self.server.api.next_invocation()
        if invocation is None:
            self._reply(HTTPStatus.GONE, b'{"errorType":"RuntimeShutdown"}')
            return
        self._reply(
            HTTPStatus.OK,
            invocation.payload,
            {
                "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
                "Lambda-Runtime-Trace-Id": invocation.trace_id,
            },
        )

    def do_POST(self) -> None:
        body = self._read_body()
        parts = self.path.removeprefix(_PREFIX + "/").split("/")
        api = self.server.api
        if parts == ["init", "error"]:
            api.record_init_error(error_body(body, self._error_type()))
        elif len(parts) == 3 and parts[0] == "invocation" and parts[2] == "response":
            api.record_outcome(parts[1], Outcome("response", body))
        elif len(parts) == 3 and parts[0] == "invocation" and parts[2] == "error":
            api.record_outcome(parts[1], Outcome("error", error_body(body, self._error_type())))
        else:
            self._reply(HTTPStatus.NOT_FOUND, b'{"errorType":"InvalidRequest"}')
            return
        self._reply(HTTPStatus.ACCEPTED, _ACCEPTED)

    def _error_type(self) -> str | None:
        return self.headers.get("Lambda-Runtime-Function-Error-Type")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
