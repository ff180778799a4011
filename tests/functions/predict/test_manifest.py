"""predict.manifest: the published contract, old and new, as the model store reads it."""

import json

import numpy as np
import pytest
from pydantic import ValidationError

from predict.manifest import ModelManifest
from predict.model_store import ModelStore
from predict.settings import Settings
from tests.functions.predict.support import LARGE_IMGSZ, SQUARE_IMGSZ, publish, set_alias

BEFORE_DYNAMIC = {
    "model_name": "detector",
    "version": "3",
    "sha256": "ab" * 32,
    "size_bytes": 10_700_000,
    "class_names": {"0": "circle", "1": "square"},
    "imgsz": [320, 320],
    "mlflow_run_id": "run-3",
    "metrics": {"mAP50": 0.84},
    "created_at": "2026-11-29T14:03:54Z",
}
"""A manifest.json as published before ``dynamic`` and ``stride`` existed."""


def test_a_manifest_without_dynamic_and_stride_loads_as_a_fixed_size_export() -> None:
    manifest = ModelManifest.model_validate_json(json.dumps(BEFORE_DYNAMIC))
    assert (manifest.dynamic, manifest.stride) == (False, 32)
    assert manifest.imgsz == (320, 320)
    assert manifest.class_names == {0: "circle", 1: "square"}


def test_dynamic_and_stride_round_trip_and_stride_must_be_positive() -> None:
    manifest = ModelManifest.model_validate(BEFORE_DYNAMIC | {"dynamic": True, "stride": 32})
    again = ModelManifest.model_validate_json(manifest.model_dump_json())
    assert (again.dynamic, again.stride) == (True, 32)
    with pytest.raises(ValidationError, match="stride"):
        ModelManifest.model_validate(BEFORE_DYNAMIC | {"stride": 0})


@pytest.mark.usefixtures("aws")
def test_the_store_serves_a_dynamic_version_with_the_minimum_padding_letterbox(
    settings: Settings, exported_model, bus_rgb: np.ndarray
) -> None:
    publish("1", exported_model(SQUARE_IMGSZ, dynamic=True), LARGE_IMGSZ, dynamic=True)
    set_alias("1")
    detector = ModelStore(settings).current().detector
    assert (detector.dynamic, detector.stride, detector.imgsz) == (True, 32, LARGE_IMGSZ)
    assert detector.letterbox(bus_rgb).image.shape == (640, 480, 3)
    assert detector.predict(bus_rgb)


@pytest.mark.usefixtures("aws")
def test_the_store_refuses_a_manifest_that_calls_a_fixed_export_dynamic(
    settings: Settings, onnx_models
) -> None:
    from predict.errors import ModelLoadError

    publish("1", onnx_models[SQUARE_IMGSZ], SQUARE_IMGSZ, dynamic=True)
    set_alias("1")
    with pytest.raises(ModelLoadError, match="dynamic"):
        ModelStore(settings).current()
