"""Step 1: the dataset a run trains on, ingested on first use, with its data version."""

from typing import Annotated

from zenml import log_metadata, step

from training.artifacts import DatasetArtifact
from training.config import DataConfig
from training.datasets import ensure_dataset
from training.lineage import dvc_data_version
from training.settings import TrainingSettings


@step(enable_cache=False)
def ingest(data: DataConfig, settings: TrainingSettings) -> Annotated[DatasetArtifact, "dataset"]:
    """Resolve ``data`` to a YOLO dataset folder under the state dir, and version it."""
    path = ensure_dataset(data, settings)
    dataset = DatasetArtifact(path=path, data_version=dvc_data_version(path))
    log_metadata({"data_version": dataset.data_version, "source": data.source}, infer_artifact=True)
    return dataset
