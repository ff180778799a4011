"""The published model's contract: S3 key layout and ``manifest.json``.

Written by the training job (``training.publish``), read by the Lambda's model store. One
registered model version lives under ``s3://<bucket>/models/<model_name>/<version>/``::

    model.onnx      the exported detector, input float32 [1, 3, H, W], output [1, 4 + nc, N]
                    (H and W fixed to ``imgsz``, or dynamic: see ``ModelManifest.dynamic``)
    manifest.json   a serialised :class:`ModelManifest`

The SSM alias parameter holds the ``version`` string that serves.
"""

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

ONNX_FILENAME = "model.onnx"
MANIFEST_FILENAME = "manifest.json"


def version_prefix(model_name: str, version: str) -> str:
    """S3 key prefix of one registered model version, e.g. ``models/detector/3/``."""
    return f"models/{model_name}/{version}/"


def onnx_key(model_name: str, version: str) -> str:
    """S3 key of the version's ONNX file."""
    return version_prefix(model_name, version) + ONNX_FILENAME


def manifest_key(model_name: str, version: str) -> str:
    """S3 key of the version's ``manifest.json``."""
    return version_prefix(model_name, version) + MANIFEST_FILENAME


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file (the manifest's ``sha256`` of ``model.onnx``), read in chunks."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class ModelManifest(BaseModel):
    """What a serving environment must know about one registered model version.

    Attributes:
        model_name: MLflow registered model name.
        version: MLflow registered model version (a decimal string, e.g. ``"3"``).
        sha256: hex SHA-256 of ``model.onnx``; the store refuses a file that differs.
        size_bytes: size of ``model.onnx`` in bytes.
        class_names: class id -> class name.
        imgsz: the ONNX input's (height, width) in pixels; for a dynamic export the
            largest input serving letterboxes to.
        dynamic: the ONNX input's height and width are dynamic (exported with
            ``dynamic=True``): serving pads each image only to the next multiple of
            ``stride`` within ``imgsz`` (Ultralytics' minimum-padding letterbox) instead of
            to ``imgsz``. ``False`` in manifests written before the field existed.
        stride: the model's largest stride in pixels (Ultralytics' ``stride`` metadata).
        mlflow_run_id: the MLflow run that trained the model.
        metrics: evaluation metrics (e.g. ``mAP50``, ``mAP50-95``) on the held-out split.
        created_at: UTC time of publication.
    """

    model_name: str
    version: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int = Field(gt=0)
    class_names: dict[int, str]
    imgsz: tuple[int, int]
    dynamic: bool = False
    stride: int = Field(32, ge=1)
    mlflow_run_id: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
