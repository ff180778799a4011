"""Fixtures: a moto S3 bucket and SSM alias parameter, and a real sqlite MLflow registry."""

import hashlib
import json
import shutil
from pathlib import Path

import boto3
import pytest
from mlflow.tracking import MlflowClient
from moto import mock_aws

from predict.manifest import ModelManifest, manifest_key, onnx_key
from release.alias import ModelAlias
from release.settings import DeploymentSettings

MODEL = "detector"


@pytest.fixture
def settings(tmp_path, monkeypatch) -> DeploymentSettings:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return DeploymentSettings(
        aws_endpoint_url="",
        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        models_bucket="models-test",
        registered_model_name=MODEL,
        alias_parameter="/detector/test/model-alias",
        candidate_parameter="/detector/test/model-candidate",
    )


@pytest.fixture
def aws(settings):
    """moto-backed S3 and SSM with the stack's bucket, alias and candidate parameters
    ("none"), as template.yaml creates them."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=settings.aws_region)
        s3.create_bucket(Bucket=settings.models_bucket)
        ssm = boto3.client("ssm", region_name=settings.aws_region)
        for name in (settings.alias_parameter, settings.candidate_parameter):
            ssm.put_parameter(Name=name, Value="none", Type="String")
        yield s3, ssm


@pytest.fixture(scope="session")
def registry_template(tmp_path_factory) -> Path:
    """A sqlite MLflow DB holding registered model versions 1, 2 and 3 (built once)."""
    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    uri = f"sqlite:///{path}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(MODEL)
    for _ in range(3):
        client.create_model_version(MODEL, source=str(path.parent / "model"))
    return path


@pytest.fixture
def registry(settings, tmp_path, registry_template) -> MlflowClient:
    """A fresh copy of the template registry at ``settings.mlflow_tracking_uri``."""
    shutil.copy(registry_template, tmp_path / "mlflow.db")
    uri = settings.mlflow_db_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def publish(s3, settings: DeploymentSettings, version: str, onnx: bytes = b"onnx" * 100) -> None:
    """Upload model.onnx and a matching manifest.json for ``version``."""
    s3.put_object(Bucket=settings.models_bucket, Key=onnx_key(MODEL, version), Body=onnx)
    manifest = ModelManifest(
        model_name=MODEL,
        version=version,
        sha256=hashlib.sha256(onnx).hexdigest(),
        size_bytes=len(onnx),
        class_names={0: "rectangle", 1: "ellipse"},
        imgsz=(320, 320),
        metrics={"mAP50": 0.5},
    )
    s3.put_object(
        Bucket=settings.models_bucket,
        Key=manifest_key(MODEL, version),
        Body=json.dumps(manifest.model_dump(mode="json")).encode(),
    )


@pytest.fixture
def alias(settings, aws, registry) -> ModelAlias:
    s3, _ = aws
    for version in ("1", "2"):
        publish(s3, settings, version)
    return ModelAlias(settings)
