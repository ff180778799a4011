"""MLflow: one experiment with a project-owned artifact location, runs, the model registry."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from training.settings import TrainingSettings


def configure_mlflow(settings: TrainingSettings) -> str:
    """Point MLflow at the settings' backend and return the experiment id (created if new)."""
    import os

    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    import mlflow

    if settings.mlflow_db_uri.startswith("sqlite:///"):
        Path(settings.mlflow_db_uri.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    mlflow.set_tracking_uri(settings.mlflow_db_uri)
    mlflow.set_registry_uri(settings.mlflow_db_uri)
    experiment = mlflow.get_experiment_by_name(settings.experiment_name)
    if experiment is not None:
        return experiment.experiment_id
    return mlflow.create_experiment(
        settings.experiment_name, artifact_location=settings.artifact_location
    )


def log_params(params: dict[str, Any]) -> None:
    """Log params; MLflow caps a value at 6000 characters and rejects ``None``."""
    import mlflow

    mlflow.log_params({k: "" if v is None else str(v)[:6000] for k, v in params.items()})


def log_onnx_and_register(onnx_path: Path, registered_model_name: str, tags: dict[str, str]) -> str:
    """Log the ONNX model to the active run, register it and return the new version."""
    import mlflow
    import onnx

    from training.lineage import package_version

    info = mlflow.onnx.log_model(
        onnx.load(str(onnx_path)),
        name="model",
        registered_model_name=registered_model_name,
        # What serving needs; spares MLflow inferring 200+ requirements from the uv project.
        pip_requirements=[
            f"onnx=={package_version('onnx')}",
            f"onnxruntime=={package_version('onnxruntime')}",
        ],
    )
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(registered_model_name, version, key, value)
    return version


@contextmanager
def resume_run(settings: TrainingSettings, run_id: str) -> Iterator[Any]:
    """Re-open the MLflow run ``run_id`` (each pipeline step logs into the training's run)."""
    configure_mlflow(settings)
    import mlflow

    with mlflow.start_run(run_id=run_id) as run:
        yield run


TRAINING_PLOT_SUFFIXES = (".png", ".jpg", ".csv")


def log_training_plots(save_dir: Path) -> int:
    """Log the plots and ``results.csv`` Ultralytics wrote into ``save_dir`` to the active run
    under ``training_plots/``; returns how many files were logged."""
    import mlflow

    files = sorted(p for p in save_dir.iterdir() if p.suffix in TRAINING_PLOT_SUFFIXES)
    for path in files:
        mlflow.log_artifact(str(path), artifact_path="training_plots")
    return len(files)
