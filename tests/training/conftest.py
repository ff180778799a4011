"""A real smoke run of the pipeline, once per session, into a tmp MLflow sqlite, a tmp ZenML
store, and a moto server's bucket and alias parameter.

``configs/train_smoke.yaml`` is tuned to find objects quickly (measured: see the config), so
the parity test compares real detections, not noise.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from tests.training.support import make_dvc_project
from training.config import load_config
from training.run import PipelineResult, run_pipeline
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
        alias_parameter="/detector/test/model-alias",
        experiment_name="smoke",
    )


@pytest.fixture(scope="session")
def smoke_run(smoke_settings: TrainingSettings) -> PipelineResult:
    """The whole pipeline on the smoke config, once: no version serves before it, so the
    quality gate promotes it."""
    smoke_settings.client("s3").create_bucket(Bucket=smoke_settings.models_bucket)
    smoke_settings.client("ssm").put_parameter(
        Name=smoke_settings.alias_parameter, Value="none", Type="String"
    )
    return run_pipeline(load_config(SMOKE_CONFIG), smoke_settings)


@pytest.fixture(scope="session")
def smoke_test_images(smoke_run: PipelineResult) -> list[Path]:
    return smoke_run.dataset.images("test")
