"""``python -m training``: the training job's command line.

Examples::

    python -m training ingest synthetic --seed 0 --n-train 256
    python -m training ingest local /data/my-yolo-set
    python -m training train --config configs/train_smoke.yaml train.epochs=3
    python -m training tune --config configs/train_smoke.yaml tune.n_trials=4
"""

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from training.config import ConfigError, DataConfig, TrainConfig, load_config
from training.data.ingest import DatasetError
from training.data.synthetic import SyntheticSpec
from training.settings import TrainingSettings

app = typer.Typer(help="Train, evaluate, register and publish the detector.", no_args_is_help=True)
ingest_app = typer.Typer(help="Produce a YOLO-format dataset under the state dir.")
app.add_typer(ingest_app, name="ingest")

EXIT_CONFIG_ERROR = 2
EXIT_DATASET_ERROR = 3


def _ingest(data: DataConfig) -> None:
    from training.datasets import ensure_dataset

    try:
        path = ensure_dataset(data, TrainingSettings())
    except DatasetError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_DATASET_ERROR) from error
    typer.echo(str(path))


@ingest_app.command("synthetic")
def ingest_synthetic(
    seed: int = 0,
    n_train: int = 256,
    n_val: int = 48,
    n_test: int = 64,
) -> None:
    """Generate shapes on noisy backgrounds (offline, reproducible by seed)."""
    spec = SyntheticSpec(seed=seed, n_train=n_train, n_val=n_val, n_test=n_test)
    _ingest(DataConfig(source="synthetic", synthetic=spec))


@ingest_app.command("coco128")
def ingest_coco128(split_seed: int = 0) -> None:
    """Download COCO128 (needs internet) and split it into train/val/test."""
    _ingest(DataConfig(source="coco128", split_seed=split_seed))


@ingest_app.command("local")
def ingest_local(
    path: Annotated[Path, typer.Argument(exists=True, file_okay=False)], split_seed: int = 0
) -> None:
    """Copy a local YOLO-format dataset (data.yaml + images/ + labels/)."""
    _ingest(DataConfig(source="local", path=path, split_seed=split_seed))


def _load_config(config: Path, overrides: list[str] | None) -> TrainConfig:
    """The config with overrides applied; a bad one exits with EXIT_CONFIG_ERROR."""
    try:
        return load_config(config, overrides or [])
    except ConfigError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_CONFIG_ERROR) from error


@app.command()
def train(
    config: Annotated[Path, typer.Option("--config", "-c", help="A configs/*.yaml file.")],
    overrides: Annotated[
        list[str] | None, typer.Argument(help="key=value overrides, e.g. train.epochs=3")
    ] = None,
) -> None:
    """Train, export ONNX, evaluate on the test split, register in MLflow, publish to S3."""
    cfg = _load_config(config, overrides)

    from training.pipeline import run_training

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        published = run_training(cfg)
    except DatasetError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_DATASET_ERROR) from error
    summary = {
        "model_name": published.model_name,
        "version": published.version,
        "run_id": published.run_id,
        "onnx": f"s3://{published.bucket}/{published.onnx_key}",
        "manifest": f"s3://{published.bucket}/{published.manifest_key}",
        "sha256": published.sha256,
        "imgsz": list(published.imgsz),
        "metrics": published.metrics,
    }
    typer.echo(json.dumps(summary, indent=2))
    typer.echo(f"published {published.model_name} version {published.version}")


@app.command("show-config")
def show_config(
    config: Annotated[Path, typer.Option("--config", "-c")],
    overrides: Annotated[list[str] | None, typer.Argument()] = None,
) -> None:
    """Print the resolved config (after overrides) and its hash, without training."""
    cfg = _load_config(config, overrides)
    typer.echo(json.dumps(cfg.model_dump(mode="json"), indent=2))
    typer.echo(f"config_hash: {cfg.config_hash()}")


EXIT_TUNING_ERROR = 4


@app.command()
def tune(
    config: Annotated[Path, typer.Option("--config", "-c", help="A configs/*.yaml file.")],
    overrides: Annotated[
        list[str] | None, typer.Argument(help="key=value overrides, e.g. tune.n_trials=8")
    ] = None,
) -> None:
    """Run one Optuna worker on the config's study (created if new) and print the best params.

    Start several (processes, or `compose up --scale trainer=N`) on one
    DETECTOR_OPTUNA_STORAGE_URL to share the study.
    """
    from training.tuning.config import load_tuning_config

    cfg = _load_config(config, overrides)
    try:
        tuning = load_tuning_config(cfg.tune.config)
    except ConfigError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_CONFIG_ERROR) from error

    import optuna

    from training.datasets import ensure_dataset
    from training.tuning.study import TuningError
    from training.tuning.study import tune as run_tuning

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one progress line per trial instead
    settings = TrainingSettings()
    try:
        dataset = ensure_dataset(cfg.data, settings)
        result = run_tuning(
            cfg, dataset / "data.yaml", settings, tuning, lambda line: typer.echo(line, err=True)
        )
    except (ConfigError, DatasetError, TuningError) as error:
        typer.echo(f"error: {error}", err=True)
        codes = {ConfigError: EXIT_CONFIG_ERROR, DatasetError: EXIT_DATASET_ERROR}
        raise typer.Exit(codes.get(type(error), EXIT_TUNING_ERROR)) from error
    typer.echo(result.model_dump_json())
