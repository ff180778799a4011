"""End to end: the smoke run of the ZenML pipeline registers a version in MLflow, publishes it
to S3, passes both gates and is promoted (MLflow ``champion`` and the SSM alias)."""

import hashlib
import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from predict.manifest import ModelManifest
from tests.training.test_lineage import LINEAGE_TAGS
from training.run import PipelineResult
from training.settings import TrainingSettings

pytestmark = pytest.mark.slow

STEPS = ["ingest", "tune", "train", "evaluate", "export", "register"]


def _client(settings: TrainingSettings) -> MlflowClient:
    uri = settings.mlflow_db_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_zenml_ran_every_step_and_tracked_their_outputs(smoke_run: PipelineResult) -> None:
    from zenml.client import Client

    run = Client().get_pipeline_run(smoke_run.run_name)
    assert str(run.status) == "completed"
    assert list(run.steps) == STEPS
    assert all(str(step.status) == "completed" for step in run.steps.values())
    registration = run.steps["register"].outputs["registration"][0].load()
    assert registration == smoke_run.registration


def test_registered_version_exists(
    smoke_run: PipelineResult, smoke_settings: TrainingSettings
) -> None:
    registration = smoke_run.registration
    version = _client(smoke_settings).get_model_version(
        smoke_settings.registered_model_name, registration.version
    )
    assert version.run_id == smoke_run.trained.run_id
    assert version.tags["s3_uri"] == f"s3://models-test/{registration.onnx_key}"
    assert version.tags["dvc_data_version"] == smoke_run.dataset.data_version
    assert version.tags["promotion"] == registration.decision


def test_run_has_params_metrics_plots_and_lineage_tags(
    smoke_run: PipelineResult, smoke_settings: TrainingSettings
) -> None:
    client = _client(smoke_settings)
    run = client.get_run(smoke_run.trained.run_id)
    assert run.data.params["train.optimizer"] == "AdamW"
    assert run.data.params["export.input_hw"] == "128x160"
    for prefix in ("test", "pytorch_test"):
        for key in ("mAP50", "mAP50-95", "precision", "recall"):
            assert f"{prefix}_{key}" in run.data.metrics
    assert run.data.metrics["test_mAP50-95"] == smoke_run.exported.metrics["mAP50-95"]
    history = client.get_metric_history(smoke_run.trained.run_id, "metrics/mAP50_B")
    epochs = int(run.data.params["train.epochs"])
    assert [m.step for m in history] == list(range(1, epochs + 1))
    assert "best_mAP50_B" in run.data.metrics
    for tag in LINEAGE_TAGS:
        assert run.data.tags[tag], tag
    assert run.data.tags["config_hash"] == smoke_run.trained.config.config_hash()
    assert run.data.tags["gate.parity"] == "passed"
    plots = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "training_plots")}
    assert {"results.png", "results.csv", "confusion_matrix.png", "labels.jpg"} <= plots
    assert run.info.artifact_uri.startswith(smoke_settings.artifact_location)


def test_parity_gate_compared_real_detections(
    smoke_run: PipelineResult, smoke_settings: TrainingSettings
) -> None:
    parity = smoke_run.exported.parity
    gates = smoke_run.trained.config.gates
    assert parity.images == 16
    assert parity.matched >= 10, "the smoke model must find objects for parity to mean anything"
    assert parity.max_box_diff_px <= gates.parity_box_tolerance_px
    assert parity.unmatched == []
    assert parity.onnx_map50_95 == smoke_run.exported.metrics["mAP50-95"]
    assert parity.pytorch_map50_95 == smoke_run.pytorch_metrics["mAP50-95"]
    logged = _client(smoke_settings).get_run(smoke_run.trained.run_id).data.metrics
    assert logged["parity_max_box_diff_px"] == parity.max_box_diff_px


def test_first_version_is_promoted_to_both_aliases(
    smoke_run: PipelineResult, smoke_settings: TrainingSettings
) -> None:
    registration = smoke_run.registration
    assert registration.promoted, registration.decision
    assert registration.champion_before is None
    assert registration.decision.startswith("promoted: mAP50-95 ")
    alias = smoke_settings.client("ssm").get_parameter(Name=smoke_settings.alias_parameter)
    assert alias["Parameter"]["Value"] == registration.version
    champion = _client(smoke_settings).get_model_version_by_alias(
        smoke_settings.registered_model_name, "champion"
    )
    assert str(champion.version) == registration.version


def test_s3_objects_match_the_manifest(
    smoke_run: PipelineResult, smoke_settings: TrainingSettings
) -> None:
    registration = smoke_run.registration
    s3 = smoke_settings.client("s3")
    body = s3.get_object(Bucket="models-test", Key=registration.onnx_key)["Body"].read()
    manifest = ModelManifest.model_validate(
        json.loads(
            s3.get_object(Bucket="models-test", Key=registration.manifest_key)["Body"].read()
        )
    )
    assert registration.onnx_key == f"models/detector-test/{registration.version}/model.onnx"
    assert hashlib.sha256(body).hexdigest() == manifest.sha256 == registration.sha256
    assert manifest.size_bytes == len(body)
    assert manifest.version == registration.version
    assert manifest.imgsz == (128, 160)
    assert manifest.class_names == {0: "rectangle", 1: "ellipse", 2: "triangle"}
    assert manifest.mlflow_run_id == smoke_run.trained.run_id
    assert manifest.metrics == smoke_run.exported.metrics


def test_no_stray_mlruns_directory(smoke_run: PipelineResult) -> None:
    from training.settings import REPO_ROOT

    assert not (REPO_ROOT / "mlruns").exists()
    assert not (Path.cwd() / "mlruns").exists()
