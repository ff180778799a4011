"""The ingest step: a config's ``data`` section to a validated, DVC-versioned YOLO dataset.

Example:
    >>> from training.config import DataConfig
    >>> prepared = prepare_dataset(DataConfig(), TrainingSettings())  # doctest: +SKIP
    >>> prepared.data_version, prepared.summary.splits["train"].images  # doctest: +SKIP
    ('3f0c1e0ad1f4b8e2e7bb0a6d6f2e9c11.dir', 256)
"""

import hashlib
import logging
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from training.config import DataConfig
from training.data.ingest import (
    COCO128_URL,
    ingest_coco128,
    ingest_local,
    ingest_synthetic,
    synthetic_dataset_name,
)
from training.data.validation import DatasetSummary, validate_dataset
from training.data.versioning import DataVersioningError, DvcProject
from training.lineage import dvc_dir_md5, recorded_dvc_md5
from training.settings import TrainingSettings

log = logging.getLogger(__name__)


class PreparedDataset(BaseModel):
    """A dataset ready to train on: where it is, its data version and what it holds."""

    model_config = ConfigDict(frozen=True)

    path: Path
    """``<dvc_root>/data/<name>``."""
    data_yaml: Path
    data_version: str
    """The DVC md5 of the folder (``<md5>.dir``), as in ``data/<name>.dvc``."""
    remote: str
    """The DVC remote's URL (``s3://<bucket>/<prefix>``)."""
    endpoint: str | None
    """The S3 endpoint the remote was reached at; ``None`` is AWS."""
    pushed: bool
    """Whether the remote holds this version (``False`` when pushing is off)."""
    summary: DatasetSummary

    def images(self, split: str) -> list[Path]:
        """The split's image files (``images/<split>/``), sorted by name."""
        return sorted(p for p in (self.path / "images" / split).iterdir() if p.is_file())


def dataset_dir(data: DataConfig, settings: TrainingSettings) -> Path:
    """Where the dataset of ``data`` lives: ``<dvc_root>/data/<name>``."""
    if data.source == "synthetic":
        return settings.datasets_dir / synthetic_dataset_name(data.synthetic)
    if data.source == "coco128":
        origin = "" if data.url == COCO128_URL else f"-{_short_hash(data.url)}"
        return settings.datasets_dir / f"coco128{origin}-split{data.split_seed}"
    assert data.path is not None
    return settings.datasets_dir / f"local-{data.path.resolve().name}-split{data.split_seed}"


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def ensure_dataset(data: DataConfig, settings: TrainingSettings) -> Path:
    """Return the dataset folder, ingesting it first if it is not complete yet."""
    out = dataset_dir(data, settings)
    if (out / "data.yaml").exists():
        return out
    if data.source == "synthetic":
        return ingest_synthetic(data.synthetic, out)
    if data.source == "coco128":
        return ingest_coco128(out, url=data.url, sha256=data.sha256, seed=data.split_seed)
    assert data.path is not None
    return ingest_local(data.path, out, seed=data.split_seed)


def prepare_dataset(data: DataConfig, settings: TrainingSettings) -> PreparedDataset:
    """Ingest (if needed), validate, ``dvc add`` and ``dvc push`` the dataset of ``data``.

    The remote is checked first, so an unreachable one fails before any download or
    training. A second call on unchanged data re-validates, hashes the files and asks the
    remote for the version's ``.dir`` object: nothing is added or pushed again. With
    ``settings.dvc_push`` off the dataset is still ``dvc add``-ed; its data version is the
    same md5, only the remote does not hold it.

    Raises:
        DatasetError: the source cannot be ingested, or the dataset is invalid (its message
            names each bad file).
        RemoteUnreachableError: the DVC remote's endpoint does not answer.
        DataVersioningError: no DVC project at ``settings.dvc_root``, or add/push failed.
    """
    project = DvcProject(settings)
    if settings.dvc_push:
        project.check_remote()
    path = ensure_dataset(data, settings)
    summary = validate_dataset(path)
    version = project.version(path, push=settings.dvc_push)
    return _prepared(project, path, version, pushed=settings.dvc_push, summary=summary)


def restore_dataset(folder: Path, settings: TrainingSettings) -> PreparedDataset:
    """``dvc pull`` the dataset ``folder`` (``data/<name>``) as its ``.dvc`` file records it.

    Local changes to the folder are overwritten. ``dataset_dir(config.data, settings)``
    gives the folder of a config.

    Raises:
        RemoteUnreachableError: the DVC remote's endpoint does not answer.
        DataVersioningError: no ``.dvc`` file, the remote lacks the version, or the pulled
            files do not hash to the recorded md5.
        DatasetError: the restored dataset is invalid.
    """
    project = DvcProject(settings)
    project.check_remote()
    project.pull(folder)
    recorded = recorded_dvc_md5(folder)
    computed = dvc_dir_md5(folder)
    if computed != recorded:
        raise DataVersioningError(f"dvc pull of {folder} gave md5 {computed}, expected {recorded}")
    log.info("restored %s at data version %s", folder, computed)
    summary = validate_dataset(folder)
    return _prepared(project, folder, computed, pushed=True, summary=summary)


def _prepared(
    project: DvcProject, path: Path, version: str, pushed: bool, summary: DatasetSummary
) -> PreparedDataset:
    return PreparedDataset(
        path=path,
        data_yaml=path / "data.yaml",
        data_version=version,
        remote=project.remote.url,
        endpoint=project.remote.endpoint,
        pushed=pushed,
        summary=summary,
    )
