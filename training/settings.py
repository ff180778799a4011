"""Where the training job keeps its state and which AWS endpoint it talks to.

Every value can be set from the environment with the ``DETECTOR_`` prefix, e.g.
``DETECTOR_AWS_ENDPOINT_URL=`` (empty) for real AWS, ``DETECTOR_STATE_DIR=/tmp/x``.
The defaults run on the embedded stack: sqlite MLflow under ``.state/`` and the host
LocalStack at ``http://127.0.0.1:4566``.
"""

from pathlib import Path
from typing import Any

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class TrainingSettings(BaseSettings):
    """Settings of the training job (env prefix ``DETECTOR_``).

    Example:
        >>> TrainingSettings(state_dir="/tmp/state").mlflow_db_uri
        'sqlite:////tmp/state/mlflow/mlflow.db'
    """

    model_config = SettingsConfigDict(env_prefix="DETECTOR_", extra="ignore")

    state_dir: Path = REPO_ROOT / ".state"
    mlflow_tracking_uri: str | None = None
    """Defaults to ``sqlite:///<state_dir>/mlflow/mlflow.db``."""
    mlflow_artifact_location: str | None = None
    """Artifact root of new experiments; defaults to ``<state_dir>/mlflow/artifacts``."""
    experiment_name: str = "detector-training"
    registered_model_name: str = "detector"
    aws_endpoint_url: str | None = "http://127.0.0.1:4566"
    """``None`` (or empty) means real AWS."""
    aws_region: str = "us-east-1"
    models_bucket: str = "detector-models"

    @field_validator("aws_endpoint_url", "mlflow_tracking_uri", "mlflow_artifact_location")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @property
    def mlflow_db_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.state_dir / 'mlflow' / 'mlflow.db'}"

    @property
    def artifact_location(self) -> str:
        if self.mlflow_artifact_location:
            return self.mlflow_artifact_location
        return (self.state_dir / "mlflow" / "artifacts").resolve().as_uri()

    @property
    def datasets_dir(self) -> Path:
        return self.state_dir / "datasets"

    @property
    def runs_dir(self) -> Path:
        return self.state_dir / "runs"

    @property
    def ultralytics_config_dir(self) -> Path:
        return self.state_dir / "ultralytics"

    def s3_client(self) -> Any:
        """A boto3 S3 client for this endpoint and region (made on call, never at import)."""
        import boto3

        session = boto3.session.Session(region_name=self.aws_region)
        kwargs: dict[str, str] = {}
        if self.aws_endpoint_url and session.get_credentials() is None:
            # Emulated endpoints (LocalStack, moto server) accept any key.
            kwargs = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
        return session.client("s3", endpoint_url=self.aws_endpoint_url, **kwargs)
