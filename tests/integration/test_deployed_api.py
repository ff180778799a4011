"""The deployed stack end to end: API Gateway (REST) -> Lambda (host executor) -> S3/SSM."""

import json
from pathlib import Path

import pytest
import ultralytics

from tests.integration.conftest import ALIAS_TTL_S

pytestmark = pytest.mark.integration

BUS = Path(ultralytics.__file__).parent / "assets" / "bus.jpg"
SWITCH_DEADLINE_S = ALIAS_TTL_S + 30


def test_health_answers_before_any_promotion(api):
    response = api.get("/health")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_predict_before_any_promotion_is_503(api, alias):
    assert alias.current() == "none"

    response = api.post_predict(BUS.read_bytes(), "image/jpeg")

    assert response.status_code == 503
    assert "no model version is promoted" in response.json()["detail"]


def test_promoted_version_serves_real_photos_and_held_out_images(
    api, alias, published, held_out_image
):
    first = published[0]
    alias.promote(first.version)
    api.wait_for_version(first.version, SWITCH_DEADLINE_S)

    image, expected = held_out_image
    bus = api.predict(BUS.read_bytes())
    held_out = api.predict(image.read_bytes())

    assert (bus["image_width"], bus["image_height"]) == (810, 1080)
    assert bus["model_version"] == first.version
    # The Lambda (Python 3.12, layer's onnxruntime) answers what the same model finds here.
    assert [d["class_name"] for d in held_out["detections"]] == [d.class_name for d in expected]
    for served, local in zip(held_out["detections"], expected, strict=True):
        assert served["box"] == pytest.approx(local.box, abs=0.01)
        assert served["confidence"] == pytest.approx(local.confidence, abs=1e-4)


def test_model_info_matches_the_published_manifest(api, alias, published):
    second = published[1]
    alias.promote(second.version)
    api.wait_for_version(second.version, SWITCH_DEADLINE_S)

    info = api.get("/model/info").json()

    assert info["sha256"] == second.sha256
    assert info["mlflow_run_id"] == second.run_id
    assert info["s3_uri"].endswith(second.onnx_key)


def test_rollback_serves_the_previous_version_without_redeploy(api, alias, published):
    first, second = published
    alias.promote(first.version)
    alias.promote(second.version)
    api.wait_for_version(second.version, SWITCH_DEADLINE_S)

    rolled_back = alias.rollback()
    api.wait_for_version(first.version, SWITCH_DEADLINE_S)

    assert rolled_back.version == first.version
    assert api.predict(BUS.read_bytes())["model_version"] == first.version


def test_raw_put_parameter_switches_like_promote(api, alias, deployment, published):
    first, second = published
    alias.promote(first.version)
    ssm = deployment.client("ssm")

    ssm.put_parameter(
        Name=deployment.alias_parameter, Value=second.version, Type="String", Overwrite=True
    )

    api.wait_for_version(second.version, SWITCH_DEADLINE_S)


def test_alias_naming_a_missing_version_keeps_serving_the_last_good_one(
    api, alias, deployment, published
):
    second = published[1]
    alias.promote(second.version)
    api.wait_for_version(second.version, SWITCH_DEADLINE_S)
    ssm = deployment.client("ssm")

    ssm.put_parameter(Name=deployment.alias_parameter, Value="999", Type="String", Overwrite=True)
    try:
        answers = [api.predict(BUS.read_bytes()) for _ in range(3)]
    finally:
        alias.promote(second.version)

    assert {answer["model_version"] for answer in answers} == {second.version}


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"", "image/jpeg", 400),
        (b"this is not an image", "image/jpeg", 400),
        (json.dumps({"x": 1}).encode(), "text/plain", 415),
    ],
)
def test_bad_input_through_the_api_is_a_json_4xx(api, alias, published, body, content_type, status):
    alias.promote(published[1].version)

    response = api.post_predict(body, content_type)

    assert response.status_code == status
    assert response.json()["error"]
