"""Where the training job keeps its state: the deployment settings plus training's own.

Every value can be set from the environment with the ``DETECTOR_`` prefix, e.g.
``DETECTOR_AWS_ENDPOINT_URL=`` (empty) for real AWS, ``DETECTOR_STATE_DIR=/tmp/x``.
The defaults run on the embedded stack: sqlite MLflow under ``.state/`` and the host
LocalStack at ``http://127.0.0.1:4566``.
"""

from pathlib import Path

from pydantic import field_validator, model_validator

from release.settings import REPO_ROOT, DeploymentSettings

__all__ = ["REPO_ROOT", "TrainingSettings"]


class TrainingSettings(DeploymentSettings):
    """Settings of the training job (env prefix ``DETECTOR_``).

    Example:
        >>> TrainingSettings(state_dir="/tmp/state").datasets_dir
        PosixPath('/tmp/state/datasets')
    """

    mlflow_artifact_location: str | None = None
    """Artifact root of new experiments; defaults to ``<state_dir>/mlflow/artifacts``."""
    experiment_name: str = "detector-training"
    optuna_storage_url: str = ""
    """Optuna's RDB storage, shared by all tuning workers of a study; defaults to
    ``sqlite:///<state_dir>/optuna/optuna.db``. In compose: a PostgreSQL URL,
    ``postgresql+psycopg2://optuna:${POSTGRES_PASSWORD}@postgres/optuna``."""

    @field_validator("mlflow_artifact_location")
    @classmethod
    def _empty_location_is_none(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _default_optuna_storage(self) -> "TrainingSettings":
        if not self.optuna_storage_url:
            self.optuna_storage_url = f"sqlite:///{self.state_dir / 'optuna' / 'optuna.db'}"
        return self

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
