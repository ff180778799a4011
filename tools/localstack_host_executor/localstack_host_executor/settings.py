"""Settings of the host executor, read from ``HOST_EXECUTOR_*`` environment variables.

LocalStack's own process reads them (set them where LocalStack starts, as
``scripts/localstack.sh`` does):

``HOST_EXECUTOR_PYTHON_<MAJOR>_<MINOR>``
    Interpreter for the matching ``python<MAJOR>.<MINOR>`` runtime, e.g.
    ``HOST_EXECUTOR_PYTHON_3_12=/work/main/.venv-lambda-py312/bin/python``. Its site-packages
    play the managed runtime's part: ``awslambdaric`` and ``boto3`` must be importable there.
    A function whose runtime has no interpreter goes to ``State=Failed`` with the reason.
``HOST_EXECUTOR_GATEWAY_HOST``
    Host the functions use to reach LocalStack (``AWS_ENDPOINT_URL``); default ``127.0.0.1``.
``HOST_EXECUTOR_STOP_GRACE_SECONDS``
    How long an environment may take to exit after SIGTERM before it is killed; default 3.

Example::

    settings = HostExecutorSettings.from_env()
    python = settings.interpreter_for("python3.12")  # raises MissingInterpreterError if unset
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path

ENV_PREFIX = "HOST_EXECUTOR_"
_PYTHON_RUNTIME = re.compile(r"^python(?P<major>\d+)\.(?P<minor>\d+)$")


class UnsupportedRuntimeError(Exception):
    """The function's runtime or package type is one this executor cannot run."""


class MissingInterpreterError(Exception):
    """No usable interpreter is configured for the function's runtime."""


def python_version_of(runtime: str | None) -> tuple[int, int]:
    """Return ``(3, 12)`` for ``"python3.12"``; raise ``UnsupportedRuntimeError`` otherwise."""
    match = _PYTHON_RUNTIME.match(runtime or "")
    if not match:
        raise UnsupportedRuntimeError(
            f"The host runtime executor only runs Python zip functions; runtime {runtime!r} "
            "is not supported (use LAMBDA_RUNTIME_EXECUTOR=docker where Docker exists)"
        )
    return int(match["major"]), int(match["minor"])


def interpreter_variable(runtime: str) -> str:
    """Variable naming the interpreter for ``runtime``, e.g. ``HOST_EXECUTOR_PYTHON_3_12``."""
    major, minor = python_version_of(runtime)
    return f"{ENV_PREFIX}PYTHON_{major}_{minor}"


@dataclasses.dataclass(frozen=True)
class HostExecutorSettings:
    """Typed view of the ``HOST_EXECUTOR_*`` variables (see the module docstring)."""

    interpreters: Mapping[str, str]
    gateway_host: str = "127.0.0.1"
    stop_grace_seconds: float = 3.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HostExecutorSettings:
        environ = os.environ if environ is None else environ
        return cls(
            interpreters={
                key: value
                for key, value in environ.items()
                if key.startswith(ENV_PREFIX + "PYTHON_")
            },
            gateway_host=environ.get(ENV_PREFIX + "GATEWAY_HOST") or "127.0.0.1",
            stop_grace_seconds=float(environ.get(ENV_PREFIX + "STOP_GRACE_SECONDS") or 3.0),
        )

    def interpreter_for(self, runtime: str) -> Path:
        """Path of the configured interpreter for ``runtime``, checked to be an executable file."""
        variable = interpreter_variable(runtime)
        configured = self.interpreters.get(variable)
        if not configured:
            raise MissingInterpreterError(
                f"No Python interpreter for runtime {runtime}: set {variable} in LocalStack's "
                f"environment to a {runtime} executable with awslambdaric and boto3 installed "
                "(make setup creates .venv-lambda-py312 for python3.12)"
            )
        path = Path(configured)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise MissingInterpreterError(
                f"{variable}={configured} is not an executable file (runtime {runtime})"
            )
        return path
