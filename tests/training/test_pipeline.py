"""End to end: the smoke training registers a version in MLflow and publishes it to S3."""

import hashlib
import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from predict.manifest import ModelManifest
from training.pipeline import PublishedModel
from training.settings import TrainingSettings

pytestmark = pytest.mark.slow


def test_registered_version_exists(
    smoke_run: PublishedModel, smoke_settings: TrainingSettings
) -> None:
    uri = smoke_settings.mlflow_db_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = client.get_model_version(smoke_settings.registered_model_name, smoke_run.version)
    assert version.run_id == smoke_run.run_id
    assert version.tags["s3_uri"] == f"s3://models-test/{smoke_run.onnx_key}"
    assert version.tags["dvc_data_version"].endswith(".dir")


def test_run_has_params_metrics_and_lineage_tags(
    smoke_run: PublishedModel, smoke_settings: TrainingSettings
) -> None:
    uri = smoke_settings.mlflow_db_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run = client.get_run(smoke_run.run_id)
    assert run.data.params["train.optimizer"] == "AdamW"
    assert run.data.params["export.input_hw"] == "128x160"
    for key in ("test_mAP50", "test_mAP50-95", "test_precision", "test_recall"):
        assert key in run.data.metrics
    history = client.get_metric_history(smoke_run.run_id, "metrics/mAP50_B")
    epochs = int(run.data.params["train.epochs"])
    assert [m.step for m in history] == list(range(1, epochs + 1))
    assert "best_mAP50_B" in run.data.metrics
    # The tag names themselves are pinned in test_lineage.py.
    assert len(smoke_run.tags) == 8
    for tag, value in smoke_run.tags.items():
        assert value, tag
        assert run.data.tags[tag] == value, tag
    artifact_uri = run.info.artifact_uri
    assert artifact_uri.startswith(smoke_settings.artifact_location), artifact_uri


def test_s3_objects_match_the_manifest(
    smoke_run: PublishedModel, smoke_settings: TrainingSettings
) -> None:
    s3 = smoke_settings.client("s3")
    body = s3.get_object(Bucket="models-test", Key=smoke_run.onnx_key)["Body"].read()
    manifest = ModelManifest.model_validate(
        json.loads(s3.get_object(Bucket="models-test", Key=smoke_run.manifest_key)["Body"].read())
    )
    assert smoke_run.onnx_key == f"models/detector-test/{smoke_run.version}/model.onnx"
    assert hashlib.sha256(body).hexdigest() == manifest.sha256 == smoke_run.sha256
    assert manifest.size_bytes == len(body)
    assert manifest.version == smoke_run.version
    assert manifest.imgsz == (128, 160)
    assert manifest.class_names == {0: "rectangle", 1: "ellipse", 2: "triangle"}
    assert manifest.mlflow_run_id == smoke_run.run_id
    assert set(manifest.metrics) == {"mAP50", "mAP50-95", "precision", "recall"}


def test_no_stray_mlruns_directory(smoke_run: PublishedModel) -> None:
    from training.settings import REPO_ROOT

    assert not (REPO_ROOT / "mlruns").exists()
    assert not (Path.cwd() / "mlruns").exists()
