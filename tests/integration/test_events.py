"""events/ through the deployed function, without API Gateway: the Docker-free
``sam local invoke -e events/<event>.json``. LocalStack's Lambda API hands each API Gateway
REST proxy event to the function as it is; the function must answer it for real."""

import base64
import io
import json
import time
from pathlib import Path

import pytest
from PIL import Image

from release.stack import stack_outputs
from tests.conftest import ROOT
from tests.integration.conftest import ALIAS_TTL_S

pytestmark = pytest.mark.integration

EVENTS = sorted((ROOT / "events").glob("*.json"))


def event_image_sizes(event: dict) -> list[tuple[int, int]]:
    """Width and height of each image the event carries: a raw body, the parts of a
    multipart body, or the base64 ``image`` field of a JSON body."""
    body = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
    content_type = {k.lower(): v for k, v in event["headers"].items()}["content-type"]
    if content_type.startswith("application/json"):
        images = [base64.b64decode(json.loads(body)["image"])]
    elif content_type.startswith("multipart/form-data"):
        boundary = content_type.split("boundary=", 1)[1].encode()
        parts = body.split(b"--" + boundary)[1:-1]  # between the first and the closing one
        images = [part.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n") for part in parts]
    else:
        images = [body]
    return [Image.open(io.BytesIO(image)).size for image in images]


@pytest.fixture(scope="module")
def serving_version(api, alias, published) -> str:
    """The second published version serves, in every execution environment."""
    version = published[1].version
    alias.promote(version)
    api.wait_for_version(version, ALIAS_TTL_S + 30)
    time.sleep(ALIAS_TTL_S)  # any environment's cached alias is now past its TTL
    return version


@pytest.fixture(scope="module")
def invoke(deployment, api):
    """Send an event file to the stack's function with lambda:Invoke; its proxy response."""
    function_name = stack_outputs(deployment)["PredictFunctionName"]
    lambda_ = deployment.client("lambda")

    def invoke(event_file: Path) -> dict:
        response = lambda_.invoke(FunctionName=function_name, Payload=event_file.read_bytes())
        payload = json.loads(response["Payload"].read())
        assert "FunctionError" not in response, payload
        return payload

    return invoke


def assert_detections(detections: list) -> None:
    assert isinstance(detections, list)
    for detection in detections:
        assert {"class_name", "box", "confidence"} <= detection.keys()


def test_every_event_file_is_checked() -> None:
    assert {event.name for event in EVENTS} >= {
        "health.json",
        "predict_jpeg.json",
        "predict_multipart.json",
    }


@pytest.mark.parametrize("event_file", EVENTS, ids=[event.stem for event in EVENTS])
def test_event_gets_a_real_answer(invoke, serving_version, event_file: Path) -> None:
    event = json.loads(event_file.read_text())

    response = invoke(event_file)

    assert response["statusCode"] == 200, response
    body = json.loads(response["body"])
    route = (event["httpMethod"], event["resource"])
    if route == ("GET", "/health"):
        assert body["status"] == "ok"
    elif route == ("POST", "/predict"):
        assert body["model_version"] == serving_version
        assert [(body["image_width"], body["image_height"])] == event_image_sizes(event)
        assert_detections(body["detections"])
    elif route == ("POST", "/predict/batch"):
        assert body["model_version"] == serving_version
        results = body["results"]
        assert [r["index"] for r in results] == list(range(len(results)))
        assert [(r["image_width"], r["image_height"]) for r in results] == event_image_sizes(event)
        for result in results:
            assert_detections(result["detections"])
    elif route == ("GET", "/model/info"):
        assert body["version"] == serving_version
    else:
        pytest.fail(f"{event_file.name}: no check for {route}; add one here")


def test_raw_and_multipart_events_get_the_same_detections(invoke, serving_version) -> None:
    raw = json.loads(invoke(ROOT / "events" / "predict_jpeg.json")["body"])
    multipart = json.loads(invoke(ROOT / "events" / "predict_multipart.json")["body"])

    assert multipart["detections"] == raw["detections"]
