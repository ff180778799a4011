"""The register step's view of what serves: the champion the quality gate compares with,
and a clear refusal when promotion is due but the serving alias cannot be read."""

import json

import boto3
import pytest
from moto import mock_aws

from predict.manifest import manifest_key, onnx_key
from release.alias import ModelAlias
from training.settings import TrainingSettings
from training.steps.register import PromotionFailed, champion_for_gate, serving_champion


@pytest.fixture
def alias(tmp_path, monkeypatch) -> ModelAlias:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    settings = TrainingSettings(
        state_dir=tmp_path,
        aws_endpoint_url="",
        models_bucket="models-test",
        alias_parameter="/detector/test/model-alias",
    )
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="models-test")
        yield ModelAlias(settings)


def _publish(version: str, map50_95: float) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.put_object(Bucket="models-test", Key=onnx_key("detector", version), Body=b"onnx")
    manifest = {
        "model_name": "detector",
        "version": version,
        "sha256": "0" * 64,
        "size_bytes": 4,
        "class_names": {"0": "a"},
        "imgsz": [64, 64],
        "metrics": {"mAP50-95": map50_95},
    }
    s3.put_object(
        Bucket="models-test", Key=manifest_key("detector", version), Body=json.dumps(manifest)
    )


def _serve(value: str) -> None:
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name="/detector/test/model-alias", Value=value, Type="String", Overwrite=True
    )


def test_the_champion_is_what_the_alias_serves_with_its_published_score(alias) -> None:
    _serve("none")
    assert serving_champion(alias) is None
    _publish("4", 0.42)
    _serve("4")
    champion = serving_champion(alias)
    assert (champion.version, champion.map50_95) == ("4", 0.42)


def test_an_undeployed_stack_refuses_promotion_and_says_how(alias) -> None:
    with pytest.raises(
        PromotionFailed, match=r"'/detector/test/model-alias' \(ParameterNotFound\)"
    ):
        champion_for_gate(alias, promote=True)
    assert champion_for_gate(alias, promote=False) is None  # the gate runs without a champion


def test_a_serving_version_without_manifest_refuses_promotion(alias) -> None:
    _serve("9")
    with pytest.raises(PromotionFailed, match=r"cannot compare with the serving version: .*'9'"):
        champion_for_gate(alias, promote=True)
