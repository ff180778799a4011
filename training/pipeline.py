"""The training job end to end: ingest -> train -> export -> evaluate -> register -> publish.

Example:
    >>> from training.config import load_config
    >>> published = run_training(load_config("configs/train_smoke.yaml"))  # doctest: +SKIP
    >>> published.version, published.metrics["mAP50"]  # doctest: +SKIP
    ('1', 0.12)
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from training.config import TrainConfig
from training.datasets import ensure_dataset
from training.evaluate import evaluate_onnx, export_onnx
from training.lineage import lineage_tags
from training.publish import build_manifest, publish_model
from training.settings import TrainingSettings
from training.tracking import configure_mlflow, log_onnx_and_register, log_params
from training.train import train_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublishedModel:
    """A registered model version, published to S3 (not yet promoted)."""

    model_name: str
    version: str
    run_id: str
    bucket: str
    onnx_key: str
    manifest_key: str
    sha256: str
    imgsz: tuple[int, int]
    class_names: dict[int, str]
    metrics: dict[str, float]
    onnx_path: Path
    """Local copy of the published ONNX file."""
    weights_path: Path
    """The PyTorch weights it was exported from (``best.pt``)."""
    dataset_dir: Path
    tags: dict[str, str] = field(default_factory=dict)
    train_seconds: float = 0.0


def run_training(config: TrainConfig, settings: TrainingSettings | None = None) -> PublishedModel:
    """Run the whole job for one config and return the published model version."""
    settings = settings or TrainingSettings()
    dataset = ensure_dataset(config.data, settings)
    data_yaml = dataset / "data.yaml"

    experiment_id = configure_mlflow(settings)
    import mlflow

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    run_dir = settings.runs_dir / f"{config.name}-{stamp}"
    tags = lineage_tags(dataset, config.config_hash())

    with mlflow.start_run(experiment_id=experiment_id, run_name=config.name, tags=tags) as run:
        log_params(config.flat_params())
        mlflow.log_dict(config.model_dump(mode="json"), "config.yaml")

        def log_epoch(epoch: int, metrics: dict[str, float]) -> None:
            mlflow.log_metrics(metrics, step=epoch)

        def log_best(metrics: dict[str, float]) -> None:
            mlflow.log_metrics({f"best_{k.replace('metrics/', '')}": v for k, v in metrics.items()})

        trained = train_model(config, data_yaml, run_dir / "train", settings, log_epoch, log_best)
        mlflow.log_metric("train_seconds", trained.seconds)
        mlflow.log_metric("epochs_completed", trained.epochs_completed)

        exported = export_onnx(trained.weights, config, run_dir / "export", settings)
        mlflow.log_param("export.input_hw", f"{exported.imgsz[0]}x{exported.imgsz[1]}")

        metrics = evaluate_onnx(exported.path, data_yaml, config, run_dir / "eval", settings)
        mlflow.log_metrics({f"{config.eval.split}_{k}": v for k, v in metrics.items()})

        version = log_onnx_and_register(
            exported.path,
            settings.registered_model_name,
            {"config_hash": tags["config_hash"], "dvc_data_version": tags["dvc_data_version"]},
        )
        manifest = build_manifest(
            exported.path,
            settings.registered_model_name,
            version,
            exported.class_names,
            exported.imgsz,
            run.info.run_id,
            metrics,
            dynamic=exported.dynamic,
            stride=exported.stride,
        )
        (run_dir / "manifest.json").write_text(manifest.model_dump_json(indent=2))
        model_key, meta_key = publish_model(exported.path, manifest, settings)
        mlflow.set_tag("s3_uri", f"s3://{settings.models_bucket}/{model_key}")
        mlflow.MlflowClient().set_model_version_tag(
            settings.registered_model_name,
            version,
            "s3_uri",
            f"s3://{settings.models_bucket}/{model_key}",
        )

    log.info("published %s version %s (%s)", settings.registered_model_name, version, metrics)
    return PublishedModel(
        model_name=settings.registered_model_name,
        version=version,
        run_id=run.info.run_id,
        bucket=settings.models_bucket,
        onnx_key=model_key,
        manifest_key=meta_key,
        sha256=manifest.sha256,
        imgsz=exported.imgsz,
        class_names=exported.class_names,
        metrics=metrics,
        onnx_path=exported.path,
        weights_path=trained.weights,
        dataset_dir=dataset,
        tags=tags,
        train_seconds=trained.seconds,
    )
