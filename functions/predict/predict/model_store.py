"""The serving models: SSM aliases -> S3 ``manifest.json`` + ``model.onnx`` -> /tmp -> sessions.

Two SSM parameters say what serves: the alias (the MLflow ``champion``), whose value is a
registered model version, and optionally the candidate parameter (a canary: a second
version and the percentage of requests it answers, :mod:`predict.canary`). Powertools'
Parameters utility caches each for ``alias_ttl_seconds``.

Hot swap. When a parameter names a version that is not loaded, a warm environment keeps
answering with what it has while one background loader downloads the version, checks it
(SHA-256, ONNX Runtime loads it, input ``[1, 3, H, W]`` fits the manifest's ``imgsz``,
output ``[1, 4 + nc, N]`` its class names, the /tmp budget) and only then swaps it in.
What serves is one immutable :class:`Serving` snapshot, replaced whole: a request keeps
the :class:`LoadedModel` it was given until it is done, so requests in flight finish on
the old session. A version that fails a check is refused: what served keeps serving, a
warning is logged, :attr:`ModelStore.problem` says why (``GET /health``: degraded), and
it is tried again after the TTL. A cold environment has nothing to serve meanwhile: it
loads the champion in the request (others wait for that one load) and answers
:class:`~predict.errors.ModelUnavailableError` (HTTP 503) if it cannot; the candidate
then loads in the background. A version already loaded is swapped in at once (canary
promotion turns the candidate into the champion without a download; abort drops it).

On Lambda an environment is frozen between invocations, so a background load advances
only while the environment handles requests: at low traffic the old version answers a
few more of them.

Example:
    >>> store = ModelStore(Settings())
    >>> selection = store.select()       # champion, or candidate for its share of requests
    >>> selection.model.detector.predict(rgb_image), selection.alias
"""

import contextlib
import logging
import random
import shutil
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import boto3
import onnxruntime as ort
import urllib3.exceptions
from aws_lambda_powertools.utilities.parameters import SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from predict.canary import NO_VERSION, CanaryRoute
from predict.detector import Detector, create_session
from predict.errors import (
    AliasNotFoundError,
    InvalidCandidateError,
    InvalidManifestError,
    ModelLoadError,
    ModelShapeError,
    ModelUnavailableError,
    ModelVersionNotFoundError,
)
from predict.manifest import ModelManifest, manifest_key, onnx_key
from predict.model_cache import ModelCache
from predict.settings import Settings

logger = logging.getLogger(__name__)

_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
_DOWNLOAD_CHUNK_BYTES = 1 << 20
_DOWNLOAD_ATTEMPTS = 3
_BODY_ERRORS = (BotoCoreError, urllib3.exceptions.HTTPError)
"""What reading an S3 body raises when it breaks off: botocore's errors, and urllib3's where
botocore passes them through (e.g. a TLS error)."""
NO_MODEL = NO_VERSION
"""The alias value before any promotion (``template.yaml`` creates the parameter with it)."""

Alias = Literal["champion", "candidate"]
CHAMPION: Alias = "champion"
CANDIDATE: Alias = "candidate"


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

    @property
    def version(self) -> str:
        """The registered model version."""
        return self.manifest.version


@dataclass(frozen=True)
class Serving:
    """What answers requests now. Never mutated: a change replaces the whole snapshot.

    Attributes:
        champion: the version the alias names (or, while a new one loads or was refused,
            the one before); None until the first load.
        candidate: the canary's version, or None.
        route: the candidate's share of requests; set exactly when ``candidate`` is.
    """

    champion: LoadedModel | None = None
    candidate: LoadedModel | None = None
    route: CanaryRoute | None = None

    def versions(self) -> set[str]:
        """The versions loaded in this snapshot."""
        return {m.version for m in (self.champion, self.candidate) if m is not None}

    def same_as(self, other: "Serving") -> bool:
        """The same models (identity, not equality) and the same route."""
        return (
            self.champion is other.champion
            and self.candidate is other.candidate
            and self.route == other.route
        )


@dataclass(frozen=True)
class Selection:
    """The model one request is answered with, and which alias sent it there."""

    model: LoadedModel
    alias: Alias


@dataclass(frozen=True)
class ServingProblem:
    """Why the store last failed to serve what a parameter names.

    Attributes:
        error: the exception type, e.g. ``AliasNotFoundError``.
        reason: what went wrong and what serves instead.
        at: when it first happened (UTC); the same failure again keeps it.
    """

    error: str
    reason: str
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class _Wanted:
    """What the parameters named at the last request (``route_read``: False when the
    candidate parameter could not be read and ``route`` is the one wanted before)."""

    champion: str
    route: CanaryRoute | None
    route_read: bool = True


def check_signature(session: ort.InferenceSession, manifest: ModelManifest) -> None:
    """Check that a session is the YOLO detector the manifest describes.

    Input 0 must be ``[1, 3, H, W]`` with (H, W) equal to ``manifest.imgsz`` or symbolic
    (a dynamic export; the batch dimension may be symbolic too). Output 0 must be
    ``[1, 4 + nc, N]`` with ``nc = len(manifest.class_names)`` (``N`` any).

    Raises:
        ModelShapeError: naming the shapes found and the ones expected.
    """

    def fits(dim: Any, expected: int) -> bool:
        return not isinstance(dim, int) or dim == expected  # str or None: symbolic

    model_input, model_output = session.get_inputs()[0], session.get_outputs()[0]
    shape, height, width = list(model_input.shape), *manifest.imgsz
    if not (
        len(shape) == 4
        and fits(shape[0], 1)
        and shape[1] == 3
        and fits(shape[2], height)
        and fits(shape[3], width)
    ):
        raise ModelShapeError(
            f"model version {manifest.version!r}: ONNX input {model_input.name!r} is {shape}, "
            f"expected [1, 3, {height}, {width}] (manifest imgsz) or symbolic height/width"
        )
    out, channels = list(model_output.shape), 4 + len(manifest.class_names)
    if not (len(out) == 3 and fits(out[0], 1) and out[1] == channels):
        raise ModelShapeError(
            f"model version {manifest.version!r}: ONNX output {model_output.name!r} is {out}, "
            f"expected [1, {channels}, N] (4 box values + {len(manifest.class_names)} classes "
            "in the manifest)"
        )


class ModelStore:
    """Resolves the aliases and keeps the versions they name loaded, swapping without
    blocking requests.

    Args:
        settings: bucket, model name, alias and candidate parameters, TTL, cache dir and
            budget, threads, endpoint.
        s3_client: an S3 client; by default one is made from ``settings`` on first use.
        ssm_client: an SSM client; by default one is made from ``settings`` on first use.
        draw: the traffic split's random source, uniform in [0, 1) (tests pass their own).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        s3_client: Any | None = None,
        ssm_client: Any | None = None,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.cache = ModelCache(
            settings.cache_dir / settings.model_name, settings.cache_budget_bytes
        )
        self._s3 = s3_client
        self._ssm = ssm_client
        self._draw = draw
        self._alias_provider: SSMProvider | None = None
        self._serving = Serving()
        self._wanted: _Wanted | None = None
        self._problems: dict[Alias, ServingProblem] = {}
        self._retry_at: dict[str, float] = {}  # refused version -> when to try it again
        self._state = threading.Lock()  # guards the fields above; held for microseconds
        self._loading = threading.Lock()  # one load at a time (cold request or loader)
        self._loader: threading.Thread | None = None
        self._boto: boto3.session.Session | None = None
        self._clients = threading.Lock()  # a boto3 session must not make clients concurrently

    # ---- what serves (no AWS call) --------------------------------------------------------

    @property
    def serving(self) -> Serving:
        """The snapshot answering requests now."""
        return self._serving

    @property
    def loaded(self) -> LoadedModel | None:
        """The champion serving now; ``None`` before the first load."""
        return self._serving.champion

    @property
    def problem(self) -> ServingProblem | None:
        """The last failure to serve what the parameters name (alias unreadable or
        ``"none"``, a version refused), the champion's before the candidate's; ``None``
        once both serve as named."""
        return self._problems.get(CHAMPION) or self._problems.get(CANDIDATE)

    # ---- per request ----------------------------------------------------------------------

    def current(self) -> LoadedModel:
        """The champion, after reading the parameters (see :meth:`select`).

        Raises:
            ModelUnavailableError: no model loaded yet and the aliased one cannot load
                (a subclass says why).
        """
        return self._refresh().champion

    def select(self) -> Selection:
        """The model for one request: the candidate with probability ``percent / 100``
        while a canary serves, else the champion. Reads the parameters (cached for the
        TTL) and starts a background load when they name a version not loaded.

        Raises:
            ModelUnavailableError: as :meth:`current`.
        """
        serving = self._refresh()
        if serving.candidate is not None and serving.route and serving.route.takes(self._draw()):
            return Selection(serving.candidate, CANDIDATE)
        return Selection(serving.champion, CHAMPION)

    def refresh(self) -> Serving:
        """Re-read the parameters (cached for the TTL) without choosing a model: what serves
        afterwards. Starts a background load when they name a version not loaded, and clears
        a problem the parameters no longer cause (e.g. after a rollback).

        Raises:
            ModelUnavailableError: as :meth:`current`, only while nothing is loaded.
        """
        return self._refresh()

    def wait_for_loads(self, timeout: float | None = None) -> bool:
        """Block until the background loader (if one runs) is done; False on timeout."""
        loader = self._loader
        if loader is None:
            return True
        loader.join(timeout)
        return not loader.is_alive()

    def _refresh(self) -> Serving:
        try:
            champion = self.alias_version()
        except AliasNotFoundError as exc:
            self._report(CHAMPION, exc)
            if self._serving.champion is None:
                raise
            logger.warning(
                "cannot read model alias; serving the loaded version",
                extra={
                    "parameter": self.settings.alias_parameter,
                    "serving_version": self._serving.champion.version,
                },
                exc_info=True,
            )
            return self._serving
        route, route_read = self._read_route()
        if route is not None and route.version == champion:
            route = None  # promoted: the candidate is the champion now
        with self._state:
            self._wanted = _Wanted(champion, route, route_read)
            serving = self._arrange()
        if serving.champion is None:
            serving = self._load_cold()
        self._start_loader()
        return serving

    def _read_route(self) -> tuple[CanaryRoute | None, bool]:
        """The candidate route and True; on failure the route wanted before and False
        (a bad value changes nothing)."""
        try:
            return self.candidate_route(), True
        except InvalidCandidateError as exc:
            self._report(CANDIDATE, exc)
            logger.warning(
                "cannot read the candidate parameter; the canary stays as it was",
                extra={"parameter": self.settings.candidate_parameter, "reason": str(exc)},
            )
            return (self._wanted.route if self._wanted else None), False

    # ---- arranging and loading ------------------------------------------------------------

    def _arrange(self, loaded: LoadedModel | None = None) -> Serving:
        """Place what is loaded (the snapshot's models, plus ``loaded``) where the wanted
        versions say, keeping what serves where a wanted version is not loaded. Replaces
        the snapshot if anything moved. Caller holds ``_state``."""
        wanted, serving = self._wanted, self._serving
        assert wanted is not None
        models = {m.version: m for m in (serving.champion, serving.candidate, loaded) if m}
        champion = models.get(wanted.champion, serving.champion)
        route = wanted.route
        if route is None:
            candidate = None
        elif route.version in models:
            candidate = models[route.version]
        else:  # the new candidate is loading or was refused: the canary stays as it was
            candidate, route = serving.candidate, serving.route
        if candidate is not None and champion is not None and candidate.version == champion.version:
            candidate = None  # the old candidate was promoted
        if champion is not None and champion.version == wanted.champion:
            self._problems.pop(CHAMPION, None)
        if wanted.route_read and (wanted.route is None or route == wanted.route):
            self._problems.pop(CANDIDATE, None)
        arranged = Serving(champion, candidate, route if candidate else None)
        if not arranged.same_as(serving):
            self._serving = arranged
            self._log_serving(arranged)
        return self._serving

    def _missing(self, tried: Collection[str] = ()) -> tuple[Alias, str] | None:
        """The next wanted version that is not loaded, not in ``tried`` and not waiting
        out a refusal. Caller holds ``_state``."""
        wanted = self._wanted
        if wanted is None:
            return None
        loaded, now = self._serving.versions(), time.monotonic()
        jobs: list[tuple[Alias, str]] = [(CHAMPION, wanted.champion)]
        if wanted.route is not None:
            jobs.append((CANDIDATE, wanted.route.version))
        for alias, version in jobs:
            waiting = now < self._retry_at.get(version, 0.0)
            if version not in loaded and version not in tried and not waiting:
                return alias, version
        return None

    def _start_loader(self) -> None:
        with self._state:
            if self._loader is not None and self._loader.is_alive():
                return
            if self._missing() is None:
                return
            self._loader = threading.Thread(
                target=self._load_missing, name="model-loader", daemon=True
            )
            self._loader.start()

    def _load_missing(self) -> None:
        """The background loader: loads each missing version once, in turn, then ends."""
        tried: set[str] = set()
        while True:
            with self._state:
                job = self._missing(tried)
                if job is None:
                    self._loader = None  # the next request may start another
                    return
            tried.add(job[1])
            self._load_into_place(*job)

    def _load_into_place(self, alias: Alias, version: str) -> None:
        try:
            with self._loading:
                model = self._load(version)
        except Exception as exc:  # a refusal, or e.g. /tmp full: either way the old one serves
            with self._state:
                self._retry_at[version] = time.monotonic() + self.settings.alias_ttl_seconds
            self._report(alias, exc)
            logger.warning(
                "model version refused; what served keeps serving",
                exc_info=not isinstance(exc, ModelUnavailableError),
                extra={
                    "alias": alias,
                    "alias_version": version,
                    "serving_version": self._serving.champion.version
                    if self._serving.champion
                    else None,
                    "error": type(exc).__name__,
                    "reason": str(exc),
                },
            )
            return
        with self._state:
            self._retry_at.pop(version, None)
            self._arrange(model)

    def _load_cold(self) -> Serving:
        """Load the champion in the request: nothing serves yet. Concurrent cold requests
        wait for the one load."""
        with self._loading:
            with self._state:
                if self._serving.champion is not None:
                    return self._serving
                version = self._wanted.champion
            try:
                model = self._load(version)
            except ModelUnavailableError as exc:
                self._report(CHAMPION, exc)
                raise
        with self._state:
            return self._arrange(model)

    def _report(self, alias: Alias, error: Exception) -> None:
        serving = self._serving
        reason = str(error)
        if alias == CHAMPION and serving.champion is not None:
            reason += f"; serving the previously loaded version {serving.champion.version!r}"
        elif alias == CANDIDATE and serving.candidate is not None:
            reason += f"; the canary keeps candidate version {serving.candidate.version!r}"
        elif alias == CANDIDATE and serving.champion is not None:
            reason += f"; champion version {serving.champion.version!r} answers every request"
        problem = ServingProblem(error=type(error).__name__, reason=reason)
        with self._state:
            previous = self._problems.get(alias)
            # The same failure again keeps the time it started.
            if previous is None or (previous.error, previous.reason) != (problem.error, reason):
                self._problems[alias] = problem

    def _log_serving(self, serving: Serving) -> None:
        logger.info(
            "serving",
            extra={
                "champion_version": serving.champion.version if serving.champion else None,
                "candidate_version": serving.candidate.version if serving.candidate else None,
                "candidate_percent": serving.route.percent if serving.route else None,
            },
        )

    # ---- the parameters -------------------------------------------------------------------

    def alias_version(self) -> str:
        """The version string in the alias parameter, cached for ``alias_ttl_seconds``.

        Raises:
            AliasNotFoundError: the parameter is missing, unreadable, empty or ``"none"``.
        """
        parameter = self.settings.alias_parameter
        try:
            value = self._provider().get(parameter, max_age=self.settings.alias_ttl_seconds)
        except GetParameterError as exc:
            raise AliasNotFoundError(
                f"cannot read model alias parameter {parameter!r}: {exc}"
            ) from exc
        version = str(value).strip() if value is not None else ""
        if not version or version == NO_MODEL:
            raise AliasNotFoundError(
                f"no model version is promoted yet: alias parameter "
                f"{parameter!r} is {version or 'empty'!r}"
            )
        return version

    def candidate_route(self) -> CanaryRoute | None:
        """The canary in the candidate parameter (cached like the alias); None when the
        parameter is ``"none"`` or not configured (``candidate_parameter`` unset).

        Raises:
            InvalidCandidateError: the parameter is missing, unreadable or malformed.
        """
        parameter = self.settings.candidate_parameter
        if parameter is None:
            return None
        try:
            value = self._provider().get(parameter, max_age=self.settings.alias_ttl_seconds)
            return CanaryRoute.from_parameter(str(value))
        except GetParameterError as exc:
            raise InvalidCandidateError(
                f"cannot read candidate parameter {parameter!r}: {exc}"
            ) from exc
        except ValueError as exc:
            raise InvalidCandidateError(f"candidate parameter {parameter!r}: {exc}") from exc

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
        """A client of one boto3 session shared by both services: a second session would
        load botocore's data again (about 90 ms of the cold start)."""
        with self._clients:
            if self._boto is None:
                self._boto = boto3.session.Session()
            return self._boto.client(service, endpoint_url=self.settings.aws_endpoint_url)

    # ---- one version: S3 -> /tmp -> checked session ---------------------------------------

    def _load(self, version: str) -> LoadedModel:
        """Download (unless cached), verify and open one version. Caller holds ``_loading``.

        Raises:
            ModelUnavailableError: a subclass naming the check that failed.
        """
        started = time.perf_counter()
        manifest = self._fetch_manifest(version)
        local_path = self.cache.fetch(
            manifest, self._downloader(manifest), keep=self._serving.versions()
        )
        try:
            detector = self._open(local_path, manifest)
        except ModelLoadError:
            self.cache.evict(version)  # verified, but unusable: no room taken for nothing
            raise
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

    def _open(self, path: Path, manifest: ModelManifest) -> Detector:
        try:
            session = create_session(path, self.settings.intra_op_threads)
        except Exception as exc:  # ONNX Runtime raises its own untyped errors
            raise ModelLoadError(
                f"model version {manifest.version!r} cannot be loaded: {exc}"
            ) from exc
        check_signature(session, manifest)
        try:
            return Detector(
                session,
                manifest.class_names,
                manifest.imgsz,
                dynamic=manifest.dynamic,
                stride=manifest.stride,
            )
        except ValueError as exc:  # the manifest's dynamic/stride contradict the file
            raise ModelLoadError(
                f"model version {manifest.version!r} does not match its manifest: {exc}"
            ) from exc

    def _downloader(self, manifest: ModelManifest) -> Callable[[Path], None]:
        bucket, key = self.settings.models_bucket, onnx_key(manifest.model_name, manifest.version)

        def cannot_download(exc: Exception) -> ModelVersionNotFoundError:
            return ModelVersionNotFoundError(
                f"model {manifest.model_name!r} version {manifest.version!r}: cannot "
                f"download s3://{bucket}/{key}: {exc}"
            )

        def download(target: Path) -> None:
            # One streamed GET: download_file's ranged, threaded transfer took about 50 ms
            # more CPU for an 11 MB model, on the cold start's critical path. botocore
            # retries the request, not a body that breaks off; that is retried here.
            for attempt in range(1, _DOWNLOAD_ATTEMPTS + 1):
                try:
                    body = self._s3_client().get_object(Bucket=bucket, Key=key)["Body"]
                except (ClientError, BotoCoreError) as exc:
                    raise cannot_download(exc) from exc
                try:
                    with contextlib.closing(body), target.open("wb") as file:
                        shutil.copyfileobj(body, file, _DOWNLOAD_CHUNK_BYTES)
                    return
                except _BODY_ERRORS as exc:
                    error = exc
                    logger.warning(
                        "model download broke off",
                        extra={
                            "key": key,
                            "attempt": f"{attempt} of {_DOWNLOAD_ATTEMPTS}",
                            "reason": str(exc),
                        },
                    )
            raise cannot_download(error) from error

        return download

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
        except BotoCoreError as exc:  # no answer from S3 at all
            raise ModelVersionNotFoundError(f"cannot read s3://{bucket}/{key}: {exc}") from exc
        try:
            manifest = ModelManifest.model_validate_json(body)
        except ValidationError as exc:
            message = f"s3://{bucket}/{key} is not a valid manifest: {_problems(exc.errors())}"
            raise InvalidManifestError(message) from exc
        if manifest.model_name != name or manifest.version != version:
            raise InvalidManifestError(
                f"s3://{bucket}/{key} describes {manifest.model_name!r} version "
                f"{manifest.version!r}, expected {name!r} version {version!r}"
            )
        return manifest


def _problems(errors: Iterable[Any]) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in errors)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
