"""The pipeline with tuning on: the tune step's best parameters are what the final training
runs with, its MLflow run points at the study, and a version below the quality floor is
registered and published but not promoted. A tiny dataset and study (2 trials of 1 epoch)
keep it to about two minutes on 2 cores."""

import pytest
import yaml
from mlflow.tracking import MlflowClient

from training.config import parse_config
from training.run import PipelineResult, run_pipeline
from training.settings import TrainingSettings

pytestmark = pytest.mark.slow

STUDY = {
    "metric": "metrics/mAP50-95_B",
    "n_trials": 2,
    "epochs": 1,
    "sampler": {"seed": 3, "n_startup_trials": 2},
    "pruner": {"n_startup_trials": 1, "n_warmup_steps": 0},
    "search_space": {
        "lr0": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "batch": {"type": "categorical", "choices": [4, 8]},
        "optimizer": {"type": "categorical", "choices": ["SGD", "AdamW"]},
    },
}


@pytest.fixture(scope="module")
def tuned_run(
    smoke_run: PipelineResult, smoke_settings: TrainingSettings, tmp_path_factory
) -> tuple[PipelineResult, dict]:
    """After the smoke run (which serves), a tuned tiny run; the config it was given."""
    study_file = tmp_path_factory.mktemp("study") / "optuna.yaml"
    study_file.write_text(yaml.safe_dump(STUDY))
    raw = {
        "name": "tiny-tuned",
        "data": {"synthetic": {"seed": 4, "n_train": 8, "n_val": 4, "n_test": 4}},
        "tune": {"enabled": True, "config": str(study_file)},
        "train": {"epochs": 2, "imgsz": 64, "batch": 4, "warmup_epochs": 0, "close_mosaic": 0},
        "gates": {"min_map50_95": 0.9},
    }
    return run_pipeline(parse_config(raw), smoke_settings), raw


def _client(settings: TrainingSettings) -> MlflowClient:
    return MlflowClient(tracking_uri=settings.mlflow_db_uri, registry_uri=settings.mlflow_db_uri)


def test_final_training_runs_with_the_studys_best_params(tuned_run) -> None:
    result, raw = tuned_run
    tuning = result.tuning
    assert tuning.enabled
    assert set(tuning.best_params) == {"lr0", "batch", "optimizer"}
    final = result.trained.config.train
    assert (final.lr0, final.batch, final.optimizer) == (
        tuning.best_params["lr0"],
        tuning.best_params["batch"],
        tuning.best_params["optimizer"],
    )
    assert final.epochs == raw["train"]["epochs"]  # trials ran 1 epoch, the final training 2
    assert not result.trained.config.tune.enabled  # reproduce re-trains without searching


def test_the_training_run_points_at_the_study(tuned_run, smoke_settings: TrainingSettings) -> None:
    result, raw = tuned_run
    client = _client(smoke_settings)
    run = client.get_run(result.trained.run_id)
    assert run.data.tags["tuning_parent_run_id"] == result.tuning.parent_run_id
    assert run.data.tags["requested_config_hash"] == parse_config(raw).config_hash()
    assert run.data.tags["config_hash"] == result.trained.config.config_hash()
    assert run.data.params["train.lr0"] == str(result.tuning.best_params["lr0"])
    trials = client.search_runs(
        [run.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{result.tuning.parent_run_id}'",
    )
    assert len(trials) == STUDY["n_trials"]


def test_a_version_below_the_floor_is_registered_not_promoted(
    tuned_run, smoke_run: PipelineResult, smoke_settings: TrainingSettings
) -> None:
    result, _ = tuned_run
    registration = result.registration
    assert not registration.promoted
    assert registration.champion_before == smoke_run.registration.version
    assert registration.decision.startswith("not promoted: mAP50-95 ")
    assert "is not above the floor 0.9" in registration.decision
    version = _client(smoke_settings).get_model_version(
        smoke_settings.registered_model_name, registration.version
    )
    assert version.tags["promotion"] == registration.decision
    s3 = smoke_settings.client("s3")
    assert s3.head_object(Bucket=registration.bucket, Key=registration.onnx_key)["ContentLength"]
    serving = smoke_settings.client("ssm").get_parameter(Name=smoke_settings.alias_parameter)
    assert serving["Parameter"]["Value"] == smoke_run.registration.version
