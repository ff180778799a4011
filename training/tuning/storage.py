"""The Optuna side of a study: RDB storage with heartbeats, the seeded sampler, the pruner.

Workers share a study through one RDB URL (sqlite for processes on one machine, PostgreSQL
for containers); Optuna's storage is the only thing they coordinate through.
"""

import contextlib
import functools
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import sqlalchemy
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, TPESampler
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from training.tuning.config import HeartbeatConfig, PrunerConfig, SamplerConfig

LostTrialCallback = Callable[[FrozenTrial], None]
"""Called with a trial whose worker stopped sending heartbeats (now FAIL), before its retry."""


@contextlib.contextmanager
def quiet_experimental() -> Iterator[None]:
    """Heartbeats and their retry callback are Optuna features marked experimental since 2.x."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def redact_url(url: str) -> str:
    """The storage URL without its password: ``postgresql+psycopg2://user:***@host/db``."""
    return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)


def open_storage(
    url: str, heartbeat: HeartbeatConfig, on_lost: LostTrialCallback, attempts: int = 5
) -> RDBStorage:
    """An ``RDBStorage`` whose stale trials are failed, reported to ``on_lost`` and retried.

    Several workers starting at once may race to create Optuna's tables on a new database;
    the loser's error is retried (``attempts`` times, 1 s apart).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database cannot be reached or initialised.
    """
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # Concurrent writers wait for sqlite's lock instead of failing after 5 s.
        engine_kwargs = {"connect_args": {"timeout": 60}}
    with quiet_experimental():
        retry = RetryHeartbeatStaleTrialCallback(max_retry=heartbeat.max_retry)

    def lost(study: Study, trial: FrozenTrial) -> None:
        on_lost(trial)
        retry(study, trial)

    make = functools.partial(
        RDBStorage,
        url,
        engine_kwargs=engine_kwargs,
        heartbeat_interval=heartbeat.interval_s,
        grace_period=heartbeat.grace_period_s,
        heartbeat_stale_trial_callback=lost,
    )
    with quiet_experimental():
        for _ in range(attempts - 1):
            try:
                return make()
            except sqlalchemy.exc.SQLAlchemyError:
                time.sleep(1.0)
        return make()


def fail_lost_trials(study: Study) -> None:
    """Fail (and re-queue) trials whose heartbeat stopped: ``optuna.storages.fail_stale_trials``."""
    with quiet_experimental():
        optuna.storages.fail_stale_trials(study)


def build_pruner(config: PrunerConfig) -> optuna.pruners.MedianPruner:
    return optuna.pruners.MedianPruner(
        n_startup_trials=config.n_startup_trials,
        n_warmup_steps=config.n_warmup_steps,
        interval_steps=config.interval_steps,
    )


def build_sampler(config: SamplerConfig) -> BaseSampler:
    if config.seed is None:
        return TPESampler(n_startup_trials=config.n_startup_trials)
    return TrialSeededTPESampler(config.seed, n_startup_trials=config.n_startup_trials)


class TrialSeededTPESampler(BaseSampler):
    """``TPESampler`` whose random state for trial ``n`` is seeded from ``(seed, n)``.

    One ``TPESampler(seed=s)`` per worker would give every worker the same random draws, so
    two workers would run the same parameters, and a resumed worker would repeat the first
    trials' draws. A fresh TPE per trial number keeps a one-worker study reproducible and
    every trial's draw its own; the history TPE models is read from the storage either way.
    """

    def __init__(self, seed: int, **tpe_options: Any) -> None:
        self._seed = seed
        self._options = tpe_options
        self._current: tuple[int, TPESampler] | None = None

    def _for(self, trial: FrozenTrial) -> TPESampler:
        if self._current is None or self._current[0] != trial.number:
            seed = int(np.random.SeedSequence([self._seed, trial.number]).generate_state(1)[0])
            self._current = (trial.number, TPESampler(seed=seed, **self._options))
        return self._current[1]

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._for(trial).infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._for(trial).before_trial(study, trial)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: list[float] | None,
    ) -> None:
        self._for(trial).after_trial(study, trial, state, values)
