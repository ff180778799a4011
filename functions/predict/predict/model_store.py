"""The serving model: SSM alias -> S3 ``manifest.json`` + ``model.onnx`` -> /tmp cache -> session.

The alias parameter's value is the registered model version that serves. Powertools'
Parameters utility caches it for ``alias_ttl_seconds``, so a promotion or rollback reaches a
warm environment within that time. When the alias names a version that cannot load
(missing in S3, bad manifest, checksum mismatch), a cold environment answers
:class:`~predict.errors.ModelUnavailableError` (HTTP 503) and a warm one keeps serving its
last good model, logs a warning and tries again after the TTL. :attr:`ModelStore.problem`
keeps the last such failure for ``GET /health``, until a model serves as the alias says.

Example:
    >>> store = ModelStore(Settings())
    >>> model = store.current()
    >>> model.detector.predict(rgb_image)
"""

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools.utilities.parameters import SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError
from pydantic import ValidationError

from predict.detector import Detector, create_session
from predict.errors import (
    AliasNotFoundError,
    ChecksumMismatchError,
    InvalidManifestError,
    ModelLoadError,
    ModelUnavailableError,
    ModelVersionNotFoundError,
)
from predict.manifest import ONNX_FILENAME, ModelManifest, manifest_key, onnx_key, sha256_file
from predict.settings import Settings

logger = logging.getLogger(__name__)

_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
NO_MODEL = "none"
"""The alias value before any promotion (``template.yaml`` creates the parameter with it)."""


@dataclass(frozen=True)
class LoadedModel:
    """A model version ready to serve.

    Attributes:
        manifest: the version's published manifest.
        detector: the ONNX Runtime detector built from it.
        s3_uri: where ``model.onnx`` came from.
        local_path: the verified local copy.
        loaded_at: when this execution environment loaded it (UTC).
    """

    manifest: ModelManifest
    detector: Detector
    s3_uri: str
    local_path: Path
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class ServingProblem:
    """Why the store last failed to serve what the alias names.

    Attributes:
        error: the exception type, e.g. ``AliasNotFoundError``.
        reason: what went wrong and, where one serves, which older version does.
        at: when it first happened (UTC); the same failure again keeps it.
    """

    error: str
    reason: str
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


class ModelStore:
    """Resolves the model alias and keeps the aliased version loaded.

    Args:
        settings: bucket, model name, alias parameter, TTL, cache dir, threads, endpoint.
        s3_client: an S3 client; by default one is made from ``settings`` on first use.
        ssm_client: an SSM client; by default one is made from ``settings`` on first use.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        s3_client: Any | None = None,
        ssm_client: Any | None = None,
    ) -> None:
        self.settings = settings
        self._s3 = s3_client
        self._ssm = ssm_client
        self._alias_provider: SSMProvider | None = None
        self._loaded: LoadedModel | None = None
        self._failed_version: str | None = None
        self._retry_at = 0.0
        self._problem: ServingProblem | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> LoadedModel | None:
        """The model serving now, without asking SSM; ``None`` before the first load."""
        return self._loaded

    @property
    def problem(self) -> ServingProblem | None:
        """The last failure to serve what the alias names (alias unreadable or ``"none"``,
        version that cannot load); ``None`` once the aliased version serves. No AWS call."""
        return self._problem

    def current(self) -> LoadedModel:
        """The model the alias names, loading it if the alias moved.

        Raises:
            ModelUnavailableError: no model loaded yet and the aliased one cannot load
                (a subclass says why).
        """
        with self._lock:
            try:
                version = self.alias_version()
            except AliasNotFoundError as exc:
                self._record_problem(exc)
                if self._loaded is None:
                    raise
                logger.warning(
                    "cannot read model alias; serving the loaded version",
                    extra={
                        "parameter": self.settings.alias_parameter,
                        "serving_version": self._loaded.manifest.version,
                    },
                    exc_info=True,
                )
                return self._loaded
            if self._loaded is not None and self._loaded.manifest.version == version:
                self._problem = None
                return self._loaded
            if (
                self._loaded is not None
                and version == self._failed_version
                and time.monotonic() < self._retry_at
            ):
                return self._loaded
            try:
                self._loaded = self._load(version)
            except ModelUnavailableError as exc:
                self._record_problem(exc)
                if self._loaded is None:
                    raise
                self._failed_version = version
                self._retry_at = time.monotonic() + self.settings.alias_ttl_seconds
                logger.warning(
                    "model alias names a version that cannot load; serving the previous one",
                    extra={
                        "alias_version": version,
                        "serving_version": self._loaded.manifest.version,
                        "error": type(exc).__name__,
                        "reason": str(exc),
                    },
                )
            else:
                self._failed_version = None
                self._problem = None
            return self._loaded

    def _record_problem(self, error: ModelUnavailableError) -> None:
        reason = str(error)
        if self._loaded is not None:
            reason += f"; serving the previously loaded version {self._loaded.manifest.version!r}"
        problem = ServingProblem(error=type(error).__name__, reason=reason)
        previous = self._problem
        # The same failure again keeps the time it started.
        if previous is None or (previous.error, previous.reason) != (problem.error, reason):
            self._problem = problem

    def alias_version(self) -> str:
        """The version string in the alias parameter, cached for ``alias_ttl_seconds``.

        Raises:
            AliasNotFoundError: the parameter is missing, unreadable, empty or ``"none"``.
        """
        try:
            value = self._provider().get(
                self.settings.alias_parameter, max_age=self.settings.alias_ttl_seconds
            )
        except GetParameterError as exc:
            raise AliasNotFoundError(
                f"cannot read model alias parameter {self.settings.alias_parameter!r}: {exc}"
            ) from exc
        version = str(value).strip() if value is not None else ""
        if not version or version == NO_MODEL:
            raise AliasNotFoundError(
                f"no model version is promoted yet: alias parameter "
                f"{self.settings.alias_parameter!r} is {version or 'empty'!r}"
            )
        return version

    def s3_uri(self, version: str) -> str:
        """``s3://`` URI of a version's ``model.onnx``."""
        return f"s3://{self.settings.models_bucket}/{onnx_key(self.settings.model_name, version)}"

    def _provider(self) -> SSMProvider:
        if self._alias_provider is None:
            self._alias_provider = SSMProvider(boto3_client=self._ssm or self._client("ssm"))
        return self._alias_provider

    def _s3_client(self) -> Any:
        if self._s3 is None:
            self._s3 = self._client("s3")
        return self._s3

    def _client(self, service: str) -> Any:
        return boto3.session.Session().client(service, endpoint_url=self.settings.aws_endpoint_url)

    def _load(self, version: str) -> LoadedModel:
        started = time.perf_counter()
        manifest = self._fetch_manifest(version)
        local_path = self._fetch_onnx(manifest)
        try:
            session = create_session(local_path, self.settings.intra_op_threads)
            detector = Detector(
                session,
                manifest.class_names,
                manifest.imgsz,
                dynamic=manifest.dynamic,
                stride=manifest.stride,
            )
        except Exception as exc:  # ONNX Runtime raises its own untyped errors
            raise ModelLoadError(f"model version {version!r} cannot be loaded: {exc}") from exc
        logger.info(
            "model loaded",
            extra={
                "model_name": manifest.model_name,
                "model_version": version,
                "sha256": manifest.sha256,
                "load_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return LoadedModel(manifest, detector, self.s3_uri(version), local_path)

    def _fetch_manifest(self, version: str) -> ModelManifest:
        bucket, name = self.settings.models_bucket, self.settings.model_name
        key = manifest_key(name, version)
        try:
            body = self._s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                raise ModelVersionNotFoundError(
                    f"model {name!r} version {version!r} not found: s3://{bucket}/{key} is missing"
                ) from exc
            raise ModelVersionNotFoundError(f"cannot read s3://{bucket}/{key}: {exc}") from exc
        try:
            manifest = ModelManifest.model_validate_json(body)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
            )
            message = f"s3://{bucket}/{key} is not a valid manifest: {problems}"
            raise InvalidManifestError(message) from exc
        if manifest.model_name != name or manifest.version != version:
            raise InvalidManifestError(
                f"s3://{bucket}/{key} describes {manifest.model_name!r} version "
                f"{manifest.version!r}, expected {name!r} version {version!r}"
            )
        return manifest

    def _fetch_onnx(self, manifest: ModelManifest) -> Path:
        """Download ``model.onnx`` unless a verified copy is cached; returns the local path."""
        target = self.settings.cache_dir / manifest.model_name / manifest.version / ONNX_FILENAME
        if target.is_file() and sha256_file(target) == manifest.sha256:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{ONNX_FILENAME}.{os.getpid()}.part")
        bucket, key = self.settings.models_bucket, onnx_key(manifest.model_name, manifest.version)
        try:
            self._s3_client().download_file(bucket, key, str(partial))
        except ClientError as exc:
            partial.unlink(missing_ok=True)
            raise ModelVersionNotFoundError(
                f"model {manifest.model_name!r} version {manifest.version!r}: cannot download "
                f"s3://{bucket}/{key}: {exc}"
            ) from exc
        actual = sha256_file(partial)
        if actual != manifest.sha256:
            partial.unlink(missing_ok=True)
            raise ChecksumMismatchError(
                f"s3://{bucket}/{key} has sha256 {actual}, the manifest says {manifest.sha256}"
            )
        partial.replace(target)  # atomic: a cached file is always a verified one
        return target


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
