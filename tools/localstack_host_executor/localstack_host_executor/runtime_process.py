"""The runtime process (``python -m awslambdaric <handler>``) and the log of what it prints.

The runtime runs in its own session, so a timeout can kill it together with anything the handler
started, without touching the environment process. Its stdout and stderr share one pipe (as in
Lambda, both go to the same log stream) and are collected into a ``LogBuffer`` that the
environment drains once per invocation.

Example::

    logs = LogBuffer()
    command = ["python", "-m", "awslambdaric", "app.handler"]
    runtime = RuntimeProcess.spawn(command, cwd, env, api, logs)
    ...
    runtime.flush_output()   # everything printed so far is now in `logs`
    text = logs.drain()
    runtime.kill()
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence

from localstack_host_executor.runtime_api import RuntimeApi


class LogBuffer:
    """Text collected for the next ``/invocations/<id>/logs`` post; also mirrored to stdout."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chunks: list[bytes] = []

    def write(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode()
        with self._lock:
            self._chunks.append(data)
        # LocalStack keeps the environment's own output for its debug log (get_logs()).
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()

    def drain(self) -> str:
        with self._lock:
            data, self._chunks = b"".join(self._chunks), []
        return data.decode("utf-8", "replace")


class RuntimeProcess:
    """One started runtime, its Runtime API and the thread that copies its output."""

    def __init__(self, process: subprocess.Popen[bytes], api: RuntimeApi, logs: LogBuffer) -> None:
        self.process = process
        self.api = api
        self._logs = logs
        self._read_lock = threading.Lock()
        self._eof = False
        threading.Thread(target=self._copy_output, name="runtime-output", daemon=True).start()

    @classmethod
    def spawn(
        cls,
        command: Sequence[str],
        cwd: str,
        env: Mapping[str, str],
        api: RuntimeApi,
        logs: LogBuffer,
    ) -> RuntimeProcess:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env={**env, "AWS_LAMBDA_RUNTIME_API": api.address},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return cls(process, api, logs)

    def _read_available(self) -> bool:
        """Move what the pipe holds right now into the log; False once the pipe is closed."""
        fd = self.process.stdout.fileno()
        with self._read_lock:
            while not self._eof and select.select([fd], [], [], 0)[0]:
                data = os.read(fd, 65536)
                if not data:
                    self._eof = True
                    break
                self._logs.write(data)
            return not self._eof

    def _copy_output(self) -> None:
        fd = self.process.stdout.fileno()
        while True:
            select.select([fd], [], [])
            if not self._read_available():
                break
        self.api.mark_exited(self.process.wait())

    def flush_output(self) -> None:
        """Make sure everything the runtime printed before now is in the log.

        The runtime prints, then posts its result; the result can arrive before the copy thread
        has read the pipe, so the pipe is drained here under the same lock.
        """
        self._read_available()

    def kill(self) -> None:
        """Kill the runtime's whole process group and stop its Runtime API."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.api.close()
