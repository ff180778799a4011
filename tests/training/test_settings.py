"""Training settings read from ``DETECTOR_`` environment variables."""

from pathlib import Path

import pytest

from training.settings import TrainingSettings


def test_defaults_run_on_the_embedded_stack(tmp_path: Path) -> None:
    settings = TrainingSettings(state_dir=tmp_path)
    assert settings.mlflow_db_uri == f"sqlite:///{tmp_path}/mlflow/mlflow.db"
    assert settings.artifact_location == (tmp_path / "mlflow" / "artifacts").as_uri()
    assert settings.aws_endpoint_url == "http://127.0.0.1:4566"
    assert settings.models_bucket == "detector-models"
    assert settings.registered_model_name == "detector"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DETECTOR_AWS_ENDPOINT_URL", "")
    monkeypatch.setenv("DETECTOR_MODELS_BUCKET", "other")
    monkeypatch.setenv("DETECTOR_REGISTERED_MODEL_NAME", "shapes")
    settings = TrainingSettings()
    assert settings.aws_endpoint_url is None
    assert settings.models_bucket == "other"
    assert settings.registered_model_name == "shapes"


def test_client_uses_endpoint_and_region() -> None:
    client = TrainingSettings(aws_endpoint_url="http://127.0.0.1:4599", aws_region="eu-west-1")
    s3 = client.client("s3")
    assert s3.meta.endpoint_url == "http://127.0.0.1:4599"
    assert s3.meta.region_name == "eu-west-1"
