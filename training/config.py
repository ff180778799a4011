"""Training configs: pydantic models loaded from YAML, with ``key=value`` overrides.

Unknown keys are errors (``extra='forbid'``), so a typo in a config or an override fails
before any training starts::

    cfg = load_config("configs/train_smoke.yaml", ["train.epochs=3", "data.synthetic.seed=7"])
"""

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from training.data.ingest import COCO128_URL
from training.data.synthetic import SyntheticSpec


class ConfigError(Exception):
    """A config file or override is invalid; the message says which key and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    """Which dataset to train on; ingested into ``data/<name>`` and versioned with DVC."""

    source: Literal["synthetic", "coco128", "local"] = "synthetic"
    path: Path | None = None
    """For ``local``: a YOLO-format dataset folder with ``data.yaml``."""
    url: str = COCO128_URL
    """For ``coco128``: the archive to download (COCO128's public release asset by default)."""
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    """For ``coco128``: the archive's expected sha256. No published value is known for the
    default archive, so the default is no check (the computed digest is logged to pin it)."""
    synthetic: SyntheticSpec = SyntheticSpec()
    split_seed: int = 0
    """Seed of the train/val/test shuffle for sources without a test split."""

    @model_validator(mode="after")
    def _local_needs_path(self) -> "DataConfig":
        if self.source == "local" and self.path is None:
            raise ValueError("data.path is required when data.source is 'local'")
        return self


class TrainParams(_Strict):
    """Passed to ``YOLO.train``. The optimizer is explicit: ``'auto'`` ignores ``lr0``."""

    model: str = "yolo11n.yaml"
    """A model YAML: from scratch, no pretrained weights are reachable offline."""
    epochs: int = Field(10, ge=1)
    imgsz: int = Field(320, ge=32, multiple_of=32)
    batch: int = Field(16, ge=1)
    optimizer: Literal["SGD", "Adam", "AdamW", "NAdam", "RAdam", "RMSprop"] = "AdamW"
    lr0: float = Field(0.002, gt=0)
    lrf: float = Field(0.01, gt=0)
    momentum: float = 0.937
    weight_decay: float = 0.0005
    warmup_epochs: float = Field(3.0, ge=0)
    patience: int = 100
    close_mosaic: int = Field(10, ge=0)
    mosaic: float = Field(1.0, ge=0, le=1)
    fliplr: float = Field(0.5, ge=0, le=1)
    workers: int = Field(0, ge=0)
    seed: int = 0
    fraction: float = Field(1.0, gt=0, le=1)
    plots: bool = True
    """Ultralytics' training plots (labels, batches, curves, confusion matrix), logged to MLflow."""


class ExportParams(_Strict):
    """ONNX export. ``imgsz`` is the serving input (height, width); default: square train size."""

    imgsz: tuple[int, int] | None = None
    opset: int = 17
    simplify: bool = True
    dynamic: bool = True
    """Dynamic input height and width: serving then pads each image only to the stride
    (Ultralytics' minimum-padding letterbox) within ``imgsz``, e.g. 640x480 instead of
    640x640 for a 4:3 photo (0.74x the inference time, benchmarks/serving_latency.py);
    ``imgsz`` must be a multiple of 32. ``false``: a fixed [1, 3, H, W] input."""

    @model_validator(mode="after")
    def _dynamic_needs_stride_multiple(self) -> "ExportParams":
        if self.dynamic and self.imgsz is not None and any(side % 32 for side in self.imgsz):
            raise ValueError(f"export.imgsz {self.imgsz} must be a multiple of 32 with dynamic")
        return self


class EvalParams(_Strict):
    """Evaluation of the exported ONNX model on the held-out ``test`` split."""

    split: Literal["val", "test"] = "test"
    conf: float = Field(0.001, ge=0, le=1)
    iou: float = Field(0.7, gt=0, le=1)


class TuneParams(_Strict):
    """Hyperparameter search (Optuna) before the final training; off unless ``enabled``."""

    enabled: bool = False
    config: Path = Path("configs/optuna.yaml")
    """Study settings and search space; a relative path is read from the repository root."""
    n_trials: int | None = Field(None, ge=1)
    """Trials of the study in all (across workers); ``None`` keeps the study file's value."""


class GateParams(_Strict):
    """Checks a new version must pass before it is promoted (it is registered either way)."""

    parity_box_tolerance_px: float = Field(1.0, ge=0)
    """Largest coordinate difference, in original-image pixels, between a PyTorch detection
    and its matched ONNX detection on the validation images."""
    parity_map_tolerance: float = Field(0.01, ge=0)
    """Largest |mAP50-95(ONNX) - mAP50-95(PyTorch)| on the evaluation split."""
    min_map50_95: float = Field(0.0, ge=0, le=1)
    """Quality floor: the ONNX model's mAP50-95 on the evaluation split must exceed it."""
    max_regression: float = Field(0.02, ge=0, le=1)
    """How much lower than the current champion's mAP50-95 a new version may score."""
    promote: bool = True
    """Promote (MLflow ``champion`` and the SSM alias) when every gate passes."""


class TrainConfig(_Strict):
    """One training job: data, tuning, training, export, evaluation and gate settings."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    data: DataConfig = DataConfig()
    tune: TuneParams = TuneParams()
    train: TrainParams = TrainParams()
    export: ExportParams = ExportParams()
    eval: EvalParams = EvalParams()
    gates: GateParams = GateParams()

    @property
    def export_imgsz(self) -> tuple[int, int]:
        return self.export.imgsz or (self.train.imgsz, self.train.imgsz)

    def with_train_params(self, **params: Any) -> "TrainConfig":
        """A copy with ``train`` fields replaced (e.g. a trial's ``lr0``), validated again.

        Raises:
            ConfigError: a name is not a ``train`` field or a value is out of range.
        """
        raw = self.model_dump(mode="json")
        raw["train"].update(params)
        return parse_config(raw)

    def config_hash(self) -> str:
        """SHA-256 of the canonical JSON of the resolved config (overrides included)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def flat_params(self) -> dict[str, Any]:
        """Dotted-key params for MLflow, e.g. ``train.lr0``."""
        return _flatten(self.model_dump(mode="json"))


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


_SECTIONS: dict[str, type[BaseModel]] = {
    "data": DataConfig,
    "tune": TuneParams,
    "train": TrainParams,
    "export": ExportParams,
    "eval": EvalParams,
    "gates": GateParams,
}


def resolve_key(key: str) -> str:
    """A dotted key, or a bare field name of exactly one section (``epochs`` -> ``train.epochs``).

    Raises:
        ConfigError: a bare name that is in no section (or in several) and not top level.
    """
    if "." in key or key in TrainConfig.model_fields:
        return key
    owners = [name for name, section in _SECTIONS.items() if key in section.model_fields]
    if len(owners) == 1:
        return f"{owners[0]}.{key}"
    if owners:
        choices = ", ".join(f"{owner}.{key}" for owner in owners)
        raise ConfigError(f"override key {key!r} is ambiguous: write one of {choices}")
    raise ConfigError(
        f"override key {key!r} is not a config field (use dotted keys, e.g. train.lr0)"
    )


def apply_override(tree: dict[str, Any], override: str) -> None:
    """Apply one ``key=value`` to a raw config mapping; the value is parsed as YAML.

    ``key`` is dotted (``train.epochs``) or a field name found in one section (``epochs``).
    """
    key, sep, raw = override.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {override!r} is not of the form key=value (dotted keys ok)")
    key = resolve_key(key)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as error:
        raise ConfigError(f"override {override!r}: value is not valid YAML: {error}") from error
    node = tree
    *parents, leaf = key.split(".")
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {override!r}: {part!r} is not a section")
        node = child
    node[leaf] = value


def parse_config(raw: dict[str, Any], overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Validate a raw mapping after applying overrides."""
    tree = copy.deepcopy(raw)
    for override in overrides:
        apply_override(tree, override)
    try:
        return TrainConfig.model_validate(tree)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in error.errors()
        )
        raise ConfigError(f"invalid training config: {problems}") from error


def read_yaml_mapping(path: Path, kind: str = "config") -> dict[str, Any]:
    """The top-level mapping of a YAML file; ``kind`` names the file in errors.

    Raises:
        ConfigError: the file cannot be read, is not YAML or not a mapping.
    """
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as error:
        raise ConfigError(f"cannot read {kind} {path}: {error}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{kind} {path} is not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise ConfigError(f"{kind} {path} must be a mapping at the top level")
    return raw


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Load a YAML config file and apply ``key=value`` overrides."""
    path = Path(path)
    raw = read_yaml_mapping(path)
    raw.setdefault("name", path.stem)
    return parse_config(raw, overrides)
