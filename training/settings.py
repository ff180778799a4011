"""Where the training job keeps its state: the deployment settings plus training's own.

Every value can be set from the environment with the ``DETECTOR_`` prefix, e.g.
``DETECTOR_AWS_ENDPOINT_URL=`` (empty) for real AWS, ``DETECTOR_STATE_DIR=/tmp/x``.
The defaults run on the embedded stack: sqlite MLflow under ``.state/``, the host
LocalStack at ``http://127.0.0.1:4566``, and datasets under ``data/`` of this repository,
versioned with DVC and pushed to the remote in ``.dvc/config`` (at that same endpoint).
"""

from pathlib import Path

from pydantic import field_validator, model_validator

from release.settings import REPO_ROOT, DeploymentSettings

__all__ = ["REPO_ROOT", "TrainingSettings"]


class TrainingSettings(DeploymentSettings):
    """Settings of the training job (env prefix ``DETECTOR_``).

    Example:
        >>> TrainingSettings(dvc_root="/tmp/project").datasets_dir
        PosixPath('/tmp/project/data')
    """

    mlflow_artifact_location: str | None = None
    """Artifact root of new experiments; defaults to ``<state_dir>/mlflow/artifacts``."""
    experiment_name: str = "detector-training"
    optuna_storage_url: str = ""
    """Optuna's RDB storage, shared by all tuning workers of a study; defaults to
    ``sqlite:///<state_dir>/optuna/optuna.db``. In compose: a PostgreSQL URL,
    ``postgresql+psycopg2://optuna:${POSTGRES_PASSWORD}@postgres/optuna``."""

    dvc_root: Path = REPO_ROOT
    """The DVC project (the folder holding ``.dvc/``); datasets live in its ``data/``."""
    dvc_remote: str | None = None
    """The DVC remote to push to and pull from; defaults to ``core.remote`` of ``.dvc/config``.
    Its endpoint is always ``aws_endpoint_url`` (the committed ``endpointurl`` is overridden)."""
    dvc_push: bool = True
    """Push each new dataset version to the remote. Off (``DETECTOR_DVC_PUSH=false``) for
    offline runs: the dataset is still ``dvc add``-ed, with the same md5 as data version."""
    dvc_connect_timeout_s: float = 3.0
    """How long to wait for the remote's endpoint before calling it unreachable."""
    build_commit: str | None = None
    """The commit the code was built from, for the ``git_commit`` tag where there is no git
    checkout: the training image sets it from its ``GIT_COMMIT`` build argument."""

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
        """``<dvc_root>/data``: one folder per dataset, each with its ``<name>.dvc`` beside it."""
        return self.dvc_root / "data"

    @property
    def runs_dir(self) -> Path:
        return self.state_dir / "runs"

    @property
    def ultralytics_config_dir(self) -> Path:
        return self.state_dir / "ultralytics"
