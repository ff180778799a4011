"""Step 4: the PyTorch weights' metrics on the held-out split (the reference for parity)."""

from typing import Annotated

from zenml import log_metadata, step

from training.artifacts import TrainedArtifact
from training.datasets import PreparedDataset
from training.evaluate import evaluate_model
from training.settings import TrainingSettings
from training.tracking import resume_run


@step(enable_cache=False)
def evaluate(
    settings: TrainingSettings, dataset: PreparedDataset, trained: TrainedArtifact
) -> Annotated[dict[str, float], "pytorch_metrics"]:
    """mAP50, mAP50-95, precision and recall of ``best.pt`` on the config's eval split,
    logged to the training's MLflow run as ``pytorch_<split>_<metric>``."""
    import mlflow

    config = trained.config
    metrics = evaluate_model(
        trained.weights, dataset.data_yaml, config, trained.run_dir / "eval-pytorch", settings
    )
    with resume_run(settings, trained.run_id):
        mlflow.log_metrics({f"pytorch_{config.eval.split}_{k}": v for k, v in metrics.items()})
    log_metadata(metrics, infer_artifact=True)
    return metrics
