"""Run the training pipeline on ZenML's local stack, kept under the state dir.

Example:
    >>> from training.config import load_config
    >>> result = run_pipeline(load_config("configs/train_smoke.yaml"))  # doctest: +SKIP
    >>> result.registration.version, result.registration.decision  # doctest: +SKIP
    ('3', 'promoted: mAP50-95 0.4127 is above the floor and ...')
"""

import os
from dataclasses import dataclass
from datetime import UTC, datetime

from training.artifacts import (
    ExportedArtifact,
    RegistrationArtifact,
    TrainedArtifact,
    TuningArtifact,
)
from training.config import TrainConfig
from training.datasets import PreparedDataset, prepare_dataset
from training.publish import ensure_bucket
from training.settings import TrainingSettings
from training.ultralytics_env import configure_environment


class PipelineFailed(Exception):
    """A step failed; the message names the step and repeats its error."""


@dataclass(frozen=True)
class PipelineResult:
    """The artifacts of one pipeline run, loaded from ZenML."""

    run_name: str
    dataset: PreparedDataset
    tuning: TuningArtifact
    trained: TrainedArtifact
    pytorch_metrics: dict[str, float]
    exported: ExportedArtifact
    registration: RegistrationArtifact

    @property
    def version(self) -> str:
        """The registered model version."""
        return self.registration.version

    @property
    def run_id(self) -> str:
        """The MLflow run of the final training (where every step logged)."""
        return self.trained.run_id

    @property
    def sha256(self) -> str:
        return self.registration.sha256

    @property
    def onnx_key(self) -> str:
        return self.registration.onnx_key


def configure_zenml(settings: TrainingSettings) -> None:
    """ZenML's local store under ``<state_dir>/zenml``, analytics off. Set before ZenML is
    first imported; the first call in a process wins (ZenML keeps one store per process)."""
    os.environ.setdefault("ZENML_CONFIG_PATH", str((settings.state_dir / "zenml").resolve()))
    os.environ["ZENML_ANALYTICS_OPT_IN"] = "false"
    os.environ.setdefault("ZENML_LOGGING_VERBOSITY", "INFO")
    os.environ.setdefault("ZENML_ENABLE_RICH_TRACEBACK", "false")


def failure_message(run_name: str) -> str | None:
    """``step <name> failed: <its exception's message>`` for a failed run, from ZenML."""
    from zenml.client import Client

    run = Client().get_pipeline_run(run_name)
    for name, step in run.steps.items():
        if step.exception_info is not None:
            return f"step {name} failed: {step.exception_info.message}"
    return None


class PreflightFailed(Exception):
    """Something the run needs is missing or unreachable; nothing was trained."""


def preflight(config: TrainConfig, settings: TrainingSettings) -> None:
    """Fail before ZenML or any training starts on what would otherwise fail a step later.

    Raises:
        ConfigError: the tuning config (when tuning is on) is invalid.
        DatasetError: the dataset cannot be ingested or is invalid (bad files named).
        DataVersioningError: the DVC remote is unreachable, or dvc add/push failed.
        PreflightFailed: the models bucket cannot be reached.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    if config.tune.enabled:
        from training.tuning.config import load_tuning_config

        load_tuning_config(config.tune.config)
    prepare_dataset(config.data, settings)  # the ingest step finds it done
    try:
        ensure_bucket(settings)
    except (BotoCoreError, ClientError) as error:
        raise PreflightFailed(
            f"models bucket {settings.models_bucket!r} at "
            f"{settings.aws_endpoint_url or 'AWS'} is not reachable: {error}"
        ) from error


def run_pipeline(
    config: TrainConfig,
    settings: TrainingSettings | None = None,
    extra_tags: dict[str, str] | None = None,
    allow_promotion: bool = True,
) -> PipelineResult:
    """Run ingest -> tune -> train -> evaluate -> export -> register for ``config``.

    ``extra_tags`` go on the training's MLflow run; ``allow_promotion=False`` registers and
    publishes without promoting, whatever ``config.gates.promote`` says.

    Raises:
        ConfigError, DatasetError, DataVersioningError, PreflightFailed: from
            :func:`preflight`, before ZenML starts.
        PipelineFailed: a step raised (e.g. a dataset error, the parity gate, a failed
            promotion); ``__cause__`` is the step's exception.
    """
    settings = settings or TrainingSettings()
    preflight(config, settings)
    configure_environment(settings)
    configure_zenml(settings)
    from training.pipelines.training_pipeline import training_pipeline

    run_name = f"{config.name}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    pipeline = training_pipeline.with_options(run_name=run_name)
    try:
        run = pipeline(
            config=config,
            settings=settings,
            extra_tags=extra_tags or {},
            allow_promotion=allow_promotion,
        )
    except RuntimeError as error:  # ZenML's "Pipeline run has failed due to failure in ..."
        raise PipelineFailed(failure_message(run_name) or str(error)) from error
    outputs = {name: step.outputs for name, step in run.steps.items()}

    def load(step: str, output: str):
        return outputs[step][output][0].load()

    return PipelineResult(
        run_name=run_name,
        dataset=load("ingest", "dataset"),
        tuning=load("tune", "tuning"),
        trained=load("train", "trained_model"),
        pytorch_metrics=load("evaluate", "pytorch_metrics"),
        exported=load("export", "onnx_model"),
        registration=load("register", "registration"),
    )
