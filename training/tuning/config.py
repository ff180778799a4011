"""The study file (``configs/optuna.yaml``): objective, sampler, pruner, heartbeat, search space.

Every searched name is a :class:`~training.config.TrainParams` field and every value the
space can produce is checked against that field when the file is loaded, so a bad space
(``optimizer: [auto]``, ``low > high``, a log range from 0) fails before any training::

    tuning = load_tuning_config("configs/optuna.yaml")
    tuning.search_space["lr0"]  # FloatParam(type='float', low=0.0001, high=0.01, log=True)
"""

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from training.config import ConfigError, TrainConfig, TrainParams, read_yaml_mapping
from training.settings import REPO_ROOT

EpochMetric = Literal[
    "metrics/mAP50-95_B",
    "metrics/mAP50_B",
    "metrics/precision_B",
    "metrics/recall_B",
    "val/box_loss",
    "val/cls_loss",
    "val/dfl_loss",
    "train/box_loss",
    "train/cls_loss",
    "train/dfl_loss",
    "lr/pg0",
    "lr/pg1",
    "lr/pg2",
]
"""Names ``training.train.epoch_metrics`` reports after every epoch (Ultralytics' own, with
``(B)`` written ``_B`` for MLflow)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FloatParam(_Strict):
    """``trial.suggest_float(name, low, high, log=log, step=step)``."""

    type: Literal["float"]
    low: float
    high: float
    log: bool = False
    step: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _valid_range(self) -> "FloatParam":
        _check_range(self.low, self.high, self.log)
        if self.log and self.step is not None:
            raise ValueError("step cannot be combined with log")
        return self

    def probe_values(self) -> list[Any]:
        return [self.low, self.high]


class IntParam(_Strict):
    """``trial.suggest_int(name, low, high, step=step, log=log)``."""

    type: Literal["int"]
    low: int
    high: int
    log: bool = False
    step: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _valid_range(self) -> "IntParam":
        _check_range(self.low, self.high, self.log)
        if self.log and self.step != 1:
            raise ValueError("step cannot be combined with log")
        return self

    def probe_values(self) -> list[Any]:
        # low + step catches a step that breaks a field's multiple_of (imgsz).
        return sorted({self.low, self.high, min(self.low + self.step, self.high)})


class CategoricalParam(_Strict):
    """``trial.suggest_categorical(name, choices)``."""

    type: Literal["categorical"]
    choices: list[str | int | float | bool] = Field(min_length=1)

    def probe_values(self) -> list[Any]:
        return list(self.choices)


SearchParam = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]
_PARAM_TYPES = ("float", "int", "categorical")


def _check_range(low: float, high: float, log: bool) -> None:
    if low > high:
        raise ValueError(f"low ({low}) is greater than high ({high})")
    if log and low <= 0:
        raise ValueError(f"a log range needs low > 0, got low={low}")


class SamplerConfig(_Strict):
    """Optuna's TPE sampler (``optuna.samplers.TPESampler``)."""

    seed: int | None = 0
    """Trial ``n`` draws from a generator seeded with ``(seed, n)``; ``None``: unseeded."""
    n_startup_trials: int = Field(10, ge=0)
    """Random trials before TPE models the finished ones."""


class PrunerConfig(_Strict):
    """``optuna.pruners.MedianPruner``: stop a trial whose best value so far is worse than the
    median of the earlier trials' values at the same epoch."""

    n_startup_trials: int = Field(5, ge=0)
    """Trials that are never pruned (the median needs them)."""
    n_warmup_steps: int = Field(0, ge=0)
    """The first epoch a trial can be pruned at (steps are epochs, counted from 1)."""
    interval_steps: int = Field(1, ge=1)
    """Check every this many epochs."""


class HeartbeatConfig(_Strict):
    """How a worker that died mid-trial is noticed: ``RDBStorage`` heartbeats.

    A RUNNING trial whose last heartbeat is older than ``grace_period_s`` is set to FAIL by
    the next worker that asks for a trial, and re-queued with the same parameters
    (``RetryHeartbeatStaleTrialCallback``, called ``RetryFailedTrialCallback`` before Optuna 4.9).
    """

    interval_s: int = Field(30, ge=1)
    grace_period_s: int = Field(120, ge=1)
    max_retry: int | None = Field(2, ge=0)
    """Re-runs of one lost trial; ``None`` retries forever."""

    @model_validator(mode="after")
    def _grace_exceeds_interval(self) -> "HeartbeatConfig":
        if self.grace_period_s <= self.interval_s:
            raise ValueError(
                f"grace_period_s ({self.grace_period_s}) must exceed interval_s "
                f"({self.interval_s}), or live trials are taken for dead ones"
            )
        return self


class TuningConfig(_Strict):
    """One Optuna study over :class:`~training.config.TrainParams` fields."""

    study_name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$")
    """``None``: ``<training config name>-<fingerprint>``, so a changed config or search space
    starts a new study and the same one resumes."""
    direction: Literal["maximize", "minimize"] = "maximize"
    metric: EpochMetric = "metrics/mAP50-95_B"
    """Reported to the pruner after every epoch; the trial's value is its best epoch."""
    n_trials: int = Field(20, ge=1)
    """Finished (complete or pruned) trials of the study, across all workers."""
    epochs: int = Field(10, ge=1)
    """Epochs of each trial (the final training keeps its own ``train.epochs``)."""
    sampler: SamplerConfig = SamplerConfig()
    pruner: PrunerConfig = PrunerConfig()
    heartbeat: HeartbeatConfig = HeartbeatConfig()
    search_space: dict[str, SearchParam] = Field(min_length=1)

    @model_validator(mode="after")
    def _space_fits_train_params(self) -> "TuningConfig":
        for name, param in self.search_space.items():
            _check_train_field(name, param)
        return self

    def with_n_trials(self, n_trials: int | None) -> "TuningConfig":
        """A copy with ``n_trials`` replaced (``tune.n_trials`` of a training config)."""
        return self if n_trials is None else self.model_copy(update={"n_trials": n_trials})


def _check_train_field(name: str, param: FloatParam | IntParam | CategoricalParam) -> None:
    if name == "epochs":
        raise ValueError("search_space.epochs: a trial's epochs are the study's `epochs`")
    if name not in TrainParams.model_fields:
        fields = ", ".join(f for f in TrainParams.model_fields if f != "epochs")
        raise ValueError(f"search_space.{name}: not a train parameter (one of: {fields})")
    for value in param.probe_values():
        try:
            TrainParams.model_validate({name: value}, strict=True)
        except ValidationError as error:
            reason = error.errors()[0]["msg"]
            raise ValueError(
                f"search_space.{name}: {value!r} is not a valid train.{name}: {reason}"
            ) from None


def _problem(error: dict[str, Any]) -> str:
    loc = ".".join(str(part) for part in error["loc"] if part not in _PARAM_TYPES)
    message = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
    return f"{loc}: {message}" if loc else message


def parse_tuning_config(raw: dict[str, Any], source: str = "tuning config") -> TuningConfig:
    """Validate a raw mapping; ``source`` names it in the error.

    Raises:
        ConfigError: naming the bad key, e.g. ``search_space.lr0: low (0.1) is greater ...``.
    """
    try:
        return TuningConfig.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(_problem(e) for e in error.errors())
        raise ConfigError(f"invalid tuning config {source}: {problems}") from error


def load_tuning_config(path: str | Path) -> TuningConfig:
    """Load a study file; a relative path is read from the repository root.

    Raises:
        ConfigError: the file is missing, not YAML, or invalid (the message names the key).
    """
    path = Path(path)
    if not path.is_absolute():
        path = REPO_ROOT / path
    raw = read_yaml_mapping(path, "tuning config")
    return parse_tuning_config(raw, str(path))


def study_definition(config: TrainConfig, tuning: TuningConfig) -> dict[str, Any]:
    """What decides the trials' results: data, the trials' train params, the study settings.

    Flat keys (``train.lr0``, ``tuning.n_trials``), JSON values. Left out: the study name,
    the heartbeat (operational) and what only the final training uses (its ``epochs``,
    export, evaluation, gates).
    """
    train = config.train.model_dump(mode="json")
    train["epochs"] = tuning.epochs
    study = tuning.model_dump(mode="json", exclude={"study_name", "heartbeat"})
    return {
        "data": config.data.model_dump(mode="json"),
        **{f"train.{key}": value for key, value in train.items()},
        **{f"tuning.{key}": value for key, value in study.items()},
    }


def definition_fingerprint(definition: dict[str, Any]) -> str:
    """SHA-256 of the definition's canonical JSON."""
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()
