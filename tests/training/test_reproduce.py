"""``reproduce``: the smoke run's inputs match the working tree and re-running its config
trains the same model; a run whose commit or data differ is refused and nothing trains."""

import re
from collections.abc import Iterator

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from tests.training.support import make_dvc_project
from training.cli import EXIT_NOT_REPRODUCIBLE, app
from training.config import parse_config
from training.datasets import ensure_dataset
from training.lineage import dvc_data_version, git_commit
from training.reproduce import REPRODUCES_TAG, plan_reproduction, reproduce
from training.run import PipelineResult
from training.settings import TrainingSettings
from training.tracking import configure_mlflow

runner = CliRunner()


def _client(settings: TrainingSettings) -> MlflowClient:
    return MlflowClient(tracking_uri=settings.mlflow_db_uri, registry_uri=settings.mlflow_db_uri)


@pytest.mark.slow
def test_the_smoke_run_reproduces(
    smoke_run: PipelineResult, smoke_settings: TrainingSettings
) -> None:
    original = smoke_run.trained.run_id
    plan = plan_reproduction(original, smoke_settings)
    assert plan.mismatches == []
    checks = {check.name: check for check in plan.checks}
    assert checks["git_commit"].current == git_commit()
    assert checks["dvc_data_version"].recorded == smoke_run.dataset.data_version
    assert plan.config == smoke_run.trained.config

    result = reproduce(plan, smoke_settings)

    client = _client(smoke_settings)
    new, old = client.get_run(result.trained.run_id), client.get_run(original)
    assert new.data.tags[REPRODUCES_TAG] == original
    for tag in ("config_hash", "dvc_data_version", "git_commit"):
        assert new.data.tags[tag] == old.data.tags[tag], tag
    # Seeded, deterministic CPU training: the same losses epoch by epoch, the same model.
    for metric in ("train/box_loss", "train/cls_loss", "metrics/mAP50-95_B"):
        before = [m.value for m in client.get_metric_history(original, metric)]
        after = [m.value for m in client.get_metric_history(result.trained.run_id, metric)]
        assert after == pytest.approx(before, abs=1e-6), metric
    assert result.exported.metrics == pytest.approx(smoke_run.exported.metrics, abs=1e-6)
    assert not result.registration.promoted
    assert result.registration.version != smoke_run.registration.version
    serving = smoke_settings.client("ssm").get_parameter(Name=smoke_settings.alias_parameter)
    assert serving["Parameter"]["Value"] == smoke_run.registration.version


@pytest.fixture(scope="module")
def recorded_run(tmp_path_factory) -> Iterator[tuple[str, TrainingSettings]]:
    """A real MLflow run as the pipeline records one, made from another commit and other
    data than the working tree has now; ``DETECTOR_STATE_DIR`` points the CLI at it."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DETECTOR_STATE_DIR", str(tmp_path_factory.mktemp("recorded")))
        env.setenv("DETECTOR_DVC_ROOT", str(make_dvc_project(tmp_path_factory.mktemp("dvc"))))
        yield _record_run(TrainingSettings())


def _record_run(settings: TrainingSettings) -> tuple[str, TrainingSettings]:
    config = parse_config(
        {"name": "old", "data": {"synthetic": {"seed": 9, "n_train": 3, "n_val": 1, "n_test": 1}}}
    )
    dataset = ensure_dataset(config.data, settings)
    experiment_id = configure_mlflow(settings)
    tags = {
        "git_commit": "0" * 40,
        "git_dirty": "false",
        "config_hash": config.config_hash(),
        "dvc_data_version": "0123456789abcdef0123456789abcdef.dir",
    }
    with mlflow.start_run(experiment_id=experiment_id, tags=tags) as run:
        mlflow.log_dict(config.model_dump(mode="json"), "config.yaml")
    assert dvc_data_version(dataset) != tags["dvc_data_version"]
    return run.info.run_id, settings


def test_mismatched_commit_and_data_are_refused(recorded_run) -> None:
    run_id, settings = recorded_run
    result = runner.invoke(app, ["reproduce", run_id])
    assert result.exit_code == EXIT_NOT_REPRODUCIBLE, result.output
    assert "MISMATCH  git_commit" in result.output
    assert "MISMATCH  dvc_data_version" in result.output
    assert re.search(r"ok\s+config_hash", result.output)
    assert "git_commit, dvc_data_version differ from the run; nothing trained" in result.output
    experiment = _client(settings).get_experiment_by_name(settings.experiment_name)
    assert len(_client(settings).search_runs([experiment.experiment_id])) == 1


def test_check_only_prints_and_trains_nothing(recorded_run) -> None:
    run_id, settings = recorded_run
    result = runner.invoke(app, ["reproduce", run_id, "--check-only", "--allow-mismatch"])
    assert result.exit_code == 0, result.output
    assert "MISMATCH  git_commit" in result.output
    assert not (settings.state_dir / "runs").exists()


def test_unknown_run_is_a_clear_error(recorded_run) -> None:
    result = runner.invoke(app, ["reproduce", "f" * 32])
    assert result.exit_code == EXIT_NOT_REPRODUCIBLE
    assert f"no MLflow run '{'f' * 32}'" in result.output
