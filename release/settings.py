"""Where the deployed stack lives: one settings object, environment prefix ``DETECTOR_``.

Defaults target the embedded stack: the host LocalStack and the project's sqlite MLflow
(the same ``DETECTOR_*`` variables the training job reads). Set
``DETECTOR_AWS_ENDPOINT_URL=`` (empty) to talk to real AWS with the default credentials.
"""

from pathlib import Path

import boto3
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCALSTACK_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


class DeploymentSettings(BaseSettings):
    """The stack, models bucket, alias parameter and MLflow registry that releases write to."""

    model_config = SettingsConfigDict(env_prefix="DETECTOR_", extra="ignore")

    aws_endpoint_url: str | None = "http://127.0.0.1:4566"
    aws_region: str = "us-east-1"
    stack_name: str = "detector-dev"
    models_bucket: str = "detector-models"
    registered_model_name: str = "detector"
    alias_parameter: str = "/detector/dev/model-alias"
    mlflow_tracking_uri: str = f"sqlite:///{REPO_ROOT / '.state' / 'mlflow' / 'mlflow.db'}"
    champion_alias: str = "champion"

    @field_validator("aws_endpoint_url")
    @classmethod
    def _empty_means_aws(cls, value: str | None) -> str | None:
        return value or None

    def client(self, service: str):
        """A boto3 client for ``service`` at the configured endpoint (LocalStack by default)."""
        credentials = LOCALSTACK_CREDENTIALS if self.aws_endpoint_url else {}
        return boto3.client(
            service, endpoint_url=self.aws_endpoint_url, region_name=self.aws_region, **credentials
        )
