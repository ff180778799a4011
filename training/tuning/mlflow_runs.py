"""MLflow runs of a study: one parent run per study, one nested run per trial.

Nesting is MLflow's ``mlflow.parentRunId`` tag, so trial runs made by any worker, in any
process or container, appear under the same parent in the UI. Every call names its run id
on an ``MlflowClient`` with explicit URIs (see ``release/registry.py``): no fluent active run
that a trial in the same process could end or inherit.
"""

import contextlib
import fcntl
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from optuna.study import Study
from optuna.trial import TrialState

from training.settings import TrainingSettings
from training.tracking import configure_mlflow
from training.tuning.storage import quiet_experimental

log = logging.getLogger(__name__)

_STATUS = {
    TrialState.COMPLETE: "FINISHED",
    TrialState.PRUNED: "FINISHED",
    TrialState.FAIL: "FAILED",
}
TRIAL_STATE_TAG = "optuna.trial_state"
"""``COMPLETE``, ``PRUNED`` or ``FAIL`` (MLflow's status says FINISHED for the first two)."""
MIN_TRIALS_FOR_IMPORTANCES = 2


def _params(values: dict[str, Any]) -> list[Param]:
    # MLflow caps a value at 6000 characters and rejects None.
    return [Param(k, "" if v is None else str(v)[:6000]) for k, v in values.items()]


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """An advisory lock across processes on this machine (released when the file closes)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


class StudyRuns:
    """The MLflow side of one study, in experiment ``experiment_id`` at ``tracking_uri``."""

    def __init__(self, tracking_uri: str, experiment_id: str) -> None:
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self.experiment_id = experiment_id

    @classmethod
    def open(cls, settings: TrainingSettings) -> "StudyRuns":
        """The runs of ``settings``' experiment (``training.tracking.configure_mlflow``).

        Workers may start together: on a sqlite database one process at a time (MLflow
        migrates a new database on first use, and concurrent migrations all fail); elsewhere
        a worker that lost the race to create the experiment looks it up again.
        """
        uri = settings.mlflow_db_uri
        sqlite = uri.startswith("sqlite:///")
        lock = _exclusive(Path(uri.removeprefix("sqlite:///") + ".lock")) if sqlite else None
        with lock or contextlib.nullcontext():
            try:
                experiment_id = configure_mlflow(settings)
            except MlflowException:  # created by another worker since the lookup
                experiment_id = configure_mlflow(settings)
        return cls(uri, experiment_id)

    def create_parent(
        self,
        study_name: str,
        tags: dict[str, str],
        params: dict[str, Any],
        documents: dict[str, dict[str, Any]],
    ) -> str:
        """Start the study's parent run; ``documents`` are logged as YAML/JSON artifacts."""
        run = self.client.create_run(self.experiment_id, run_name=f"tune-{study_name}", tags=tags)
        run_id = run.info.run_id
        self.client.log_batch(run_id, params=_params(params))
        for artifact_file, document in documents.items():
            self.client.log_dict(run_id, document, artifact_file)
        return run_id

    def start_trial(
        self, parent_run_id: str, number: int, tags: dict[str, str], params: dict[str, Any]
    ) -> str:
        """Start the nested run of trial ``number``."""
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"trial-{number:04d}",
            tags={MLFLOW_PARENT_RUN_ID: parent_run_id, "optuna.trial_number": str(number), **tags},
        )
        self.client.log_batch(run.info.run_id, params=_params(params))
        return run.info.run_id

    def log_epoch(self, run_id: str, epoch: int, metrics: dict[str, float]) -> None:
        stamp = int(time.time() * 1000)
        self.client.log_batch(
            run_id, metrics=[Metric(k, v, stamp, epoch) for k, v in metrics.items()]
        )

    def end_trial(self, run_id: str, state: TrialState, value: float | None = None) -> None:
        """Record the trial's Optuna state and end its run."""
        self.client.set_tag(run_id, TRIAL_STATE_TAG, state.name)
        if value is not None:
            self.client.log_metric(run_id, "objective", value)
        self.client.set_terminated(run_id, _STATUS[state])

    def is_running(self, run_id: str) -> bool:
        return self.client.get_run(run_id).info.status == "RUNNING"

    def finish_parent(
        self,
        run_id: str,
        study: Study,
        best_params: dict[str, Any],
        best_value: float,
        tags: dict[str, str],
    ) -> None:
        """Log the best params (params and ``best_params.json``), the plots; end the run.

        Two workers finishing together may both call this: every value they log is the same.
        """
        self.client.log_batch(
            run_id, params=_params({f"best.{k}": v for k, v in best_params.items()})
        )
        self.client.log_metric(run_id, "best_value", best_value)
        self.client.log_dict(run_id, best_params, "best_params.json")
        for key, value in tags.items():
            self.client.set_tag(run_id, key, value)
        self._log_plots(run_id, study)
        self.client.set_terminated(run_id, "FINISHED")

    def _log_plots(self, run_id: str, study: Study) -> None:
        """Optuna's matplotlib plots as PNG: optimization history, parameter importances."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from optuna.visualization.matplotlib import (
            plot_optimization_history,
            plot_param_importances,
        )

        with quiet_experimental():
            figure = plot_optimization_history(study).figure
            self.client.log_figure(run_id, figure, "plots/optimization_history.png")
            plt.close(figure)
            complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
            if complete < MIN_TRIALS_FOR_IMPORTANCES:
                self._note_no_importances(
                    run_id, f"{complete} complete trial(s), needs {MIN_TRIALS_FOR_IMPORTANCES}"
                )
                return
            try:
                figure = plot_param_importances(study).figure
            except (ValueError, RuntimeError) as error:
                self._note_no_importances(run_id, str(error))
                return
            self.client.log_figure(run_id, figure, "plots/param_importances.png")
            plt.close(figure)

    def _note_no_importances(self, run_id: str, reason: str) -> None:
        log.warning("no parameter importances plot: %s", reason)
        self.client.set_tag(run_id, "optuna.param_importances", f"not plotted: {reason}")
