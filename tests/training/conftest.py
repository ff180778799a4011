"""A real smoke training, run once per session into a tmp MLflow sqlite and a moto bucket.

``configs/train_smoke.yaml`` is tuned to find objects quickly (measured: see the config), so
the parity test compares real detections, not noise.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from training.config import load_config
from training.pipeline import PublishedModel, run_training
from training.settings import REPO_ROOT, TrainingSettings

SMOKE_CONFIG = REPO_ROOT / "configs" / "train_smoke.yaml"


@pytest.fixture(scope="session")
def smoke_settings(tmp_path_factory: pytest.TempPathFactory) -> TrainingSettings:
    state = tmp_path_factory.mktemp("state")
    return TrainingSettings(
        state_dir=state,
        aws_endpoint_url=None,
        models_bucket="models-test",
        registered_model_name="detector-test",
        experiment_name="smoke",
    )


@pytest.fixture(scope="session")
def smoke_run(smoke_settings: TrainingSettings) -> Iterator[PublishedModel]:
    """Train, export, evaluate, register and publish the smoke model once."""
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with mock_aws():
            smoke_settings.s3_client().create_bucket(Bucket=smoke_settings.models_bucket)
            yield run_training(load_config(SMOKE_CONFIG), smoke_settings)


@pytest.fixture(scope="session")
def smoke_test_images(smoke_run: PublishedModel) -> list[Path]:
    return sorted((smoke_run.dataset_dir / "images" / "test").glob("*.jpg"))
