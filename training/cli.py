"""``python -m training``: the training job's command line.

Examples::

    python -m training ingest synthetic --seed 0 --n-train 256
    python -m training ingest local /data/my-yolo-set --no-push
    python -m training data status
    python -m training data pull synthetic-0123456789
    python -m training run --config configs/train_smoke.yaml epochs=3
    python -m training reproduce 0f3c9e...   # an MLflow run id
    python -m training tune --config configs/train_smoke.yaml tune.n_trials=4
"""

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from training.config import ConfigError, DataConfig, TrainConfig, load_config
from training.data.ingest import COCO128_URL, DatasetError
from training.data.synthetic import SyntheticSpec
from training.settings import TrainingSettings

app = typer.Typer(help="Train, evaluate, register and publish the detector.", no_args_is_help=True)
ingest_app = typer.Typer(
    help="Ingest, validate and version (dvc add + push) a YOLO dataset under data/."
)
app.add_typer(ingest_app, name="ingest")
data_app = typer.Typer(help="DVC-versioned datasets under data/: status, pull, push.")
app.add_typer(data_app, name="data")

EXIT_PIPELINE_FAILED = 1
EXIT_CONFIG_ERROR = 2
EXIT_DATASET_ERROR = 3
EXIT_DATA_REMOTE_ERROR = 4
"""The DVC remote is unreachable, or dvc add/push/pull failed."""
EXIT_NOT_REPRODUCIBLE = 5
"""``reproduce``: no such run, or its commit, config or data differ from the working tree."""

PushOption = Annotated[
    bool | None,
    typer.Option(
        "--push/--no-push", help="dvc push the new version (default: DETECTOR_DVC_PUSH, on)."
    ),
]
TargetsArgument = Annotated[
    list[str] | None,
    typer.Argument(help="Dataset names under data/, folders or .dvc files; default: all."),
]


@contextmanager
def _exit_on_errors() -> Iterator[None]:
    """The one mapping of the job's errors to exit codes, the message on stderr and no
    traceback: config 2, dataset 3, DVC remote 4; an unreachable models bucket, a failed
    pipeline step or a study without a complete trial 1."""
    from training.data.versioning import DataVersioningError
    from training.run import PipelineFailed, PreflightFailed
    from training.tuning.study import TuningError

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    codes: list[tuple[type[Exception], int]] = [
        (ConfigError, EXIT_CONFIG_ERROR),
        (DatasetError, EXIT_DATASET_ERROR),
        (DataVersioningError, EXIT_DATA_REMOTE_ERROR),
        (PreflightFailed, EXIT_PIPELINE_FAILED),
        (PipelineFailed, EXIT_PIPELINE_FAILED),
        (TuningError, EXIT_PIPELINE_FAILED),
    ]
    try:
        yield
    except tuple(error_type for error_type, _ in codes) as error:
        typer.echo(f"error: {error}", err=True)
        code = next(code for error_type, code in codes if isinstance(error, error_type))
        raise typer.Exit(code) from error


def _settings(push: bool | None = None) -> TrainingSettings:
    settings = TrainingSettings()
    return settings if push is None else settings.model_copy(update={"dvc_push": push})


def _ingest(data: DataConfig, push: bool | None) -> None:
    from training.datasets import prepare_dataset

    with _exit_on_errors():
        prepared = prepare_dataset(data, _settings(push))
    typer.echo(prepared.model_dump_json(indent=2))


@ingest_app.command("synthetic")
def ingest_synthetic(
    seed: int = 0,
    n_train: int = 256,
    n_val: int = 48,
    n_test: int = 64,
    push: PushOption = None,
) -> None:
    """Generate shapes on noisy backgrounds (offline, reproducible by seed)."""
    spec = SyntheticSpec(seed=seed, n_train=n_train, n_val=n_val, n_test=n_test)
    _ingest(DataConfig(source="synthetic", synthetic=spec), push)


@ingest_app.command("coco128")
def ingest_coco128(
    split_seed: int = 0,
    url: Annotated[str, typer.Option(help="The archive (COCO128's layout).")] = COCO128_URL,
    sha256: Annotated[str | None, typer.Option(help="Expected sha256 of the archive.")] = None,
    push: PushOption = None,
) -> None:
    """Download COCO128 (needs internet), check it, split it into train/val/test."""
    try:
        data = DataConfig(source="coco128", url=url, sha256=sha256, split_seed=split_seed)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_CONFIG_ERROR) from error
    _ingest(data, push)


@ingest_app.command("local")
def ingest_local(
    path: Annotated[Path, typer.Argument(exists=True, file_okay=False)],
    split_seed: int = 0,
    push: PushOption = None,
) -> None:
    """Copy a local YOLO-format dataset (data.yaml + images/ + labels/)."""
    _ingest(DataConfig(source="local", path=path, split_seed=split_seed), push)


def _dataset_folders(settings: TrainingSettings, targets: list[str] | None) -> list[Path]:
    """Folders named by ``targets``, or every tracked one.

    A target is a dataset name (``synthetic-0123456789``, under ``data/``) or a path to a
    dataset folder or its ``.dvc`` file (relative to the working directory, as in DVC).
    """
    from training.data.versioning import tracked_datasets

    if not targets:
        return tracked_datasets(settings.datasets_dir)
    folders = []
    for target in targets:
        path = Path(target.removesuffix(".dvc"))
        folders.append(path if path.parent != Path() else settings.datasets_dir / path)
    return folders


@data_app.command("status")
def data_status(targets: TargetsArgument = None) -> None:
    """Each tracked dataset: its version, whether data/<name> matches it, whether it is pushed."""
    from training.data.versioning import DvcProject, RemoteUnreachableError

    settings = _settings()
    with _exit_on_errors():
        project = DvcProject(settings)
        try:
            project.check_remote()
            unreachable = None
        except RemoteUnreachableError as error:
            unreachable = error
        folders = _dataset_folders(settings, targets)
        statuses = [project.status(f, remote_reachable=unreachable is None) for f in folders]
        typer.echo(json.dumps([s.model_dump() for s in statuses], indent=2))
        if unreachable is not None:
            raise unreachable


@data_app.command("pull")
def data_pull(targets: TargetsArgument = None) -> None:
    """dvc pull datasets as their data/<name>.dvc files record them (local changes are lost)."""
    from training.data.versioning import DvcProject
    from training.datasets import restore_dataset

    settings = _settings()
    with _exit_on_errors():
        DvcProject(settings).check_remote()
        restored = [restore_dataset(f, settings) for f in _dataset_folders(settings, targets)]
    typer.echo(json.dumps([r.model_dump(mode="json") for r in restored], indent=2))


@data_app.command("push")
def data_push(targets: TargetsArgument = None) -> None:
    """dvc push tracked datasets (e.g. those ingested with --no-push) to the remote."""
    from training.data.versioning import DvcProject

    settings = _settings()
    with _exit_on_errors():
        project = DvcProject(settings)
        project.check_remote()
        for folder in _dataset_folders(settings, targets):
            uploaded = project.push(folder)
            typer.echo(f"{folder.name}: on {project.remote.describe()} ({uploaded} files uploaded)")


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

    with _exit_on_errors():
        result = run_pipeline(cfg)
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
        with _exit_on_errors():
            plan = plan_reproduction(run_id, settings)
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
    with _exit_on_errors():
        result = rerun(plan, settings)
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
    with _exit_on_errors():
        tuning = load_tuning_config(cfg.tune.config)

    import optuna

    from training.datasets import ensure_dataset
    from training.tuning.study import tune as run_tuning

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one progress line per trial instead
    settings = TrainingSettings()
    with _exit_on_errors():
        dataset = ensure_dataset(cfg.data, settings)
        result = run_tuning(
            cfg, dataset / "data.yaml", settings, tuning, lambda line: typer.echo(line, err=True)
        )
    typer.echo(result.model_dump_json())
