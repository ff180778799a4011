"""``python -m training``: the training job's command line.

Examples::

    python -m training ingest synthetic --seed 0 --n-train 256
    python -m training ingest local /data/my-yolo-set
    python -m training run --config configs/train_smoke.yaml epochs=3
    python -m training reproduce 0f3c9e...   # an MLflow run id
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

EXIT_PIPELINE_FAILED = 1
EXIT_CONFIG_ERROR = 2
EXIT_DATASET_ERROR = 3
EXIT_NOT_REPRODUCIBLE = 4


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


def _summary(result) -> dict:
    """The CLI's JSON summary of a pipeline run."""
    registration = result.registration
    return {
        "zenml_run": result.run_name,
        "mlflow_run_id": result.trained.run_id,
        "model_name": registration.model_name,
        "version": registration.version,
        "onnx": f"s3://{registration.bucket}/{registration.onnx_key}",
        "sha256": registration.sha256,
        "imgsz": list(result.exported.imgsz),
        "tuned_params": result.tuning.best_params,
        "onnx_metrics": result.exported.metrics,
        "pytorch_metrics": result.pytorch_metrics,
        "parity": result.exported.parity.model_dump(),
        "promoted": registration.promoted,
        "decision": registration.decision,
    }


def _run_or_exit(action):
    """Run a pipeline action; errors exit with their code and message, no traceback:
    config 2, dataset 3, preflight (unreachable bucket) and failed steps 1."""
    from training.run import PipelineFailed, PreflightFailed

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return action()
    except ConfigError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_CONFIG_ERROR) from error
    except DatasetError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_DATASET_ERROR) from error
    except (PreflightFailed, PipelineFailed) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_PIPELINE_FAILED) from error


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="A configs/*.yaml file.")],
    overrides: Annotated[
        list[str] | None,
        typer.Argument(help="key=value overrides, e.g. epochs=3 or train.lr0=0.01"),
    ] = None,
) -> None:
    """The ZenML pipeline: ingest, tune, train, evaluate, export (ONNX, parity gate),
    register (MLflow, S3) and promote when the quality gate passes."""
    cfg = _load_config(config, overrides)
    from training.run import run_pipeline

    result = _run_or_exit(lambda: run_pipeline(cfg))
    typer.echo(json.dumps(_summary(result), indent=2))
    typer.echo(
        f"{result.registration.model_name} version {result.registration.version}: "
        f"{result.registration.decision}"
    )


@app.command()
def reproduce(
    run_id: Annotated[str, typer.Argument(help="MLflow run id of a training run")],
    check_only: Annotated[
        bool, typer.Option("--check-only", help="Print the checks, train nothing.")
    ] = False,
    allow_mismatch: Annotated[
        bool, typer.Option("--allow-mismatch", help="Re-run even if commit, config or data differ.")
    ] = False,
) -> None:
    """Check that the run's commit, config and data version match the working tree, then
    re-run its training with the same config (registered, never promoted)."""
    from training.reproduce import RunNotReproducible, plan_reproduction
    from training.reproduce import reproduce as rerun

    settings = TrainingSettings()
    try:
        plan = _run_or_exit(lambda: plan_reproduction(run_id, settings))
    except RunNotReproducible as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_NOT_REPRODUCIBLE) from error
    for check in plan.checks:
        mark = "ok " if check.ok else ("MISMATCH" if check.required else "differs")
        typer.echo(f"{mark:>8}  {check.name:<20} run: {check.recorded}  now: {check.current}")
    for warning in plan.warnings:
        typer.echo(f"warning: {warning}")
    if plan.mismatches and not allow_mismatch:
        names = ", ".join(check.name for check in plan.mismatches)
        typer.echo(f"error: {names} differ from the run; nothing trained", err=True)
        raise typer.Exit(EXIT_NOT_REPRODUCIBLE)
    if check_only:
        return
    result = _run_or_exit(lambda: rerun(plan, settings))
    typer.echo(
        f"reproduced as MLflow run {result.trained.run_id} "
        f"(version {result.registration.version}, not promoted)"
    )
    for name, value in sorted(result.exported.metrics.items()):
        before = plan.metrics.get(f"{plan.config.eval.split}_{name}")
        was = f"{before:.4f}" if before is not None else "?"
        typer.echo(f"  {name:<10} run: {was}  reproduction: {value:.4f}")


@app.command("show-config")
def show_config(
    config: Annotated[Path, typer.Option("--config", "-c")],
    overrides: Annotated[list[str] | None, typer.Argument()] = None,
) -> None:
    """Print the resolved config (after overrides) and its hash, without training."""
    cfg = _load_config(config, overrides)
    typer.echo(json.dumps(cfg.model_dump(mode="json"), indent=2))
    typer.echo(f"config_hash: {cfg.config_hash()}")
