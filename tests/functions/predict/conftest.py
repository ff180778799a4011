"""Fixtures for the predict function's tests: real ONNX exports, photos, moto S3 and SSM."""

import functools
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import numpy as np
import PIL.Image
import pytest
from moto import mock_aws

from predict.images import decode_image
from predict.settings import Settings
from tests.functions.predict.support import (
    ALIAS_PARAMETER,
    ASSETS,
    BUCKET,
    CLASS_NAMES,
    MODEL_NAME,
    SQUARE_IMGSZ,
    WIDE_IMGSZ,
    calibrated_yolo11n,
    encode,
    export_onnx,
)


@pytest.fixture(autouse=True)
def pillow_as_on_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    """Undo Ultralytics' wrapper of ``PIL.Image.open`` (on unidentified input it imports, or
    pip-installs, a HEIF plugin): the Lambda has no Ultralytics, so test Pillow as it is."""
    patches = sys.modules.get("ultralytics.utils.patches")
    if patches is not None:
        monkeypatch.setattr(PIL.Image, "open", patches._image_open)


@pytest.fixture(scope="session")
def ultralytics_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Ultralytics offline: no downloads, no pip installs, config and font in a tmp dir."""
    config_dir = tmp_path_factory.mktemp("yolo_config")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("YOLO_OFFLINE", "1")
        env.setenv("YOLO_AUTOINSTALL", "false")
        env.setenv("YOLO_CONFIG_DIR", str(config_dir))
        env.setenv("YOLO_VERBOSE", "false")
        import matplotlib
        from ultralytics.utils import USER_CONFIG_DIR  # imported here, after the env is set

        font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        # USER_CONFIG_DIR differs from config_dir when another suite imported Ultralytics first.
        for target in {config_dir / "Ultralytics", Path(USER_CONFIG_DIR)}:
            target.mkdir(parents=True, exist_ok=True)
            if not (target / "Arial.ttf").exists():
                shutil.copyfile(font, target / "Arial.ttf")
        yield


@pytest.fixture(scope="session")
def test_model(ultralytics_env: None, tmp_path_factory: pytest.TempPathFactory):
    """``test_model(imgsz)``: a 3-class YOLO11n (``ultralytics.YOLO``, PyTorch) calibrated on
    the photos at ``imgsz``, built once per size."""

    @functools.cache
    def model(imgsz: tuple[int, int]):
        workdir = tmp_path_factory.mktemp(f"test_model_{imgsz[0]}x{imgsz[1]}")
        return calibrated_yolo11n(CLASS_NAMES, workdir, imgsz)

    return model


@pytest.fixture(scope="session")
def exported_model(test_model, tmp_path_factory: pytest.TempPathFactory):
    """``exported_model(imgsz, dynamic=False)``: ``test_model(imgsz)`` exported to ONNX at
    ``imgsz``, fixed-size or with dynamic height and width; exported once per pair."""

    @functools.cache
    def export(imgsz: tuple[int, int], dynamic: bool = False) -> Path:
        name = f"model_{imgsz[0]}x{imgsz[1]}{'_dynamic' if dynamic else ''}.onnx"
        return export_onnx(
            test_model(imgsz), imgsz, tmp_path_factory.mktemp("onnx") / name, dynamic
        )

    return export


@pytest.fixture(scope="session")
def onnx_models(exported_model) -> dict[tuple[int, int], Path]:
    """``imgsz -> model.onnx`` for a square and a non-square fixed-size export."""
    return {imgsz: exported_model(imgsz) for imgsz in (SQUARE_IMGSZ, WIDE_IMGSZ)}


@pytest.fixture(scope="session")
def bus_jpeg() -> bytes:
    """A real 810x1080 (portrait) JPEG."""
    return (ASSETS / "bus.jpg").read_bytes()


@pytest.fixture(scope="session")
def zidane_jpeg() -> bytes:
    """A real 1280x720 (landscape) JPEG."""
    return (ASSETS / "zidane.jpg").read_bytes()


@pytest.fixture(scope="session")
def bus_rgb(bus_jpeg: bytes) -> np.ndarray:
    return decode_image(bus_jpeg)


@pytest.fixture(scope="session")
def small_jpeg(bus_jpeg: bytes) -> bytes:
    """bus.jpg shrunk to 102x135 (portrait), for events that must stay small."""
    return encode(np.ascontiguousarray(decode_image(bus_jpeg)[::8, ::8]), "JPEG")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An in-process moto S3 and SSM with the test bucket; fake credentials, no endpoint."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for the test bucket, alias parameter and a per-test cache dir."""
    return Settings(
        models_bucket=BUCKET,
        model_name=MODEL_NAME,
        alias_parameter=ALIAS_PARAMETER,
        alias_ttl_seconds=60,
        cache_dir=tmp_path / "models",
    )
