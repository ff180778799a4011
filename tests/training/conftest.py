"""A real smoke training, run once per session into a tmp MLflow sqlite and a moto server's bucket.

``configs/train_smoke.yaml`` is tuned to find objects quickly (measured: see the config), so
the parity test compares real detections, not noise.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from tests.training.support import make_dvc_project
from training.config import load_config
from training.pipeline import PublishedModel, run_training
from training.settings import REPO_ROOT, TrainingSettings

SMOKE_CONFIG = REPO_ROOT / "configs" / "train_smoke.yaml"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server on loopback: S3 for the session without patching boto3 globally
    (the integration tests in the same session talk to the real LocalStack)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def smoke_settings(tmp_path_factory: pytest.TempPathFactory, moto_endpoint) -> TrainingSettings:
    state = tmp_path_factory.mktemp("state")
    return TrainingSettings(
        state_dir=state,
        dvc_root=make_dvc_project(tmp_path_factory.mktemp("project")),  # data/ not in the repo
        aws_endpoint_url=moto_endpoint,
        models_bucket="models-test",
        registered_model_name="detector-test",
        experiment_name="smoke",
    )


@pytest.fixture(scope="session")
def smoke_run(smoke_settings: TrainingSettings) -> PublishedModel:
    """Train, export, evaluate, register and publish the smoke model once."""
    smoke_settings.client("s3").create_bucket(Bucket=smoke_settings.models_bucket)
    return run_training(load_config(SMOKE_CONFIG), smoke_settings)


@pytest.fixture(scope="session")
def smoke_test_images(smoke_run: PublishedModel) -> list[Path]:
    return sorted((smoke_run.dataset_dir / "images" / "test").glob("*.jpg"))
