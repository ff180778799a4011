"""What the pipeline's steps hand each other: typed models that ZenML stores as artifacts
(the ingest step's is :class:`training.datasets.PreparedDataset`).

Paths point into the run's folder under the state dir (``<state_dir>/runs/<run>/``); the
artifacts record where the files are and what was measured, not the files themselves.
"""

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from training.config import TrainConfig


class _Artifact(BaseModel):
    model_config = ConfigDict(frozen=True)


class TuningArtifact(_Artifact):
    """The outcome of the tune step; ``best_params`` is empty when tuning was off."""

    enabled: bool
    best_params: dict[str, Any] = {}
    best_value: float | None = None
    study_name: str | None = None
    parent_run_id: str | None = None
    """The MLflow run that holds the study's trials as nested runs."""


class TrainedArtifact(_Artifact):
    """The final training: PyTorch weights and the MLflow run the later steps log into.

    Attributes:
        config: the effective config (tuned parameters applied, tuning off): what
            ``reproduce`` re-runs, and what ``config_hash`` is computed from.
    """

    config: TrainConfig
    weights: Path
    run_dir: Path
    run_id: str
    epochs_completed: int
    train_seconds: float


class ParityReport(_Artifact):
    """ONNX vs PyTorch on the same images (see :mod:`training.parity`).

    Attributes:
        images: how many images were compared.
        matched: detections found by both (same class), compared box by box; 0 when the
            model finds nothing above the threshold (then only the mAP50-95 are compared).
        max_box_diff_px: largest coordinate difference of a matched pair, original-image px.
        max_conf_diff: largest confidence difference of a matched pair.
        unmatched: detections only one side made (clear of the threshold), described.
        onnx_map50_95, pytorch_map50_95: mAP50-95 of each on the evaluation split.
    """

    images: int
    matched: int
    max_box_diff_px: float
    max_conf_diff: float
    unmatched: list[str]
    onnx_map50_95: float
    pytorch_map50_95: float

    @property
    def map_diff(self) -> float:
        return abs(self.onnx_map50_95 - self.pytorch_map50_95)


class ExportedArtifact(_Artifact):
    """The ONNX file that passed the parity gate, with its evaluation metrics."""

    path: Path
    imgsz: tuple[int, int]
    """ONNX input (height, width) in pixels; for a dynamic export the largest one."""
    class_names: dict[int, str]
    dynamic: bool
    """Dynamic input height and width: serving letterboxes to the stride within ``imgsz``."""
    stride: int
    metrics: dict[str, float]
    """ONNX model on the evaluation split: ``mAP50``, ``mAP50-95``, ``precision``, ``recall``."""
    parity: ParityReport


class RegistrationArtifact(_Artifact):
    """A registered, published model version and what the quality gate decided.

    Attributes:
        promoted: whether this run made the version serve (MLflow ``champion`` + SSM alias).
        decision: why it was or was not promoted, in words (also an MLflow tag).
        champion_before: the version that served before, or None.
    """

    model_name: str
    version: str
    bucket: str
    onnx_key: str
    manifest_key: str
    sha256: str
    promoted: bool
    decision: str
    champion_before: str | None
