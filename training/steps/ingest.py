"""Step 1: the dataset a run trains on: ingested on first use, validated, DVC-versioned."""

from typing import Annotated

from zenml import log_metadata, step

from training.config import DataConfig
from training.datasets import PreparedDataset, prepare_dataset
from training.settings import TrainingSettings


@step(enable_cache=False)
def ingest(data: DataConfig, settings: TrainingSettings) -> Annotated[PreparedDataset, "dataset"]:
    """:func:`training.datasets.prepare_dataset`: ``data/<name>``, validated, added and pushed
    to the DVC remote; its DVC md5 is the run's data version."""
    dataset = prepare_dataset(data, settings)
    log_metadata(
        {"data_version": dataset.data_version, "remote": dataset.remote}
        | dataset.summary.as_metrics(),
        infer_artifact=True,
    )
    return dataset
