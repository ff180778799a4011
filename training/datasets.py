"""Resolve a config's ``data`` section to a YOLO dataset folder, ingesting it on first use."""

from pathlib import Path

from training.config import DataConfig
from training.data.ingest import (
    ingest_coco128,
    ingest_local,
    ingest_synthetic,
    synthetic_dataset_name,
)
from training.settings import TrainingSettings


def dataset_dir(data: DataConfig, settings: TrainingSettings) -> Path:
    """Where the dataset of ``data`` lives under the state dir."""
    if data.source == "synthetic":
        return settings.datasets_dir / synthetic_dataset_name(data.synthetic)
    if data.source == "coco128":
        return settings.datasets_dir / f"coco128-split{data.split_seed}"
    assert data.path is not None
    return settings.datasets_dir / f"local-{data.path.resolve().name}-split{data.split_seed}"


def ensure_dataset(data: DataConfig, settings: TrainingSettings) -> Path:
    """Return the dataset folder, ingesting it first if it is not complete yet."""
    out = dataset_dir(data, settings)
    if (out / "data.yaml").exists():
        return out
    if data.source == "synthetic":
        return ingest_synthetic(data.synthetic, out)
    if data.source == "coco128":
        return ingest_coco128(out, seed=data.split_seed)
    assert data.path is not None
    return ingest_local(data.path, out, seed=data.split_seed)
