"""predict.model_store against a real (moto) S3 bucket and SSM alias parameter."""

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import numpy as np
import pytest

from predict.errors import (
    AliasNotFoundError,
    ChecksumMismatchError,
    InvalidManifestError,
    ModelLoadError,
    ModelVersionNotFoundError,
)
from predict.manifest import manifest_key, onnx_key, sha256_file
from predict.model_store import ModelStore
from predict.settings import Settings
from tests.functions.predict.support import (
    ALIAS_PARAMETER,
    BUCKET,
    MODEL_NAME,
    SQUARE_IMGSZ,
    WIDE_IMGSZ,
    publish,
    set_alias,
)

pytestmark = pytest.mark.usefixtures("aws")


@pytest.fixture
def square_onnx(onnx_models: dict[tuple[int, int], Path]) -> Path:
    return onnx_models[SQUARE_IMGSZ]


@pytest.fixture
def wide_onnx(onnx_models: dict[tuple[int, int], Path]) -> Path:
    return onnx_models[WIDE_IMGSZ]


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
    assert model.manifest.version == "1"


def test_corrupt_cached_file_is_downloaded_again(settings: Settings, square_onnx: Path) -> None:
    publish("1", square_onnx, SQUARE_IMGSZ)
    set_alias("1")
    path = ModelStore(settings).current().local_path
    path.write_bytes(b"garbage")
    model = ModelStore(settings).current()
    assert sha256_file(model.local_path) == sha256_file(square_onnx)


def test_alias_change_waits_for_the_ttl(
    settings: Settings, square_onnx: Path, wide_onnx: Path
) -> None:
    publish("1", square_onnx, SQUARE_IMGSZ)
    publish("2", wide_onnx, WIDE_IMGSZ)
    set_alias("1")
    store = ModelStore(settings.model_copy(update={"alias_ttl_seconds": 3600}))
    assert store.current().manifest.version == "1"
    set_alias("2")
    assert store.current().manifest.version == "1"  # the cached alias has not expired


def test_alias_change_is_picked_up_once_the_ttl_passes(
    settings: Settings, square_onnx: Path, wide_onnx: Path
) -> None:
    publish("1", square_onnx, SQUARE_IMGSZ)
    publish("2", wide_onnx, WIDE_IMGSZ)
    set_alias("1")
    store = ModelStore(settings.model_copy(update={"alias_ttl_seconds": 1}))
    assert store.current().manifest.version == "1"
    set_alias("2")
    time.sleep(1.1)
    model = store.current()
    assert model.manifest.version == "2"
    assert model.detector.imgsz == WIDE_IMGSZ
    set_alias("1")  # rollback
    time.sleep(1.1)
    assert store.current().manifest.version == "1"


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


def test_missing_version_on_a_warm_environment_keeps_serving(
    settings: Settings, square_onnx: Path, store_warnings: list[logging.LogRecord]
) -> None:
    publish("1", square_onnx, SQUARE_IMGSZ)
    set_alias("1")
    store = ModelStore(settings.model_copy(update={"alias_ttl_seconds": 1}))
    good = store.current()

    set_alias("9")
    time.sleep(1.1)
    assert store.current() is good
    assert store.current() is good
    assert len(store_warnings) == 1, "one warning per failed version and TTL, not per request"
    warning = store_warnings[0]
    assert warning.alias_version == "9"
    assert warning.serving_version == "1"
    assert warning.error == "ModelVersionNotFoundError"

    publish("9", square_onnx, SQUARE_IMGSZ)  # the version appears (publish raced the alias)
    time.sleep(1.1)
    assert store.current().manifest.version == "9"


def test_checksum_mismatch_cold_raises_and_caches_nothing(
    settings: Settings, square_onnx: Path
) -> None:
    publish("1", square_onnx, SQUARE_IMGSZ, sha256="0" * 64)
    set_alias("1")
    with pytest.raises(ChecksumMismatchError, match="sha256"):
        ModelStore(settings).current()
    assert not [p for p in settings.cache_dir.rglob("*") if p.is_file()]


def test_checksum_mismatch_warm_keeps_serving(
    settings: Settings,
    square_onnx: Path,
    wide_onnx: Path,
    store_warnings: list[logging.LogRecord],
) -> None:
    publish("1", square_onnx, SQUARE_IMGSZ)
    publish("2", wide_onnx, WIDE_IMGSZ, sha256=sha256_file(square_onnx))  # wrong file
    set_alias("1")
    store = ModelStore(settings.model_copy(update={"alias_ttl_seconds": 0}))  # SSM every call
    good = store.current()
    set_alias("2")
    assert store.current() is good
    assert store_warnings[0].error == "ChecksumMismatchError"


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


def test_file_onnx_runtime_cannot_load(settings: Settings, tmp_path: Path) -> None:
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"this is not a protobuf")
    publish("1", fake, SQUARE_IMGSZ)
    set_alias("1")
    with pytest.raises(ModelLoadError, match="cannot be loaded"):
        ModelStore(settings).current()


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
    settings: Settings, square_onnx: Path
) -> None:
    set_alias("none")
    store = ModelStore(settings.model_copy(update={"alias_ttl_seconds": 0}))
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
    assert store.current().manifest.version == "1"
    problem = store.problem
    assert problem is not None and problem.error == "ModelVersionNotFoundError"
    assert "'9'" in problem.reason and "serving the previously loaded version '1'" in problem.reason
    assert store.current().manifest.version == "1"  # within the retry window: still reported
    assert store.problem is problem

    boto3.client("ssm").delete_parameter(Name=ALIAS_PARAMETER)
    store.current()
    assert store.problem.error == "AliasNotFoundError"

    set_alias("1")  # rolled back
    store.current()
    assert store.problem is None
