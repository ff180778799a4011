"""Re-run the training of an MLflow run, after checking that its inputs are the same.

Nothing is checked out or changed: the checks compare what the run recorded (its lineage
tags and the effective ``config.yaml`` it logged) with the working tree as it is now.

* must match: the git commit, the config (its hash, recomputed from the logged file), and
  the dataset's DVC data version (a missing dataset is first pulled from the DVC remote if
  ``data/<name>.dvc`` records it, else ingested);
* reported: uncommitted changes, then or now, and the Python / Ultralytics / torch /
  ONNX Runtime versions (a difference may change the numbers, not the procedure).

Example:
    >>> plan = plan_reproduction("0f3c...", TrainingSettings())  # doctest: +SKIP
    >>> [check.name for check in plan.mismatches]  # doctest: +SKIP
    []
    >>> result = reproduce(plan, TrainingSettings())  # doctest: +SKIP
"""

from dataclasses import dataclass
from pathlib import Path

import yaml
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from training.config import ConfigError, TrainConfig, parse_config
from training.datasets import dataset_dir, ensure_dataset, restore_dataset
from training.lineage import dvc_data_version, git_commit, git_dirty, package_version
from training.run import PipelineResult, run_pipeline
from training.settings import TrainingSettings

CONFIG_ARTIFACT = "config.yaml"
REPRODUCES_TAG = "reproduces"
_LIBRARIES = {
    "python_version": None,
    "ultralytics_version": "ultralytics",
    "torch_version": "torch",
    "onnxruntime_version": "onnxruntime",
}


class RunNotReproducible(Exception):
    """The run cannot be re-run: unknown run id, or no logged config."""


@dataclass(frozen=True)
class Check:
    """One recorded input against its value now; ``required`` ones must be equal."""

    name: str
    recorded: str
    current: str
    required: bool

    @property
    def ok(self) -> bool:
        return self.recorded == self.current


@dataclass(frozen=True)
class ReproductionPlan:
    """What a reproduction would train, and how the run's inputs compare with today's."""

    run_id: str
    config: TrainConfig
    checks: list[Check]
    warnings: list[str]
    """Uncommitted changes, at the run or now: the commit alone does not fix the code."""
    metrics: dict[str, float]
    """The run's metrics, to compare the new run's with."""

    @property
    def mismatches(self) -> list[Check]:
        return [check for check in self.checks if check.required and not check.ok]


def _logged_config(client: MlflowClient, run_id: str) -> TrainConfig:
    try:
        path = client.download_artifacts(run_id, CONFIG_ARTIFACT)
    except (MlflowException, OSError) as error:
        raise RunNotReproducible(f"run {run_id} has no {CONFIG_ARTIFACT} artifact") from error
    with open(path) as f:
        raw = yaml.safe_load(f)
    try:
        return parse_config(raw)
    except ConfigError as error:
        message = f"run {run_id}'s {CONFIG_ARTIFACT} no longer loads: {error}"
        raise RunNotReproducible(message) from error


def _python_version() -> str:
    import platform

    return platform.python_version()


def _dataset_now(config: TrainConfig, settings: TrainingSettings) -> Path:
    """The config's dataset folder as the working tree has it: pulled from the DVC remote
    when ``data/<name>.dvc`` records it but the folder is missing, ingested when neither."""
    folder = dataset_dir(config.data, settings)
    if not folder.exists() and folder.with_name(f"{folder.name}.dvc").exists():
        return restore_dataset(folder, settings).path
    return ensure_dataset(config.data, settings)


def plan_reproduction(run_id: str, settings: TrainingSettings) -> ReproductionPlan:
    """Read the run's config and tags and compare them with the working tree now.

    Raises:
        RunNotReproducible: no such run in the settings' MLflow, or it logged no config.
        DatasetError: the config's dataset cannot be ingested.
        DataVersioningError: its recorded version cannot be pulled from the DVC remote.
    """
    uri = settings.mlflow_db_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        run = client.get_run(run_id)
    except MlflowException as error:
        raise RunNotReproducible(f"no MLflow run {run_id!r} at {uri}") from error
    tags = run.data.tags
    config = _logged_config(client, run_id)
    dataset = _dataset_now(config, settings)
    checks = [
        Check("git_commit", tags.get("git_commit", "?"), git_commit(), required=True),
        Check("config_hash", tags.get("config_hash", "?"), config.config_hash(), required=True),
        Check(
            "dvc_data_version",
            tags.get("dvc_data_version", "?"),
            dvc_data_version(dataset),
            required=True,
        ),
    ]
    for tag, package in _LIBRARIES.items():
        current = _python_version() if package is None else package_version(package)
        checks.append(Check(tag, tags.get(tag, "?"), current, required=False))
    warnings = []
    if tags.get("git_dirty") != "false":
        warnings.append("the run was made with uncommitted changes: its code is not the commit's")
    if git_dirty():
        warnings.append("the working tree has uncommitted changes")
    return ReproductionPlan(run_id, config, checks, warnings, dict(run.data.metrics))


def reproduce(plan: ReproductionPlan, settings: TrainingSettings) -> PipelineResult:
    """Run the pipeline on the plan's config; the new run is tagged ``reproduces=<run id>``.

    The reproduction registers and publishes its version but never promotes it.
    """
    return run_pipeline(
        plan.config, settings, extra_tags={REPRODUCES_TAG: plan.run_id}, allow_promotion=False
    )
