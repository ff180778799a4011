"""predict.model_store against a real (moto) S3 bucket and SSM parameters, with real ONNX files.

The swap tests hold a download or a session run at a gate (``threading.Event``) to put
a request and a load side by side; nothing waits on a sleep to line threads up.
"""

import itertools
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import onnx
import pytest
import urllib3.exceptions
from botocore.exceptions import ResponseStreamingError

from predict.detector import Detector
from predict.errors import (
    AliasNotFoundError,
    CacheBudgetError,
    ChecksumMismatchError,
    InvalidManifestError,
    ModelLoadError,
    ModelShapeError,
    ModelVersionNotFoundError,
)
from predict.manifest import manifest_key, onnx_key, sha256_file
from predict.model_store import ModelStore, check_signature
from predict.settings import Settings
from tests.functions.predict.support import (
    ALIAS_PARAMETER,
    BUCKET,
    CANDIDATE_PARAMETER,
    CLASS_NAMES,
    MODEL_NAME,
    SQUARE_IMGSZ,
    WIDE_IMGSZ,
    publish,
    set_alias,
    set_candidate,
)

pytestmark = pytest.mark.usefixtures("aws")

GATE_TIMEOUT_S = 60
"""How long a gated thread waits before the test gives up (a failure, never a pass)."""


@pytest.fixture
def square_onnx(onnx_models: dict[tuple[int, int], Path]) -> Path:
    return onnx_models[SQUARE_IMGSZ]


@pytest.fixture
def wide_onnx(onnx_models: dict[tuple[int, int], Path]) -> Path:
    return onnx_models[WIDE_IMGSZ]


@pytest.fixture
def two_versions(square_onnx: Path, wide_onnx: Path) -> None:
    """Version 1 (the square export) and 2 (the wide one) published; the alias names 1."""
    publish("1", square_onnx, SQUARE_IMGSZ)
    publish("2", wide_onnx, WIDE_IMGSZ)
    set_alias("1")


@pytest.fixture
def eager(settings: Settings) -> Settings:
    """Settings that read SSM on every call (TTL 0), so a parameter change is seen at once."""
    return settings.model_copy(update={"alias_ttl_seconds": 0})


@pytest.fixture
def canary(eager: Settings) -> Settings:
    """``eager`` with the candidate parameter configured (and set to ``none``)."""
    set_candidate(None)
    return eager.model_copy(update={"candidate_parameter": CANDIDATE_PARAMETER})


@pytest.fixture(autouse=True)
def no_loader_outlives_its_test(aws: None) -> Iterator[None]:
    """Join loaders before moto stops (``aws``): one still running would call real AWS,
    or log into the next test."""
    yield
    for thread in threading.enumerate():
        if thread.name == "model-loader":
            thread.join(GATE_TIMEOUT_S)


@pytest.fixture
def store_warnings() -> Iterator[list[logging.LogRecord]]:
    """Warnings of predict.model_store (a handler of its own: the Lambda's JSON logger may
    have turned propagation off)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    log = logging.getLogger("predict.model_store")
    log.addHandler(handler)
    yield records
    log.removeHandler(handler)


def _delete(version: str, what: str = "both") -> None:
    s3 = boto3.client("s3")
    if what in ("both", "onnx"):
        s3.delete_object(Bucket=BUCKET, Key=onnx_key(MODEL_NAME, version))
    if what in ("both", "manifest"):
        s3.delete_object(Bucket=BUCKET, Key=manifest_key(MODEL_NAME, version))


def swapped(store: ModelStore) -> str:
    """Read the aliases, let the background loader finish; the champion's version then."""
    store.current()
    assert store.wait_for_loads(GATE_TIMEOUT_S), "the loader did not finish"
    return store.loaded.version


def cached_versions(settings: Settings) -> set[str]:
    root = settings.cache_dir / MODEL_NAME
    return {p.name for p in root.iterdir()} if root.is_dir() else set()


class GatedS3:
    """A real S3 client whose ``get_object`` of ``key`` waits at a gate.

    ``entered`` is set when a download of ``key`` starts; it proceeds once ``opened`` is
    set. ``downloads`` counts the downloads of ``key``.
    """

    def __init__(self, key: str) -> None:
        self._client = boto3.client("s3")
        self.key = key
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.downloads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_object(self, **kwargs: Any) -> dict:
        if kwargs["Key"] == self.key:
            self.downloads += 1
            self.entered.set()
            if not self.opened.wait(GATE_TIMEOUT_S):
                raise TimeoutError("the test never opened the download gate")
        return self._client.get_object(**kwargs)


class BreakingS3:
    """A real S3 client whose first ``breaks`` bodies of ``key`` raise the next of ``errors``
    after their first 1 MiB, as a connection that drops mid-download does."""

    def __init__(self, key: str, errors: list[Exception]) -> None:
        self._client = boto3.client("s3")
        self.key = key
        self.errors = errors
        self.gets = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_object(self, **kwargs: Any) -> dict:
        response = self._client.get_object(**kwargs)
        if kwargs["Key"] == self.key:
            self.gets += 1
            if self.errors:
                response["Body"] = _BreakingBody(response["Body"], self.errors.pop(0))
        return response


class _BreakingBody:
    def __init__(self, body: Any, error: Exception) -> None:
        self._body, self._error, self._sent = body, error, False

    def read(self, amount: int = -1) -> bytes:
        if self._sent:
            raise self._error
        self._sent = True
        return self._body.read(1 << 20)

    def close(self) -> None:
        self._body.close()


class GatedSession:
    """A real ONNX Runtime session whose ``run`` waits at a gate (a request in flight)."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self.running = threading.Event()
        self.finish = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        self.running.set()
        if not self.finish.wait(GATE_TIMEOUT_S):
            raise TimeoutError("the test never let the request finish")
        return self._session.run(*args, **kwargs)


def with_symbolic_dims(source: Path, target: Path) -> Path:
    """A copy of an export whose input is [batch, 3, height, width] and output
    [batch, 4 + nc, anchors], as a dynamic-shape export declares them."""
    model = onnx.load(source)
    graph_input, graph_output = model.graph.input[0], model.graph.output[0]
    names = (("batch", None, "height", "width"), ("batch", None, "anchors"))
    for value, dim_names in zip((graph_input, graph_output), names, strict=True):
        dims = value.type.tensor_type.shape.dim
        for dim, name in zip(dims, dim_names, strict=True):
            if name:
                dim.dim_param = name
    onnx.save(model, target)
    return target


# ---- loading --------------------------------------------------------------------------


def test_cold_start_resolves_alias_downloads_verifies_and_serves(
    settings: Settings, square_onnx: Path, bus_rgb: np.ndarray
) -> None:
    manifest = publish("1", square_onnx, SQUARE_IMGSZ)
    set_alias("1")
    store = ModelStore(settings)
    assert store.loaded is None

    model = store.current()

    assert model.manifest == manifest
    assert model.s3_uri == f"s3://{BUCKET}/models/{MODEL_NAME}/1/model.onnx"
    assert model.local_path == settings.cache_dir / MODEL_NAME / "1" / "model.onnx"
    assert sha256_file(model.local_path) == manifest.sha256
    assert [p.name for p in model.local_path.parent.iterdir()] == ["model.onnx"]
    assert store.loaded is model
    assert model.detector.imgsz == SQUARE_IMGSZ
    assert model.detector.session.get_session_options().intra_op_num_threads == 1
    assert model.detector.predict(bus_rgb, conf=0.25)


def test_warm_call_is_a_cache_hit(settings: Settings, square_onnx: Path) -> None:
    publish("1", square_onnx, SQUARE_IMGSZ)
    set_alias("1")
    store = ModelStore(settings)
    first = store.current()
    _delete("1")  # a second download would now fail
    boto3.client("ssm").delete_parameter(Name=settings.alias_parameter)  # so would SSM
    assert store.current() is first


def test_verified_file_on_disk_is_not_downloaded_again(
    settings: Settings, square_onnx: Path
) -> None:
    publish("1", square_onnx, SQUARE_IMGSZ)
    set_alias("1")
    ModelStore(settings).current()
    _delete("1", "onnx")  # only the manifest is left in S3
    model = ModelStore(settings).current()  # a new environment sharing the /tmp cache
    assert model.version == "1"


def test_corrupt_cached_file_is_downloaded_again(settings: Settings, square_onnx: Path) -> None:
    publish("1", square_onnx, SQUARE_IMGSZ)
    set_alias("1")
    path = ModelStore(settings).current().local_path
    path.write_bytes(b"garbage")
    model = ModelStore(settings).current()
    assert sha256_file(model.local_path) == sha256_file(square_onnx)


def test_alias_change_waits_for_the_ttl(settings: Settings, two_versions: None) -> None:
    store = ModelStore(settings.model_copy(update={"alias_ttl_seconds": 3600}))
    assert store.current().version == "1"
    set_alias("2")
    assert swapped(store) == "1"  # the cached alias has not expired


def test_alias_change_is_picked_up_once_the_ttl_passes(
    settings: Settings, two_versions: None
) -> None:
    store = ModelStore(settings.model_copy(update={"alias_ttl_seconds": 1}))
    assert store.current().version == "1"
    set_alias("2")
    time.sleep(1.1)  # the TTL itself is under test
    assert swapped(store) == "2"
    assert store.current().detector.imgsz == WIDE_IMGSZ
    _delete("1", "onnx")
    set_alias("1")  # rollback: the verified copy in /tmp is used again
    time.sleep(1.1)
    assert swapped(store) == "1"


# ---- hot swap -------------------------------------------------------------------------


def test_request_in_flight_finishes_on_the_old_session_while_the_new_one_swaps_in(
    eager: Settings, two_versions: None, square_onnx: Path, bus_rgb: np.ndarray
) -> None:
    store = ModelStore(eager)
    old = store.current()
    gate = GatedSession(old.detector.session)
    old.detector.session = gate

    def request() -> tuple[str, list]:
        selection = store.select()
        return selection.model.version, selection.model.detector.predict(bus_rgb)

    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(request)
        assert gate.running.wait(GATE_TIMEOUT_S), "the request never reached the session"
        set_alias("2")
        assert swapped(store) == "2"  # swapped in while the request still runs on version 1
        assert not in_flight.done()
        gate.finish.set()
        version, detections = in_flight.result(GATE_TIMEOUT_S)

    assert version == "1"
    expected = Detector(square_onnx, CLASS_NAMES, SQUARE_IMGSZ).predict(bus_rgb)
    assert detections == expected and detections
    assert store.select().model.detector.imgsz == WIDE_IMGSZ


def test_requests_are_not_blocked_while_a_slow_download_runs(
    eager: Settings, two_versions: None, bus_rgb: np.ndarray
) -> None:
    s3 = GatedS3(onnx_key(MODEL_NAME, "2"))
    store = ModelStore(eager, s3_client=s3)
    assert store.current().version == "1"
    set_alias("2")

    def requests() -> list[str]:
        answered = []
        for _ in range(5):
            selection = store.select()
            selection.model.detector.predict(bus_rgb)
            answered.append(selection.model.version)
        return answered

    try:
        assert store.current().version == "1"  # starts the loader, does not wait for it
        assert s3.entered.wait(GATE_TIMEOUT_S), "the loader never started the download"
        with ThreadPoolExecutor(1) as pool:
            answered = pool.submit(requests).result(GATE_TIMEOUT_S)
        assert not s3.opened.is_set() and not store.wait_for_loads(0)  # still downloading
    finally:
        s3.opened.set()

    assert answered == ["1"] * 5
    assert swapped(store) == "2"
    assert s3.downloads == 1, "one loader, one download, however many requests asked"


def test_concurrent_cold_requests_share_one_load(eager: Settings, square_onnx: Path) -> None:
    publish("1", square_onnx, SQUARE_IMGSZ)
    set_alias("1")
    s3 = GatedS3(onnx_key(MODEL_NAME, "1"))
    store = ModelStore(eager, s3_client=s3)
    with ThreadPoolExecutor(3) as pool:
        answers = [pool.submit(store.current) for _ in range(3)]
        assert s3.entered.wait(GATE_TIMEOUT_S)
        s3.opened.set()
        models = [answer.result(GATE_TIMEOUT_S) for answer in answers]
    assert s3.downloads == 1
    assert all(model is models[0] for model in models)


# ---- refusals -------------------------------------------------------------------------


def test_missing_version_on_a_cold_environment_raises(settings: Settings) -> None:
    set_alias("7")
    with pytest.raises(ModelVersionNotFoundError, match="version '7' not found"):
        ModelStore(settings).current()


def test_missing_onnx_file_raises(settings: Settings, square_onnx: Path) -> None:
    publish("1", square_onnx, SQUARE_IMGSZ, upload_onnx=False)
    set_alias("1")
    with pytest.raises(ModelVersionNotFoundError, match="cannot download"):
        ModelStore(settings).current()
    assert not any(settings.cache_dir.rglob("*.part"))


def _broken_streams(count: int) -> list[Exception]:
    """What botocore and urllib3 raise when a body breaks off, ``count`` of them in turn."""
    kinds = [
        lambda: ResponseStreamingError(error="Connection broken: IncompleteRead"),
        lambda: urllib3.exceptions.SSLError("record layer failure"),
    ]
    return [kinds[i % len(kinds)]() for i in range(count)]


def test_download_that_breaks_off_is_retried(
    settings: Settings, square_onnx: Path, store_warnings: list[logging.LogRecord]
) -> None:
    publish("1", square_onnx, SQUARE_IMGSZ)
    set_alias("1")
    s3 = BreakingS3(onnx_key(MODEL_NAME, "1"), _broken_streams(2))
    store = ModelStore(settings, s3_client=s3)
    assert store.current().version == "1"
    assert s3.gets == 3
    assert sha256_file(settings.cache_dir / MODEL_NAME / "1" / "model.onnx") == sha256_file(
        square_onnx
    )
    assert [r.getMessage() for r in store_warnings] == ["model download broke off"] * 2


def test_download_that_keeps_breaking_off_is_refused(settings: Settings, square_onnx: Path) -> None:
    publish("1", square_onnx, SQUARE_IMGSZ)
    set_alias("1")
    s3 = BreakingS3(onnx_key(MODEL_NAME, "1"), _broken_streams(3))
    with pytest.raises(
        ModelVersionNotFoundError, match=r"cannot download s3://.*Connection broken"
    ):
        ModelStore(settings, s3_client=s3).current()
    assert s3.gets == 3
    assert not any(settings.cache_dir.rglob("*.part"))
    assert cached_versions(settings) == set()


def test_missing_version_on_a_warm_environment_keeps_serving(
    settings: Settings, square_onnx: Path, store_warnings: list[logging.LogRecord]
) -> None:
    publish("1", square_onnx, SQUARE_IMGSZ)
    set_alias("1")
    store = ModelStore(settings.model_copy(update={"alias_ttl_seconds": 1}))
    good = store.current()

    set_alias("9")
    time.sleep(1.1)  # past the alias TTL
    assert store.current() is good
    assert store.wait_for_loads(GATE_TIMEOUT_S)
    assert store.current() is good
    assert store.wait_for_loads(GATE_TIMEOUT_S)
    assert len(store_warnings) == 1, "one warning per failed version and TTL, not per request"
    warning = store_warnings[0]
    assert warning.alias_version == "9"
    assert warning.serving_version == "1"
    assert warning.error == "ModelVersionNotFoundError"

    publish("9", square_onnx, SQUARE_IMGSZ)  # the version appears (publish raced the alias)
    time.sleep(1.1)  # past the retry time
    assert swapped(store) == "9"


def test_checksum_mismatch_cold_raises_and_caches_nothing(
    settings: Settings, square_onnx: Path
) -> None:
    publish("1", square_onnx, SQUARE_IMGSZ, sha256="0" * 64)
    set_alias("1")
    with pytest.raises(ChecksumMismatchError, match="sha256"):
        ModelStore(settings).current()
    assert not [p for p in settings.cache_dir.rglob("*") if p.is_file()]


def test_file_onnx_runtime_cannot_load(settings: Settings, tmp_path: Path) -> None:
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"this is not a protobuf")
    publish("1", fake, SQUARE_IMGSZ)
    set_alias("1")
    with pytest.raises(ModelLoadError, match="cannot be loaded"):
        ModelStore(settings).current()


@pytest.mark.parametrize(
    ("publish_bad", "error"),
    [
        (
            lambda square, wide, tmp: publish("2", square, SQUARE_IMGSZ, upload_onnx=False),
            "ModelVersionNotFoundError",
        ),
        (
            lambda square, wide, tmp: publish("2", wide, WIDE_IMGSZ, sha256=sha256_file(square)),
            "ChecksumMismatchError",
        ),
        (lambda square, wide, tmp: publish("2", _junk(tmp), SQUARE_IMGSZ), "ModelLoadError"),
        (lambda square, wide, tmp: publish("2", wide, SQUARE_IMGSZ), "ModelShapeError"),
    ],
    ids=["missing", "wrong-checksum", "corrupt", "wrong-shape"],
)
def test_bad_new_version_is_refused_and_the_old_one_keeps_serving(
    eager: Settings,
    square_onnx: Path,
    wide_onnx: Path,
    tmp_path: Path,
    store_warnings: list[logging.LogRecord],
    publish_bad,
    error: str,
) -> None:
    publish("1", square_onnx, SQUARE_IMGSZ)
    set_alias("1")
    store = ModelStore(eager)
    good = store.current()
    publish_bad(square_onnx, wide_onnx, tmp_path)
    set_alias("2")

    assert swapped(store) == "1"
    assert store.current() is good
    assert store_warnings[0].error == error
    assert store.problem is not None and store.problem.error == error
    assert "serving the previously loaded version '1'" in store.problem.reason
    assert cached_versions(eager) == {"1"}, "nothing of the refused version stays in /tmp"


def _junk(tmp: Path) -> Path:
    path = tmp / "junk.onnx"
    path.write_bytes(b"this is not a protobuf")
    return path


def test_alias_parameter_missing(settings: Settings) -> None:
    with pytest.raises(AliasNotFoundError, match="model-alias"):
        ModelStore(settings).current()


def test_alias_none_means_no_model_promoted_yet(settings: Settings) -> None:
    set_alias("none")
    with pytest.raises(AliasNotFoundError, match="no model version is promoted"):
        ModelStore(settings).current()


@pytest.mark.parametrize(
    ("body", "match"),
    [(b"not json", "body: Invalid JSON"), (b'{"model_name": "x"}', "sha256: Field required")],
)
def test_invalid_manifest(settings: Settings, body: bytes, match: str) -> None:
    boto3.client("s3").put_object(Bucket=BUCKET, Key=manifest_key(MODEL_NAME, "1"), Body=body)
    set_alias("1")
    with pytest.raises(InvalidManifestError, match=match):
        ModelStore(settings).current()


def test_manifest_of_another_version(settings: Settings, square_onnx: Path) -> None:
    manifest = publish("1", square_onnx, SQUARE_IMGSZ)
    boto3.client("s3").put_object(
        Bucket=BUCKET, Key=manifest_key(MODEL_NAME, "2"), Body=manifest.model_dump_json()
    )
    set_alias("2")
    with pytest.raises(InvalidManifestError, match="expected 'detector-test' version '2'"):
        ModelStore(settings).current()


# ---- input and output shapes ----------------------------------------------------------


def test_input_size_other_than_the_manifest_imgsz_is_refused(
    settings: Settings, wide_onnx: Path
) -> None:
    publish("1", wide_onnx, SQUARE_IMGSZ)  # a 256x384 export described as 320x320
    set_alias("1")
    with pytest.raises(ModelShapeError, match=r"\[1, 3, 256, 384\], expected \[1, 3, 320, 320\]"):
        ModelStore(settings).current()


def test_output_channels_other_than_4_plus_the_class_count_are_refused(
    settings: Settings, square_onnx: Path
) -> None:
    manifest = publish("1", square_onnx, SQUARE_IMGSZ)
    four_classes = manifest.model_copy(update={"class_names": {**CLASS_NAMES, 3: "star"}})
    boto3.client("s3").put_object(
        Bucket=BUCKET, Key=manifest_key(MODEL_NAME, "1"), Body=four_classes.model_dump_json()
    )
    set_alias("1")
    with pytest.raises(
        ModelShapeError, match=r"output 'output0' is \[1, 7, 2100\], expected \[1, 8, N\]"
    ):
        ModelStore(settings).current()


def test_symbolic_height_and_width_are_accepted(
    settings: Settings, square_onnx: Path, tmp_path: Path, bus_rgb: np.ndarray
) -> None:
    dynamic = with_symbolic_dims(square_onnx, tmp_path / "dynamic.onnx")
    publish("1", dynamic, SQUARE_IMGSZ)
    set_alias("1")

    model = ModelStore(settings).current()

    assert model.detector.session.get_inputs()[0].shape == ["batch", 3, "height", "width"]
    expected = Detector(square_onnx, CLASS_NAMES, SQUARE_IMGSZ).predict(bus_rgb)
    assert model.detector.predict(bus_rgb) == expected and expected


def test_check_signature_compares_the_session_shapes_with_the_manifest(
    square_onnx: Path, wide_onnx: Path
) -> None:
    manifest = publish("1", square_onnx, SQUARE_IMGSZ)
    check_signature(Detector(square_onnx, CLASS_NAMES, SQUARE_IMGSZ).session, manifest)
    with pytest.raises(ModelShapeError, match="input 'images'"):
        check_signature(Detector(wide_onnx, CLASS_NAMES, WIDE_IMGSZ).session, manifest)


# ---- the /tmp budget ------------------------------------------------------------------


def test_old_versions_are_evicted_least_recently_used_first_never_the_serving_one(
    eager: Settings, square_onnx: Path
) -> None:
    for version in ("1", "2", "3", "4"):
        publish(version, square_onnx, SQUARE_IMGSZ)
    size = square_onnx.stat().st_size
    store = ModelStore(eager.model_copy(update={"cache_budget_bytes": 3 * size + 100}))
    for version in ("1", "2", "3", "1"):  # 1 is the oldest download, and serves again
        set_alias(version)
        assert swapped(store) == version
    assert cached_versions(eager) == {"1", "2", "3"}

    set_alias("4")
    assert swapped(store) == "4"

    assert cached_versions(eager) == {"1", "3", "4"}, "2 was least recently used"
    set_alias("2")  # 4 serves; of 1 and 3, 3 was used longer ago
    assert swapped(store) == "2"
    assert cached_versions(eager) == {"1", "2", "4"}


def test_version_larger_than_the_budget_is_refused(settings: Settings, square_onnx: Path) -> None:
    publish("1", square_onnx, SQUARE_IMGSZ)
    set_alias("1")
    budget = square_onnx.stat().st_size - 1
    store = ModelStore(settings.model_copy(update={"cache_budget_bytes": budget}))
    with pytest.raises(CacheBudgetError, match=f"more than the cache budget of {budget} bytes"):
        store.current()
    assert cached_versions(settings) == set()
    assert "PREDICT_CACHE_BUDGET_BYTES" in store.problem.reason


def test_version_that_fits_only_by_evicting_the_serving_one_is_refused(
    eager: Settings, two_versions: None, square_onnx: Path, wide_onnx: Path
) -> None:
    budget = square_onnx.stat().st_size + wide_onnx.stat().st_size // 2
    store = ModelStore(eager.model_copy(update={"cache_budget_bytes": budget}))
    store.current()
    set_alias("2")

    assert swapped(store) == "1"

    assert store.problem.error == "CacheBudgetError"
    assert "beside the versions serving" in store.problem.reason
    assert cached_versions(eager) == {"1"}


# ---- canary ---------------------------------------------------------------------------


def test_candidate_takes_its_share_of_requests_then_abort_drops_it(
    canary: Settings, two_versions: None
) -> None:
    draws = itertools.cycle([0.05, 0.25, 0.95])  # under 30 %, under 30 %, over
    store = ModelStore(canary, draw=lambda: next(draws))
    assert store.current().version == "1"

    set_candidate("2", percent=30)
    store.current()
    assert store.wait_for_loads(GATE_TIMEOUT_S)
    served = [store.select() for _ in range(6)]

    assert [(s.model.version, s.alias) for s in served] == [
        ("2", "candidate"),
        ("2", "candidate"),
        ("1", "champion"),
    ] * 2
    assert store.serving.route.percent == 30
    assert store.problem is None

    set_candidate(None)  # abort: no load, the next request already sees it
    assert {(s.model.version, s.alias) for s in (store.select() for _ in range(6))} == {
        ("1", "champion")
    }
    assert store.serving.candidate is None


def test_cold_environment_serves_the_champion_while_the_candidate_loads(
    canary: Settings, two_versions: None
) -> None:
    set_candidate("2", percent=100)
    s3 = GatedS3(onnx_key(MODEL_NAME, "2"))
    store = ModelStore(canary, s3_client=s3)
    try:
        assert store.select().alias == "champion"
        assert s3.entered.wait(GATE_TIMEOUT_S)
        assert store.select().alias == "champion"
    finally:
        s3.opened.set()
    assert store.wait_for_loads(GATE_TIMEOUT_S)
    assert (store.select().alias, store.select().model.version) == ("candidate", "2")


def test_promoting_the_candidate_reuses_its_session_without_a_download(
    canary: Settings, two_versions: None
) -> None:
    set_candidate("2", percent=10)
    store = ModelStore(canary)
    swapped(store)
    candidate = store.serving.candidate
    assert candidate is not None and candidate.version == "2"
    _delete("2")  # a download would now fail

    set_alias("2")  # what `release canary promote` writes: the alias first, then "none"
    set_candidate(None)

    assert store.current() is candidate, "swapped in at once, no loader"
    assert store.serving.candidate is None
    assert store.problem is None


def test_refused_candidate_leaves_the_champion_serving_every_request(
    canary: Settings, square_onnx: Path, store_warnings: list[logging.LogRecord]
) -> None:
    publish("1", square_onnx, SQUARE_IMGSZ)
    set_alias("1")
    store = ModelStore(canary, draw=lambda: 0.0)  # every request would go to a candidate
    store.current()
    set_candidate("7", percent=100)  # never published

    swapped(store)

    assert {store.select().alias for _ in range(3)} == {"champion"}
    assert store.problem.error == "ModelVersionNotFoundError"
    assert "champion version '1' answers every request" in store.problem.reason
    assert store_warnings[0].alias == "candidate"


def test_malformed_candidate_value_keeps_the_canary_as_it_was(
    canary: Settings, two_versions: None
) -> None:
    set_candidate("2", percent=100)
    store = ModelStore(canary)
    swapped(store)
    assert store.select().alias == "candidate"

    boto3.client("ssm").put_parameter(  # a raw write, not through the release CLI
        Name=CANDIDATE_PARAMETER, Value='{"version": "3", "percent": 150}', Overwrite=True
    )

    assert store.select().alias == "candidate"
    assert store.problem.error == "InvalidCandidateError"
    assert CANDIDATE_PARAMETER in store.problem.reason
    assert "the canary keeps candidate version '2'" in store.problem.reason


def test_candidate_parameter_configured_but_missing_is_a_problem(
    eager: Settings, square_onnx: Path
) -> None:
    publish("1", square_onnx, SQUARE_IMGSZ)
    set_alias("1")
    store = ModelStore(eager.model_copy(update={"candidate_parameter": "/nowhere/candidate"}))
    assert store.select().alias == "champion"
    assert store.problem.error == "InvalidCandidateError"
    assert "/nowhere/candidate" in store.problem.reason


def test_canary_budget_keeps_both_serving_versions(
    canary: Settings, square_onnx: Path, wide_onnx: Path
) -> None:
    for version in ("1", "2", "3"):
        publish(version, square_onnx, SQUARE_IMGSZ)
    size = square_onnx.stat().st_size
    store = ModelStore(canary.model_copy(update={"cache_budget_bytes": 2 * size + 100}))
    set_alias("1")
    set_candidate("2")
    swapped(store)
    assert store.serving.versions() == {"1", "2"}

    set_candidate("3")  # both 1 and 2 serve: 3 cannot fit without evicting one
    swapped(store)

    assert store.serving.versions() == {"1", "2"}
    assert store.problem.error == "CacheBudgetError"
    assert cached_versions(canary) == {"1", "2"}


# ---- clients and problems -------------------------------------------------------------


def test_clients_come_from_settings_not_import(
    settings: Settings, square_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No client exists until the first call; then they are built from the settings."""
    made: list[tuple[str, str | None]] = []
    real_client = boto3.session.Session.client

    def spy(self, service, *args, **kwargs):
        made.append((service, kwargs.get("endpoint_url")))
        return real_client(self, service, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "client", spy)
    publish("1", square_onnx, SQUARE_IMGSZ)
    set_alias("1")
    made.clear()
    store = ModelStore(settings)
    assert made == []
    store.current()
    assert sorted(made) == [("s3", None), ("ssm", None)]


def test_problem_is_none_until_something_fails_and_loaded_at_is_recorded(
    settings: Settings, square_onnx: Path
) -> None:
    publish("1", square_onnx, SQUARE_IMGSZ)
    set_alias("1")
    store = ModelStore(settings)
    assert store.problem is None and store.loaded is None
    before = datetime.now(UTC)
    model = store.current()
    assert before <= model.loaded_at <= datetime.now(UTC)
    assert store.problem is None


def test_problem_when_nothing_is_promoted_clears_once_a_version_serves(
    eager: Settings, square_onnx: Path
) -> None:
    set_alias("none")
    store = ModelStore(eager)
    with pytest.raises(AliasNotFoundError):
        store.current()
    assert store.problem is not None
    assert store.problem.error == "AliasNotFoundError"
    assert "no model version is promoted" in store.problem.reason

    publish("1", square_onnx, SQUARE_IMGSZ)
    set_alias("1")
    store.current()
    assert store.problem is None


def test_problem_names_the_version_that_keeps_serving(
    settings: Settings, square_onnx: Path
) -> None:
    publish("1", square_onnx, SQUARE_IMGSZ)
    set_alias("1")
    store = ModelStore(settings.model_copy(update={"alias_ttl_seconds": 0}))
    store.current()

    set_alias("9")
    assert swapped(store) == "1"
    problem = store.problem
    assert problem is not None and problem.error == "ModelVersionNotFoundError"
    assert "'9'" in problem.reason and "serving the previously loaded version '1'" in problem.reason
    assert swapped(store) == "1"
    assert store.problem is problem, "the same failure again keeps its first time"

    boto3.client("ssm").delete_parameter(Name=ALIAS_PARAMETER)
    store.current()
    assert store.problem.error == "AliasNotFoundError"

    set_alias("1")  # rolled back
    store.current()
    assert store.problem is None
