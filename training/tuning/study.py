"""One tuning worker: join (or create) the study, run trials until it is done, report the best.

Any number of workers may run :func:`tune` on the same study (same storage URL and study
name), as processes or containers. They coordinate only through Optuna's storage:

* the study stops at ``n_trials`` finished (COMPLETE or PRUNED) trials across all workers.
  A worker starts a trial only while fewer are finished, running or queued; two workers
  that start the last one at the same moment are told apart by trial number, and the
  later trial ends at once as FAIL with user attribute ``surplus`` (it never trains);
* a trial whose worker died (no heartbeat for ``grace_period_s``) is set to FAIL, its MLflow
  run to FAILED, and it is queued again with the same parameters for any worker to take;
* each worker returns once no trial is left running, so every worker reports the same best.
"""

import logging
import os
import shutil
import socket
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.study import Study
from optuna.trial import FrozenTrial, Trial, TrialState
from pydantic import BaseModel, ConfigDict

from training.config import ConfigError, TrainConfig
from training.lineage import lineage_tags
from training.settings import TrainingSettings
from training.train import train_model
from training.tuning.config import (
    CategoricalParam,
    FloatParam,
    IntParam,
    TuningConfig,
    definition_fingerprint,
    study_definition,
)
from training.tuning.mlflow_runs import StudyRuns
from training.tuning.storage import (
    build_pruner,
    build_sampler,
    fail_lost_trials,
    open_storage,
    quiet_experimental,
    redact_url,
)

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
PARENT_RUN_ATTR = "mlflow_parent_run_id"
DEFINITION_ATTR = "definition"
RUN_ID_ATTR = "mlflow_run_id"
SURPLUS_ATTR = "surplus"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
CLAIMED = (*FINISHED, TrialState.RUNNING, TrialState.WAITING)
PARENT_WAIT_S = 60.0


class TuningError(Exception):
    """The study cannot give a result (no complete trial) or a trial cannot be scored."""


class SurplusTrial(Exception):
    """A trial asked for after the study had all its trials (a race between workers)."""


class TuningResult(BaseModel):
    """The study's outcome as seen when this worker finished (a pydantic model, so a ZenML
    step can return it as is)."""

    model_config = ConfigDict(frozen=True)

    study_name: str
    storage_url: str
    """Without its password."""
    metric: str
    direction: str
    best_value: float
    best_params: dict[str, Any]
    """``TrainParams`` field -> value: ``config.with_train_params(**best_params)``."""
    best_trial: int
    n_complete: int
    n_pruned: int
    n_failed: int
    """Trials that failed or were lost (a lost one is retried); surplus trials not counted."""
    parent_run_id: str


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def tune(
    config: TrainConfig,
    data_yaml: Path,
    settings: TrainingSettings,
    tuning: TuningConfig,
    progress: Progress | None = None,
) -> TuningResult:
    """Run one worker on the study of ``config`` + ``tuning`` until the study is done.

    Each trial trains ``config`` with the trial's params (and ``tuning.epochs`` epochs) on
    ``data_yaml`` under ``<runs_dir>/tune/<study>/trial-NNNN`` and reports ``tuning.metric``
    to the MedianPruner after every epoch. ``config.tune.n_trials``, if set, replaces
    ``tuning.n_trials``. Storage: ``settings.optuna_storage_url``; MLflow:
    ``settings.mlflow_db_uri``, experiment ``settings.experiment_name``.

    Raises:
        ConfigError: the study exists but was created from another definition.
        TuningError: the study finished without a complete trial.
        Exception: whatever a trial raised (the trial is FAIL, its MLflow run FAILED).
    """
    tuning = tuning.with_n_trials(config.tune.n_trials)
    progress = progress or log.info
    definition = study_definition(config, tuning)
    fingerprint = definition_fingerprint(definition)
    study_name = tuning.study_name or f"{config.name}-{fingerprint[:10]}"
    runs = StudyRuns.open(settings)

    def lost(trial: FrozenTrial) -> None:
        progress(f"trial {trial.number} lost its worker (no heartbeat): FAIL, queued again")
        if run_id := trial.user_attrs.get(RUN_ID_ATTR):
            runs.end_trial(run_id, TrialState.FAIL)

    storage = open_storage(settings.optuna_storage_url, tuning.heartbeat, lost)
    storage_url = redact_url(settings.optuna_storage_url)
    study, created = _create_or_load(study_name, storage, tuning)
    if created:
        study.set_user_attr(DEFINITION_ATTR, definition)
        parent_run_id = _create_parent(runs, study, config, tuning, data_yaml, storage_url)
    else:
        parent_run_id = _join(study, runs, config, tuning, data_yaml, storage_url, definition)
    progress(
        f"study {study_name} ({'new' if created else 'joined'}) at {storage_url}: "
        f"{tuning.n_trials} trials of {tuning.epochs} epochs, worker {worker_id()}"
    )

    objective = TrialObjective(config, data_yaml, settings, tuning, runs, parent_run_id)
    _work(study, objective, tuning, progress)

    result = _result(study, tuning, storage_url, parent_run_id)
    if runs.is_running(parent_run_id):  # the first worker to see the study done logs it
        counts = {"complete": result.n_complete, "pruned": result.n_pruned}
        counts["failed"] = result.n_failed
        tags = {f"optuna.n_{state}": str(n) for state, n in counts.items()}
        tags["optuna.best_trial"] = str(result.best_trial)
        runs.finish_parent(parent_run_id, study, result.best_params, result.best_value, tags)
    return result


def _create_or_load(name: str, storage: RDBStorage, tuning: TuningConfig) -> tuple[Study, bool]:
    """The study and whether this worker created it (exactly one worker does)."""
    options = {"sampler": build_sampler(tuning.sampler), "pruner": build_pruner(tuning.pruner)}
    try:
        study = optuna.create_study(
            study_name=name, storage=storage, direction=tuning.direction, **options
        )
    except optuna.exceptions.DuplicatedStudyError:
        return optuna.load_study(study_name=name, storage=storage, **options), False
    return study, True


def _create_parent(
    runs: StudyRuns,
    study: Study,
    config: TrainConfig,
    tuning: TuningConfig,
    data_yaml: Path,
    storage_url: str,
) -> str:
    tags = {
        **lineage_tags(data_yaml.parent, config.config_hash()),
        "optuna.study_name": study.study_name,
        "optuna.storage": storage_url,
        "optuna.metric": tuning.metric,
        "optuna.direction": tuning.direction,
    }
    params = {
        f"tuning.{key}": value
        for key, value in tuning.model_dump(mode="json", exclude={"search_space"}).items()
    }
    params.update(
        {f"search_space.{k}": v.model_dump_json() for k, v in tuning.search_space.items()}
    )
    parent_run_id = runs.create_parent(
        study.study_name,
        tags,
        params,
        {
            "config.yaml": config.model_dump(mode="json"),
            "optuna.yaml": tuning.model_dump(mode="json"),
        },
    )
    study.set_user_attr(PARENT_RUN_ATTR, parent_run_id)
    return parent_run_id


def _join(
    study: Study,
    runs: StudyRuns,
    config: TrainConfig,
    tuning: TuningConfig,
    data_yaml: Path,
    storage_url: str,
    definition: dict[str, Any],
) -> str:
    """The parent run id of a study another worker created, after checking its definition.

    The creator writes the definition and then the parent run id just after creating the
    study; if it died in between, the parent is created here after ``PARENT_WAIT_S``.
    """
    deadline = time.monotonic() + PARENT_WAIT_S
    while (attrs := study.user_attrs).get(PARENT_RUN_ATTR) is None:
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    stored = attrs.get(DEFINITION_ATTR)
    if stored is not None and stored != definition:
        differ = sorted(
            k for k in stored.keys() | definition.keys() if stored.get(k) != definition.get(k)
        )
        raise ConfigError(
            f"study {study.study_name!r} was created from another definition "
            f"(differs in: {', '.join(differ)}); use the same config or another study_name"
        )
    if parent := attrs.get(PARENT_RUN_ATTR):
        return parent
    study.set_user_attr(DEFINITION_ATTR, definition)
    return _create_parent(runs, study, config, tuning, data_yaml, storage_url)


def _work(
    study: Study, objective: "TrialObjective", tuning: TuningConfig, progress: Progress
) -> None:
    """Run trials while the study has room, then wait for other workers' trials to end."""
    report = _progress_callback(tuning, progress)
    waiting_said = False
    while True:
        fail_lost_trials(study)
        counts = Counter(t.state for t in study.get_trials(deepcopy=False))
        claimed = sum(counts[state] for state in CLAIMED)
        if counts[TrialState.WAITING] or claimed < tuning.n_trials:
            with quiet_experimental():
                study.optimize(
                    objective,
                    n_trials=1,
                    catch=(SurplusTrial,),
                    callbacks=[report],
                    gc_after_trial=True,
                )
            waiting_said = False
        elif counts[TrialState.RUNNING]:
            if not waiting_said:
                progress(f"waiting for {counts[TrialState.RUNNING]} trial(s) of other workers")
                waiting_said = True
            time.sleep(min(tuning.heartbeat.interval_s, 2))
        else:
            return


def _progress_callback(tuning: TuningConfig, progress: Progress):
    def report(study: Study, trial: FrozenTrial) -> None:
        if trial.user_attrs.get(SURPLUS_ATTR):
            progress(f"trial {trial.number} not run: the study already has {tuning.n_trials}")
            return
        finished = len(study.get_trials(deepcopy=False, states=FINISHED))
        value = "" if trial.value is None else f" {tuning.metric}={trial.value:.5g}"
        seconds = trial.duration.total_seconds() if trial.duration else 0.0
        progress(
            f"trial {trial.number} {trial.state.name}{value} {trial.params} in {seconds:.1f} s; "
            f"{finished}/{tuning.n_trials} finished"
        )

    return report


class TrialObjective:
    """The objective of one worker: train a trial's config, report each epoch, score it."""

    def __init__(
        self,
        config: TrainConfig,
        data_yaml: Path,
        settings: TrainingSettings,
        tuning: TuningConfig,
        runs: StudyRuns,
        parent_run_id: str,
    ) -> None:
        self.config = config
        self.data_yaml = data_yaml
        self.settings = settings
        self.tuning = tuning
        self.runs = runs
        self.parent_run_id = parent_run_id

    def __call__(self, trial: Trial) -> float:
        trials = trial.study.get_trials(deepcopy=False)
        if _claimed_before(trials, trial.number) >= self.tuning.n_trials:
            trial.set_user_attr(SURPLUS_ATTR, True)
            raise SurplusTrial(f"trial {trial.number}: the study has its {self.tuning.n_trials}")
        params = {
            name: _suggest(trial, name, space) for name, space in self.tuning.search_space.items()
        }
        trial_config = self.config.with_train_params(epochs=self.tuning.epochs, **params)
        tags = {"optuna.study_name": trial.study.study_name, "optuna.worker": worker_id()}
        frozen = next(t for t in trials if t.number == trial.number)
        retried = RetryHeartbeatStaleTrialCallback.retried_trial_number(frozen)
        if retried is not None:
            tags["optuna.retry_of"] = str(retried)
        run_id = self.runs.start_trial(
            self.parent_run_id,
            trial.number,
            tags,
            {f"train.{k}": v for k, v in trial_config.train.model_dump(mode="json").items()},
        )
        trial.set_user_attr(RUN_ID_ATTR, run_id)
        try:
            value = self._train(trial, trial_config, run_id)
        except optuna.TrialPruned:
            self.runs.end_trial(run_id, TrialState.PRUNED)
            raise
        except BaseException:
            self.runs.end_trial(run_id, TrialState.FAIL)
            raise
        self.runs.end_trial(run_id, TrialState.COMPLETE, value)
        return value

    def _train(self, trial: Trial, trial_config: TrainConfig, run_id: str) -> float:
        """Train; the trial's value is its best epoch's metric."""
        metric = self.tuning.metric
        better = max if self.tuning.direction == "maximize" else min
        values: list[float] = []

        def on_epoch_end(epoch: int, metrics: dict[str, float]) -> None:
            self.runs.log_epoch(run_id, epoch, metrics)
            if metric not in metrics:
                raise TuningError(f"the trainer reported no {metric!r} (has: {sorted(metrics)})")
            values.append(metrics[metric])
            trial.report(metrics[metric], step=epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"epoch {epoch}: {metric}={metrics[metric]:.5g}")

        run_dir = (
            self.settings.runs_dir / "tune" / trial.study.study_name / f"trial-{trial.number:04d}"
        )
        try:
            train_model(trial_config, self.data_yaml, run_dir, self.settings, on_epoch_end)
        finally:
            # The final training retrains with the best params; trial weights are not kept.
            shutil.rmtree(run_dir / "weights", ignore_errors=True)
        if not values:
            raise TuningError(f"trial {trial.number} ended before its first epoch")
        return better(values)


def _suggest(trial: Trial, name: str, space: FloatParam | IntParam | CategoricalParam) -> Any:
    if isinstance(space, FloatParam):
        return trial.suggest_float(name, space.low, space.high, log=space.log, step=space.step)
    if isinstance(space, IntParam):
        return trial.suggest_int(name, space.low, space.high, step=space.step, log=space.log)
    return trial.suggest_categorical(name, space.choices)


def _claimed_before(trials: list[FrozenTrial], number: int) -> int:
    """Trials numbered before ``number`` that are finished, running or queued."""
    return sum(t.number < number and t.state in CLAIMED for t in trials)


def _result(
    study: Study, tuning: TuningConfig, storage_url: str, parent_run_id: str
) -> TuningResult:
    trials = study.get_trials(deepcopy=False)
    counts = Counter(t.state for t in trials if not t.user_attrs.get(SURPLUS_ATTR))
    if not counts[TrialState.COMPLETE]:
        raise TuningError(
            f"study {study.study_name!r} has no complete trial "
            f"({counts[TrialState.PRUNED]} pruned, {counts[TrialState.FAIL]} failed)"
        )
    best = study.best_trial
    return TuningResult(
        study_name=study.study_name,
        storage_url=storage_url,
        metric=tuning.metric,
        direction=tuning.direction,
        best_value=float(best.value),
        best_params=dict(best.params),
        best_trial=best.number,
        n_complete=counts[TrialState.COMPLETE],
        n_pruned=counts[TrialState.PRUNED],
        n_failed=counts[TrialState.FAIL],
        parent_run_id=parent_run_id,
    )
