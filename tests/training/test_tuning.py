"""Tuning: the study file, the sampler and pruner, and real tiny studies.

The slow tests train YOLO11n for real (imgsz 64, 8 training images, 1-3 epochs). From
scratch its validation mAP is 0 for the first epochs, so mAP cannot order trials here; the
learning rate the trainer reports per epoch (``lr/pg0``, equal to ``lr0`` in epoch 1 with
no warmup) can. Studies whose pruning is asserted use it as their metric, which makes the
pruner's decision known in advance while training, the per-epoch hook and MLflow are real.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy
import yaml
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState
from typer.testing import CliRunner

from training.cli import EXIT_CONFIG_ERROR, app
from training.config import ConfigError, TrainConfig, TrainParams, load_config, parse_config
from training.datasets import ensure_dataset
from training.lineage import lineage_tags
from training.settings import REPO_ROOT, TrainingSettings
from training.tuning.config import (
    PrunerConfig,
    SamplerConfig,
    TuningConfig,
    load_tuning_config,
    parse_tuning_config,
)
from training.tuning.mlflow_runs import TRIAL_STATE_TAG, StudyRuns
from training.tuning.storage import build_pruner, build_sampler, redact_url
from training.tuning.study import SurplusTrial, TrialObjective, TuningResult, tune

SPACE = {
    "lr0": {"type": "float", "low": 1.0e-4, "high": 1.0e-2, "log": True},
    "batch": {"type": "categorical", "choices": [4, 8]},
    "optimizer": {"type": "categorical", "choices": ["SGD", "AdamW"]},
}
TINY_CONFIG = {
    "data": {
        "synthetic": {
            "seed": 2,
            "n_train": 8,
            "n_val": 4,
            "n_test": 2,
            "width": [64, 96],
            "height": [64, 96],
        }
    },
    "train": {"imgsz": 64, "batch": 4, "warmup_epochs": 0, "close_mosaic": 0},
}


def tuning_raw(**changes: Any) -> dict[str, Any]:
    raw = {
        "metric": "lr/pg0",
        "n_trials": 3,
        "epochs": 2,
        # Seed 7 draws lr0 = 0.00173, 0.00047, 0.00925 for trials 0, 1, 2 (random startup).
        "sampler": {"seed": 7, "n_startup_trials": 10},
        "pruner": {"n_startup_trials": 1, "n_warmup_steps": 0, "interval_steps": 1},
        "heartbeat": {"interval_s": 1, "grace_period_s": 3, "max_retry": 1},
        "search_space": SPACE,
    }
    return {**raw, **changes}


def client_for(settings: TrainingSettings) -> MlflowClient:
    uri = settings.mlflow_db_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def trial_runs(settings: TrainingSettings, parent_run_id: str) -> list:
    client = client_for(settings)
    experiment = client.get_experiment_by_name(settings.experiment_name)
    return client.search_runs(
        [experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{parent_run_id}'"
    )


# --- The study file -------------------------------------------------------------------------


def test_repo_study_file_searches_explicit_optimizers() -> None:
    tuning = load_tuning_config("configs/optuna.yaml")
    assert tuning.direction == "maximize"
    assert tuning.metric == "metrics/mAP50-95_B"
    assert set(tuning.search_space) == {"lr0", "batch", "optimizer"}
    lr0, batch, optimizer = (tuning.search_space[k] for k in ("lr0", "batch", "optimizer"))
    assert (lr0.type, lr0.log) == ("float", True)
    assert batch.type == optimizer.type == "categorical"
    assert "auto" not in optimizer.choices
    assert set(tuning.search_space) <= set(TrainParams.model_fields)


def test_training_configs_point_at_the_repo_study_file() -> None:
    assert TrainConfig(name="x").tune.config == Path("configs/optuna.yaml")
    assert (REPO_ROOT / "configs" / "optuna.yaml").is_file()


def _space(**param: Any) -> dict[str, Any]:
    return {"search_space": param}


LR = {"type": "float", "low": 1e-4, "high": 1e-2}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({**_space(lr0=LR), "n_trail": 3}, r"n_trail: Extra inputs are not permitted"),
        (_space(lr0={**LR, "lg": True}), r"search_space\.lr0\.lg: Extra inputs"),
        (_space(lr0={**LR, "low": 0.1}), r"search_space\.lr0: low \(0\.1\) is greater than high"),
        (
            _space(lr0={**LR, "low": 0, "log": True}),
            r"search_space\.lr0: a log range needs low > 0",
        ),
        (_space(batch={"type": "int", "low": -8, "high": 8, "log": True}), r"search_space\.batch"),
        (_space(batch={"type": "categorical", "choices": []}), r"search_space\.batch\.choices"),
        (_space(lr={**LR}), r"search_space\.lr: not a train parameter"),
        (
            _space(optimizer={"type": "categorical", "choices": ["SGD", "auto"]}),
            r"search_space\.optimizer: 'auto' is not a valid train\.optimizer",
        ),
        (_space(batch={"type": "float", "low": 8, "high": 16}), r"search_space\.batch: 8\.0"),
        (
            _space(imgsz={"type": "int", "low": 64, "high": 320, "step": 16}),
            r"search_space\.imgsz: 80 .*multiple of 32",
        ),
        (_space(mosaic={"type": "float", "low": 0.5, "high": 1.5}), r"search_space\.mosaic: 1\.5"),
        (_space(epochs={"type": "int", "low": 1, "high": 3}), r"search_space\.epochs"),
        (_space(lr0={**LR, "type": "loguniform"}), r"search_space\.lr0: Input tag 'loguniform'"),
        ({"search_space": {}}, r"search_space: Dictionary should have at least 1 item"),
        ({**_space(lr0=LR), "metric": "mAP"}, r"metric: Input should be"),
        ({**_space(lr0=LR), "direction": "up"}, r"direction: Input should be"),
        (
            {**_space(lr0=LR), "n_trials": 0},
            r"n_trials: Input should be greater than or equal to 1",
        ),
        (
            {**_space(lr0=LR), "heartbeat": {"interval_s": 10, "grace_period_s": 10}},
            r"heartbeat: grace_period_s \(10\) must exceed interval_s",
        ),
        ({**_space(lr0=LR), "study_name": "a b"}, r"study_name: String should match"),
    ],
)
def test_bad_study_files_are_config_errors_naming_the_key(
    raw: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_tuning_config(raw, "x.yaml")


def test_study_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read tuning config"):
        load_tuning_config(tmp_path / "absent.yaml")
    path = tmp_path / "list.yaml"
    path.write_text("- lr0\n")
    with pytest.raises(ConfigError, match=f"tuning config {path} must be a mapping"):
        load_tuning_config(path)
    path.write_text("search_space:\n  lr0: {type: float, low: 1, high: 0}\n")
    with pytest.raises(ConfigError, match=rf"invalid tuning config {path}: search_space\.lr0"):
        load_tuning_config(path)


def test_valid_space_keeps_its_values() -> None:
    tuning = parse_tuning_config(
        _space(lr0={**LR, "log": True}, imgsz={"type": "int", "low": 64, "high": 128, "step": 32})
    )
    assert tuning.search_space["lr0"].low == pytest.approx(1e-4)
    assert tuning.search_space["imgsz"].step == 32
    assert tuning.with_n_trials(None).n_trials == 20
    assert tuning.with_n_trials(4).n_trials == 4


def test_storage_url_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (
        TrainingSettings(state_dir=tmp_path).optuna_storage_url
        == f"sqlite:///{tmp_path}/optuna/optuna.db"
    )
    url = sqlalchemy.URL.create(
        "postgresql+psycopg2", "trainer", "s3cret", "postgres", database="optuna"
    ).render_as_string(hide_password=False)
    monkeypatch.setenv("DETECTOR_OPTUNA_STORAGE_URL", url)
    assert TrainingSettings(state_dir=tmp_path).optuna_storage_url == url
    assert redact_url(url) == "postgresql+psycopg2://trainer:***@postgres/optuna"


def test_cli_bad_study_file_exits_2_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DETECTOR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DETECTOR_DVC_ROOT", str(tmp_path / "project"))
    study_file = tmp_path / "optuna.yaml"
    study_file.write_text(
        yaml.safe_dump(_space(optimizer={"type": "categorical", "choices": ["auto"]}))
    )
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**TINY_CONFIG, "tune": {"config": str(study_file)}}))
    result = CliRunner().invoke(app, ["tune", "-c", str(config)])
    assert result.exit_code == EXIT_CONFIG_ERROR
    assert "search_space.optimizer: 'auto' is not a valid train.optimizer" in result.output
    assert not (tmp_path / "state").exists()  # no study, no MLflow run
    assert not (tmp_path / "project").exists()  # no dataset


# --- Sampler and pruner ---------------------------------------------------------------------


def _ask_params(study: optuna.Study) -> dict[str, Any]:
    trial = study.ask()
    params = {
        "lr0": trial.suggest_float("lr0", 1e-4, 1e-2, log=True),
        "optimizer": trial.suggest_categorical("optimizer", ["SGD", "AdamW"]),
    }
    study.tell(trial, params["lr0"])
    return params


def test_seeded_sampler_gives_workers_distinct_draws_and_repeats_per_seed(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/s.db"
    config = SamplerConfig(seed=0, n_startup_trials=2)
    first = optuna.create_study(storage=storage, study_name="s", sampler=build_sampler(config))
    second = optuna.load_study(storage=storage, study_name="s", sampler=build_sampler(config))
    draws = [_ask_params(worker) for _ in range(3) for worker in (first, second)]
    assert len({json.dumps(d, sort_keys=True) for d in draws}) == len(draws) == 6
    again = optuna.create_study(sampler=build_sampler(config))
    assert [_ask_params(again) for _ in range(6)] == draws  # TPE after 2, same history


def test_median_pruner_from_config_prunes_a_worse_trial_after_warmup() -> None:
    study = optuna.create_study(
        direction="maximize",
        pruner=build_pruner(PrunerConfig(n_startup_trials=1, n_warmup_steps=2)),
    )
    trial = study.ask()
    for step, value in enumerate([0.5, 0.6, 0.7], start=1):
        trial.report(value, step)
    study.tell(trial, 0.7)
    worse = study.ask()
    worse.report(0.1, 1)
    assert not worse.should_prune()  # step 1 < n_warmup_steps
    worse.report(0.1, 2)
    assert worse.should_prune()
    better = study.ask()
    better.report(0.9, 2)
    assert not better.should_prune()


@pytest.fixture(scope="module")
def tune_settings(tmp_path_factory: pytest.TempPathFactory) -> TrainingSettings:
    """One state dir (one MLflow database to initialise) for this module's in-process tests."""
    state = tmp_path_factory.mktemp("tune")
    return TrainingSettings(state_dir=state, dvc_root=state, experiment_name="tune")


def test_importances_need_two_complete_trials(tune_settings: TrainingSettings) -> None:
    settings = tune_settings
    runs = StudyRuns.open(settings)
    study = optuna.create_study(direction="maximize")
    study.add_trial(
        optuna.trial.create_trial(
            params={"lr0": 0.01},
            distributions={"lr0": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)},
            value=0.3,
        )
    )
    parent = runs.create_parent("one", {}, {}, {})
    runs.finish_parent(parent, study, {"lr0": 0.01}, 0.3, {})
    client = client_for(settings)
    run = client.get_run(parent)
    assert run.info.status == "FINISHED"
    assert run.data.params["best.lr0"] == "0.01"
    assert run.data.tags["optuna.param_importances"].startswith("not plotted: 1 complete")
    plots = {a.path for a in client.list_artifacts(parent, "plots")}
    assert plots == {"plots/optimization_history.png"}


def test_a_trial_asked_when_the_study_is_full_never_trains(tune_settings: TrainingSettings) -> None:
    """Two workers that both start the last trial: the later trial number steps back."""
    tuning = parse_tuning_config(tuning_raw(n_trials=2))
    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.trial.create_trial(value=0.1))  # finished
    study.ask()  # running on another worker
    objective = TrialObjective(
        parse_config({"name": "full", **TINY_CONFIG}),
        Path("/nonexistent/data.yaml"),
        tune_settings,
        tuning,
        StudyRuns.open(tune_settings),
        parent_run_id="none",
    )
    study.optimize(objective, n_trials=1, catch=(SurplusTrial,))
    surplus = study.trials[2]
    assert surplus.state == TrialState.FAIL
    assert surplus.user_attrs == {"surplus": True}  # no MLflow run, no params drawn
    assert surplus.params == {}


# --- A real tiny study ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_study(
    tune_settings: TrainingSettings,
) -> tuple[TuningResult, TrainingSettings, TrainConfig, TuningConfig]:
    """Three trials of two epochs; ``tune.n_trials=3`` overrides the file's 5."""
    settings = tune_settings
    config = parse_config({"name": "tiny", **TINY_CONFIG, "tune": {"n_trials": 3}})
    tuning = parse_tuning_config(tuning_raw(n_trials=5))
    data_yaml = ensure_dataset(config.data, settings) / "data.yaml"
    return tune(config, data_yaml, settings, tuning), settings, config, tuning


def _load_study(name: str, settings: TrainingSettings) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=settings.optuna_storage_url)


@pytest.mark.slow
def test_tiny_study_prunes_the_worse_trial(tiny_study) -> None:
    result, settings, _, _ = tiny_study
    trials = _load_study(result.study_name, settings).trials
    assert [t.state for t in trials] == [
        TrialState.COMPLETE,
        TrialState.PRUNED,
        TrialState.COMPLETE,
    ]
    assert (result.n_complete, result.n_pruned, result.n_failed) == (2, 1, 0)
    first, pruned, last = trials
    assert list(pruned.intermediate_values) == [1]  # stopped after its first epoch
    assert pruned.intermediate_values[1] < first.intermediate_values[1]
    assert last.intermediate_values[1] > first.intermediate_values[1]
    assert pruned.intermediate_values[1] == pytest.approx(pruned.params["lr0"])


@pytest.mark.slow
def test_best_params_come_from_the_study(tiny_study) -> None:
    result, settings, config, tuning = tiny_study
    study = _load_study(result.study_name, settings)
    assert result.best_params == study.best_trial.params
    assert result.best_trial == study.best_trial.number
    assert result.best_value == max(t.value for t in study.trials if t.value is not None)
    assert set(result.best_params) == set(tuning.search_space)
    final = config.with_train_params(**result.best_params)
    assert final.train.lr0 == result.best_params["lr0"]
    assert final.train.optimizer in ("SGD", "AdamW")
    assert final.train.epochs == config.train.epochs  # the final training keeps its own
    assert result.storage_url == settings.optuna_storage_url


@pytest.mark.slow
def test_each_trial_is_a_nested_mlflow_run(tiny_study) -> None:
    result, settings, _, _ = tiny_study
    study = _load_study(result.study_name, settings)
    runs = {
        int(r.data.tags["optuna.trial_number"]): r
        for r in trial_runs(settings, result.parent_run_id)
    }
    assert sorted(runs) == [t.number for t in study.trials]
    client = client_for(settings)
    for trial in study.trials:
        run = runs[trial.number]
        assert run.info.status == "FINISHED"
        assert run.data.tags[TRIAL_STATE_TAG] == trial.state.name
        assert float(run.data.params["train.lr0"]) == trial.params["lr0"]
        assert run.data.params["train.optimizer"] == trial.params["optimizer"]
        assert run.data.params["train.epochs"] == "2"
        history = client.get_metric_history(run.info.run_id, "lr/pg0")
        assert [(m.step, m.value) for m in history] == sorted(trial.intermediate_values.items())
        assert trial.user_attrs["mlflow_run_id"] == run.info.run_id


@pytest.mark.slow
def test_parent_run_has_lineage_best_params_and_plots(tiny_study, tmp_path: Path) -> None:
    result, settings, config, _ = tiny_study
    client = client_for(settings)
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED"
    lineage = lineage_tags(ensure_dataset(config.data, settings), config.config_hash())
    assert {k: parent.data.tags[k] for k in lineage} == lineage
    assert parent.data.tags["optuna.study_name"] == result.study_name
    for name, value in result.best_params.items():
        assert parent.data.params[f"best.{name}"] == str(value)
    assert parent.data.metrics["best_value"] == pytest.approx(result.best_value)
    best = Path(client.download_artifacts(result.parent_run_id, "best_params.json", str(tmp_path)))
    assert json.loads(best.read_text()) == result.best_params
    for plot in ("optimization_history", "param_importances"):
        path = client.download_artifacts(result.parent_run_id, f"plots/{plot}.png", str(tmp_path))
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", plot


@pytest.mark.slow
def test_finished_study_resumes_without_training(tiny_study) -> None:
    result, settings, config, tuning = tiny_study
    again = tune(config, Path("/nonexistent/data.yaml"), settings, tuning)  # trains nothing
    assert again == result
    assert len(_load_study(result.study_name, settings).trials) == 3


@pytest.mark.slow
def test_study_name_with_another_definition_is_refused(tiny_study) -> None:
    result, settings, config, tuning = tiny_study
    other = config.with_train_params(imgsz=96)
    named = tuning.model_copy(update={"study_name": result.study_name})
    with pytest.raises(ConfigError, match=r"differs in: train\.imgsz"):
        tune(other, Path("/nonexistent/data.yaml"), settings, named)


# --- Worker processes -------------------------------------------------------------------------


def _worker_files(tmp_path: Path, study_name: str, **tuning: Any) -> Path:
    """A training config (tiny data) whose ``tune.config`` is a study file in ``tmp_path``."""
    study_file = tmp_path / "optuna.yaml"
    study_file.write_text(yaml.safe_dump(tuning_raw(study_name=study_name, **tuning)))
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY_CONFIG, "tune": {"config": str(study_file)}}))
    return config


def _prepared_state(tmp_path: Path, config_path: Path) -> TrainingSettings:
    """The dataset exists before workers start, as after the ingest step (or `dvc pull`);
    the MLflow and Optuna databases do not: the workers create them."""
    settings = TrainingSettings(
        state_dir=tmp_path / "state",
        dvc_root=tmp_path,  # datasets in <tmp>/data, not the repository's
        optuna_storage_url=f"sqlite:///{tmp_path}/study.db",
    )
    ensure_dataset(load_config(config_path).data, settings)
    return settings


def _start_worker(config: Path, settings: TrainingSettings, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DETECTOR_STATE_DIR": str(settings.state_dir),
        "DETECTOR_DVC_ROOT": str(settings.dvc_root),
        "DETECTOR_OPTUNA_STORAGE_URL": settings.optuna_storage_url,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "training", "tune", "--config", str(config)],
        cwd=REPO_ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def _summary(log: Path) -> dict[str, Any]:
    """The JSON line ``python -m training tune`` prints last."""
    return json.loads(log.read_text().strip().splitlines()[-1])


@pytest.mark.slow
def test_killed_worker_trial_is_failed_and_retried(tmp_path: Path) -> None:
    config = _worker_files(tmp_path, "killed", n_trials=1, epochs=2)
    settings = _prepared_state(tmp_path, config)
    log = tmp_path / "killed.log"
    worker = _start_worker(config, settings, log)
    deadline = time.monotonic() + 300
    try:
        while True:  # kill it inside its trial, once the trial has its MLflow run
            assert worker.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no trial started"
            # The study exists once the worker says so (no table-creation race with it here).
            trials = _load_study("killed", settings).trials if "(new) at" in log.read_text() else []
            if trials and "mlflow_run_id" in trials[0].user_attrs:
                break
            time.sleep(0.5)
        time.sleep(1.5)  # a heartbeat or two (interval_s 1) on record
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    lost = _load_study("killed", settings).trials[0]
    assert lost.state == TrialState.RUNNING  # what a killed worker leaves behind

    time.sleep(3)  # grace_period_s: its heartbeat is stale now
    tuning = load_tuning_config(tmp_path / "optuna.yaml")
    cfg = load_config(config)
    data_yaml = ensure_dataset(cfg.data, settings) / "data.yaml"
    result = tune(cfg, data_yaml, settings, tuning)

    lost_again, retry = _load_study("killed", settings).trials
    assert lost_again.state == TrialState.FAIL
    assert retry.system_attrs["failed_trial"] == 0  # RetryHeartbeatStaleTrialCallback
    assert retry.state == TrialState.COMPLETE
    assert retry.params == lost.params
    assert (result.n_complete, result.n_failed, result.best_trial) == (1, 1, 1)
    runs = {
        r.data.tags["optuna.trial_number"]: r for r in trial_runs(settings, result.parent_run_id)
    }
    assert runs["0"].info.status == "FAILED"  # marked when its heartbeat was found stale
    assert runs["0"].data.tags[TRIAL_STATE_TAG] == "FAIL"
    assert runs["1"].data.tags["optuna.retry_of"] == "0"
    assert runs["1"].info.status == "FINISHED"


@pytest.mark.slow
def test_two_worker_processes_share_one_study(tmp_path: Path) -> None:
    """The issue's test: two `python -m training tune` processes on one sqlite study."""
    n_trials = 4
    config = _worker_files(
        tmp_path, "shared", n_trials=n_trials, epochs=1, metric="metrics/mAP50-95_B"
    )
    settings = _prepared_state(tmp_path, config)
    logs = [tmp_path / f"worker{i}.log" for i in (1, 2)]
    workers = [_start_worker(config, settings, log) for log in logs]
    for worker, log in zip(workers, logs, strict=True):
        assert worker.wait(timeout=600) == 0, log.read_text()[-3000:]

    study = _load_study("shared", settings)
    states = [t.state for t in study.trials if not t.user_attrs.get("surplus")]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == n_trials
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    param_sets = {json.dumps(t.params, sort_keys=True) for t in finished}
    assert len(param_sets) == n_trials  # no parameter set ran twice

    summaries = [_summary(log) for log in logs]
    assert summaries[0] == summaries[1]  # both waited for the study to complete
    parent_run_id = summaries[0]["parent_run_id"]
    runs = trial_runs(settings, parent_run_id)
    numbers = sorted(int(r.data.tags["optuna.trial_number"]) for r in runs)
    assert numbers == sorted(t.number for t in finished)  # one run per trial: none ran twice
    pids = {str(w.pid) for w in workers}
    assert {r.data.tags["optuna.worker"].rsplit(":", 1)[1] for r in runs} <= pids
    assert client_for(settings).get_run(parent_run_id).info.status == "FINISHED"
