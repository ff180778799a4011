"""Step 3: the final training, in the MLflow run that the later steps log into."""

import logging
from datetime import UTC, datetime
from typing import Annotated

from zenml import log_metadata, step

from training.artifacts import TrainedArtifact, TuningArtifact
from training.config import TrainConfig
from training.datasets import PreparedDataset
from training.lineage import lineage_tags
from training.settings import TrainingSettings
from training.tracking import configure_mlflow, log_params, log_training_plots
from training.train import train_model

log = logging.getLogger(__name__)


def effective_config(config: TrainConfig, tuning: TuningArtifact) -> TrainConfig:
    """The config the final training runs: the tuned parameters applied and tuning off, so
    that re-running it (``reproduce``) trains the same model without searching again."""
    tuned = config.with_train_params(**tuning.best_params)
    return tuned.model_copy(update={"tune": tuned.tune.model_copy(update={"enabled": False})})


def run_tags(
    config: TrainConfig, effective: TrainConfig, dataset: PreparedDataset, tuning: TuningArtifact
) -> dict[str, str]:
    """The lineage tags (``config_hash`` of the effective config) plus where tuning came from."""
    tags = lineage_tags(dataset.path, effective.config_hash())
    tags["dvc_data_version"] = dataset.data_version
    if tuning.enabled:
        tags["requested_config_hash"] = config.config_hash()
        tags["tuning_parent_run_id"] = tuning.parent_run_id or ""
    return tags


@step(enable_cache=False)
def train(
    config: TrainConfig,
    settings: TrainingSettings,
    dataset: PreparedDataset,
    tuning: TuningArtifact,
    extra_tags: dict[str, str],
) -> Annotated[TrainedArtifact, "trained_model"]:
    """Train YOLO with the effective config; params, per-epoch metrics, lineage tags and
    Ultralytics' plots go to a new MLflow run."""
    import mlflow

    effective = effective_config(config, tuning)
    experiment_id = configure_mlflow(settings)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    run_dir = settings.runs_dir / f"{config.name}-{stamp}"
    tags = run_tags(config, effective, dataset, tuning) | extra_tags
    epochs = effective.train.epochs

    def log_epoch(epoch: int, metrics: dict[str, float]) -> None:
        mlflow.log_metrics(metrics, step=epoch)
        log.info(
            "epoch %d/%d: box loss %.3f, val mAP50 %.3f, mAP50-95 %.3f",
            epoch,
            epochs,
            metrics.get("train/box_loss", float("nan")),
            metrics.get("metrics/mAP50_B", float("nan")),
            metrics.get("metrics/mAP50-95_B", float("nan")),
        )

    def log_best(metrics: dict[str, float]) -> None:
        mlflow.log_metrics({f"best_{k.replace('metrics/', '')}": v for k, v in metrics.items()})

    with mlflow.start_run(experiment_id=experiment_id, run_name=config.name, tags=tags) as run:
        log_params(effective.flat_params())
        mlflow.log_dict(effective.model_dump(mode="json"), "config.yaml")
        mlflow.log_metrics(dataset.summary.as_metrics())
        trained = train_model(
            effective, dataset.data_yaml, run_dir / "train", settings, log_epoch, log_best
        )
        mlflow.log_metric("train_seconds", trained.seconds)
        mlflow.log_metric("epochs_completed", trained.epochs_completed)
        log_training_plots(trained.save_dir)
    log_metadata({"train_seconds": trained.seconds, "mlflow_run_id": run.info.run_id})
    return TrainedArtifact(
        config=effective,
        weights=trained.weights,
        run_dir=run_dir,
        run_id=run.info.run_id,
        epochs_completed=trained.epochs_completed,
        train_seconds=trained.seconds,
    )
