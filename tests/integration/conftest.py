"""The stack deployed to the host LocalStack under its own names, and two model versions
trained by the real training job and published to its bucket."""

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from predict.detector import Detection, Detector
from predict.images import decode_image
from release.alias import ModelAlias
from release.api import PredictApi
from release.settings import DeploymentSettings
from release.stack import api_base_url
from tests.conftest import ROOT
from tests.training.support import make_dvc_project
from training.config import load_config
from training.run import PipelineResult, run_pipeline
from training.settings import TrainingSettings

# Unique names per session: runs sharing one LocalStack do not collide.
RUN_ID = uuid.uuid4().hex[:8]
STACK = f"detector-it-{RUN_ID}"
BUCKET = f"detector-models-it-{RUN_ID}"
ALIAS_PARAMETER = f"/detector/it-{RUN_ID}/model-alias"
CANDIDATE_PARAMETER = f"/detector/it-{RUN_ID}/model-candidate"
ALIAS_TTL_S = 1


def _deploy(*args: str) -> None:
    result = subprocess.run(
        [str(ROOT / "scripts" / "deploy.sh"), *args],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        pytest.fail(f"scripts/deploy.sh {' '.join(args)} failed:\n{result.stdout}{result.stderr}")


@pytest.fixture(scope="session")
def deployment(localstack, tmp_path_factory) -> DeploymentSettings:
    return DeploymentSettings(
        aws_endpoint_url=localstack,
        stack_name=STACK,
        models_bucket=BUCKET,
        alias_parameter=ALIAS_PARAMETER,
        candidate_parameter=CANDIDATE_PARAMETER,
        mlflow_tracking_uri=f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}",
    )


@pytest.fixture(scope="session")
def api(deployment: DeploymentSettings) -> Iterator[PredictApi]:
    """``sam build`` + ``sam deploy`` of template.yaml as its own stack; deleted after."""
    _deploy(
        "deploy",
        "--stack-name",
        STACK,
        "--parameter-overrides",
        f"Stage=it ModelsBucketName={BUCKET} AliasParameterName={ALIAS_PARAMETER} "
        f"CandidateParameterName={CANDIDATE_PARAMETER} AliasCacheTtlSeconds={ALIAS_TTL_S}",
    )
    yield PredictApi(api_base_url(deployment))
    _deploy("delete", "--stack-name", STACK)
    bucket = boto3.resource(
        "s3",
        endpoint_url=deployment.aws_endpoint_url,
        region_name=deployment.aws_region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).Bucket(BUCKET)
    bucket.object_versions.delete()  # the template retains the versioned bucket
    bucket.delete()


@pytest.fixture(scope="session")
def published(api, deployment, tmp_path_factory) -> list[PipelineResult]:
    """Versions 1 and 2 of the smoke config, trained and published to the stack's bucket by
    the pipeline, not promoted (the tests promote and roll back themselves)."""
    settings = TrainingSettings(
        state_dir=tmp_path_factory.mktemp("state"),
        dvc_root=make_dvc_project(tmp_path_factory.mktemp("project")),  # data/ not in the repo
        aws_endpoint_url=deployment.aws_endpoint_url,
        models_bucket=BUCKET,
        mlflow_tracking_uri=deployment.mlflow_tracking_uri,
        registered_model_name=deployment.registered_model_name,
    )
    config = load_config(ROOT / "configs" / "train_smoke.yaml")
    return [run_pipeline(config, settings, allow_promotion=False) for _ in range(2)]


@pytest.fixture(scope="session")
def alias(deployment) -> ModelAlias:
    return ModelAlias(deployment)


@pytest.fixture(scope="session")
def held_out_image(published) -> tuple[Path, list[Detection]]:
    """A held-out generated image on which version 1, run locally through the same
    pre/post-processing, finds objects; and those detections."""
    first = published[0]
    exported = first.exported
    detector = Detector(exported.path, exported.class_names, exported.imgsz)
    for image in first.dataset.images("test"):
        detections = detector.predict(decode_image(image.read_bytes()))
        if detections:
            return image, detections
    pytest.fail(f"version {first.registration.version} finds nothing on any held-out image")
