"""Where the deployed stack and the project's state live: environment prefix ``DETECTOR_``.

Defaults target the embedded stack: the host LocalStack at ``http://127.0.0.1:4566`` and
a sqlite MLflow under ``.state/``. ``DETECTOR_AWS_ENDPOINT_URL=`` (empty) means real AWS
with the default credentials. The training job's settings extend this class, so both read
the same variables.
"""

from pathlib import Path

import boto3
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class DeploymentSettings(BaseSettings):
    """The stack, models bucket, SSM parameters and MLflow registry that releases write to.

    Example:
        >>> DeploymentSettings(state_dir="/tmp/state").mlflow_db_uri
        'sqlite:////tmp/state/mlflow/mlflow.db'
    """

    model_config = SettingsConfigDict(env_prefix="DETECTOR_", extra="ignore")

    state_dir: Path = REPO_ROOT / ".state"
    aws_endpoint_url: str | None = "http://127.0.0.1:4566"
    """``None`` (or empty) means real AWS."""
    aws_region: str = "us-east-1"
    stack_name: str = "detector-dev"
    models_bucket: str = "detector-models"
    registered_model_name: str = "detector"
    alias_parameter: str = "/detector/dev/model-alias"
    candidate_parameter: str = "/detector/dev/model-candidate"
    """The canary's candidate version and share (``predict.canary``); ``none``: no canary."""
    mlflow_tracking_uri: str | None = None
    """Defaults to ``sqlite:///<state_dir>/mlflow/mlflow.db``."""
    champion_alias: str = "champion"
    """MLflow alias following ``alias_parameter``."""
    candidate_alias: str = "candidate"
    """MLflow alias following ``candidate_parameter``."""

    @field_validator("aws_endpoint_url", "mlflow_tracking_uri")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @property
    def mlflow_db_uri(self) -> str:
        """The MLflow tracking and registry URI."""
        return self.mlflow_tracking_uri or f"sqlite:///{self.state_dir / 'mlflow' / 'mlflow.db'}"

    def client(self, service: str):
        """A boto3 client for ``service`` at the configured endpoint and region.

        Made on call, never at import, so tests can point it at moto. An emulated endpoint
        (LocalStack, moto server) accepts any key: dummy ones are used when none are set.
        """
        session = boto3.session.Session(region_name=self.aws_region)
        credentials = {}
        if self.aws_endpoint_url and session.get_credentials() is None:
            credentials = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
        return session.client(service, endpoint_url=self.aws_endpoint_url, **credentials)
