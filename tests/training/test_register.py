"""The register step's view of what serves: the champion the quality gate compares with,
and a clear refusal when promotion is due but the serving alias cannot be read.

On the session's moto server with names of its own (an in-process ``mock_aws`` would reset
the server's state too: moto keeps one backend per process).
"""

import json
import uuid

import pytest

from predict.manifest import manifest_key, onnx_key
from release.alias import ModelAlias
from training.settings import TrainingSettings
from training.steps.register import PromotionFailed, champion_for_gate, serving_champion


@pytest.fixture
def alias(tmp_path, moto_endpoint: str) -> ModelAlias:
    name = uuid.uuid4().hex[:8]
    settings = TrainingSettings(
        state_dir=tmp_path,
        aws_endpoint_url=moto_endpoint,
        models_bucket=f"models-register-{name}",
        alias_parameter=f"/detector/register-{name}/model-alias",
    )
    settings.client("s3").create_bucket(Bucket=settings.models_bucket)
    return ModelAlias(settings)


def _publish(alias: ModelAlias, version: str, map50_95: float) -> None:
    s3, bucket = alias.settings.client("s3"), alias.settings.models_bucket
    s3.put_object(Bucket=bucket, Key=onnx_key("detector", version), Body=b"onnx")
    manifest = {
        "model_name": "detector",
        "version": version,
        "sha256": "0" * 64,
        "size_bytes": 4,
        "class_names": {"0": "a"},
        "imgsz": [64, 64],
        "metrics": {"mAP50-95": map50_95},
    }
    s3.put_object(Bucket=bucket, Key=manifest_key("detector", version), Body=json.dumps(manifest))


def _serve(alias: ModelAlias, value: str) -> None:
    alias.settings.client("ssm").put_parameter(
        Name=alias.settings.alias_parameter, Value=value, Type="String", Overwrite=True
    )


def test_the_champion_is_what_the_alias_serves_with_its_published_score(alias) -> None:
    _serve(alias, "none")
    assert serving_champion(alias) is None
    _publish(alias, "4", 0.42)
    _serve(alias, "4")
    champion = serving_champion(alias)
    assert (champion.version, champion.map50_95) == ("4", 0.42)


def test_an_undeployed_stack_refuses_promotion_and_says_how(alias) -> None:
    with pytest.raises(
        PromotionFailed,
        match=r"-alias' \(ParameterNotFound\): deploy the stack first \(make deploy\)",
    ):
        champion_for_gate(alias, promote=True)
    assert champion_for_gate(alias, promote=False) is None  # the gate runs without a champion


def test_a_serving_version_without_manifest_refuses_promotion(alias) -> None:
    _serve(alias, "9")
    with pytest.raises(PromotionFailed, match=r"cannot compare with the serving version: .*'9'"):
        champion_for_gate(alias, promote=True)
