"""``HostRuntimeExecutor``: LocalStack's side of a host-process execution environment.

LocalStack creates one executor per execution environment and calls ``start`` (with the
environment variables it computed), ``invoke`` and ``stop``. Here ``start`` launches
``localstack_host_executor.environment`` as a child process, hands it a listening socket for
``/invoke`` and the runtime's launch spec, and waits, like the Docker executor, until the
environment posts ``/status/<id>/ready`` to LocalStack's ``ExecutorEndpoint``.
``prepare_version`` runs when a function version is created and fails it (``State=Failed``,
with the reason) when its runtime cannot run here.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from localstack import config
from localstack.aws.api.lambda_ import PackageType
from localstack.services.lambda_.invocation.executor_endpoint import (
    ExecutorEndpoint,
    StatusErrorException,
)
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

from localstack_host_executor.layout import runtime_environment
from localstack_host_executor.settings import (
    HostExecutorSettings,
    UnsupportedRuntimeError,
    python_version_of,
)

LOG = logging.getLogger(__name__)
_LOG_TAIL_LINES = 2000
# Interpreters already checked for a matching version and an importable awslambdaric.
_CHECKED_INTERPRETERS: dict[tuple[str, tuple[int, int]], str | None] = {}
_CHECK_LOCK = threading.Lock()


def _check_interpreter(python: Path, version: tuple[int, int]) -> None:
    """Fail with a readable reason unless ``python`` is ``version`` and has the runtime packages."""
    key = (str(python), version)
    with _CHECK_LOCK:
        if key not in _CHECKED_INTERPRETERS:
            probe = subprocess.run(
                [
                    str(python),
                    "-c",
                    "import sys, awslambdaric, boto3; print(*sys.version_info[:2])",
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            found = (
                tuple(int(part) for part in probe.stdout.split()) if probe.returncode == 0 else ()
            )
            _CHECKED_INTERPRETERS[key] = (
                None
                if found == version
                else f"{python} is not a usable python{version[0]}.{version[1]} runtime "
                f"(needs awslambdaric and boto3): {probe.stderr.strip()[-300:] or found}"
            )
        problem = _CHECKED_INTERPRETERS[key]
    if problem:
        raise LambdaRuntimeException(problem)


def _unsupported(function_version: FunctionVersion) -> str | None:
    if function_version.config.package_type != PackageType.Zip:
        return "The host runtime executor runs zip functions only, not container images"
    try:
        python_version_of(function_version.config.runtime)
    except UnsupportedRuntimeError as error:
        return str(error)
    return None


class HostRuntimeExecutor(RuntimeExecutor):
    """Runs each execution environment as a process on the host (see module docstring)."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.settings = HostExecutorSettings.from_env()
        self.executor_endpoint = ExecutorEndpoint(self.id, container_address="127.0.0.1")
        self.process: subprocess.Popen[bytes] | None = None
        self.home: Path | None = None
        self._log_tail: collections.deque[str] = collections.deque(maxlen=_LOG_TAIL_LINES)

    # Addresses: everything is on this host.
    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        return self.settings.gateway_host

    def get_runtime_endpoint(self) -> str:
        port = config.GATEWAY_LISTEN[0].port
        prefix = self.executor_endpoint.get_endpoint_prefix()
        return f"http://{self.get_endpoint_from_executor()}:{port}{prefix}"

    # Lifecycle.
    def _launch_spec(self, env_vars: dict[str, str]) -> dict[str, object]:
        function_config = self.function_version.config
        runtime = function_config.runtime
        python = self.settings.interpreter_for(runtime)
        task_root = Path(function_config.code.get_unzipped_code_location())
        layer_roots = [
            Path(layer.code.get_unzipped_code_location())
            for layer in function_config.layers
            if layer.code
        ]
        self.home = Path(tempfile.mkdtemp(prefix=f"lambda-{self.id}-"))
        env = runtime_environment(
            lambda_env=env_vars,
            runtime=runtime,
            python_version=python_version_of(runtime),
            interpreter=python,
            task_root=task_root,
            layer_roots=layer_roots,
            home=self.home,
        )
        return {
            "command": [str(python), "-m", "awslambdaric", function_config.handler],
            "cwd": str(task_root),
            "env": env,
        }

    def start(self, env_vars: dict[str, str]) -> None:
        self.executor_endpoint.start()
        spec = self._launch_spec(env_vars)
        # The socket is bound here and inherited, so its port is known without any race.
        listening = socket.create_server(("127.0.0.1", 0))
        self.executor_endpoint.container_port = listening.getsockname()[1]
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-I",
                    "-m",
                    "localstack_host_executor.environment",
                    "--invoke-fd",
                    str(listening.fileno()),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=[listening.fileno()],
                start_new_session=True,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
            )
        finally:
            listening.close()
        self.process.stdin.write(json.dumps(spec).encode())
        self.process.stdin.close()
        threading.Thread(
            target=self._collect_output, name=f"lambda-host-{self.id}", daemon=True
        ).start()
        self.executor_endpoint.wait_for_startup()

    def _collect_output(self) -> None:
        process = self.process
        for line in iter(process.stdout.readline, b""):
            self._log_tail.append(line.decode("utf-8", "replace"))
        code = process.wait()
        future = self.executor_endpoint.startup_future
        if future is not None and not future.done():
            # The environment died before it could report: do not wait for the startup timer.
            error = json.dumps(
                {
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"Environment process exited with status {code}",
                }
            ).encode()
            future.set_exception(StatusErrorException("Environment startup failed", error))

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=self.settings.stop_grace_seconds)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            except ProcessLookupError:
                pass
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
        try:
            self.executor_endpoint.shutdown()
        except Exception as error:
            LOG.debug("Error while stopping executor endpoint of %s: %s", self.id, error)

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        return self.executor_endpoint.invoke(payload)

    def get_logs(self) -> str:
        return "".join(self._log_tail)

    # Function versions.
    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        problem = _unsupported(function_version)
        if problem:
            raise LambdaRuntimeException(problem)
        runtime = function_version.config.runtime
        python = HostExecutorSettings.from_env().interpreter_for(runtime)
        _check_interpreter(python, python_version_of(runtime))
        function_version.config.code.prepare_for_execution()
        for layer in function_version.config.layers:
            if layer.code:
                layer.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        """Nothing to clean: LocalStack owns the unzipped code and layers."""

    @classmethod
    def validate_environment(cls) -> bool:
        return True
