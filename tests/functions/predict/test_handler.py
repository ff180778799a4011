"""The Lambda handler end to end: API Gateway REST (v1) proxy events -> Mangum -> FastAPI,
with a real ONNX model published to a moto bucket and aliased in moto SSM."""

import base64
import importlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from mangum import Mangum

from predict.app import create_app
from predict.detector import Detector
from predict.images import decode_image
from predict.manifest import sha256_file
from predict.settings import Settings
from tests.functions.predict.support import (
    ALIAS_PARAMETER,
    BUCKET,
    CLASS_NAMES,
    MODEL_NAME,
    SQUARE_IMGSZ,
    LambdaContext,
    encode,
    multipart_body,
    publish,
    rest_event,
    set_alias,
)

EVENTS_DIR = Path(__file__).resolve().parents[3] / "events"


@pytest.fixture
def published(aws: None, onnx_models: dict[tuple[int, int], Path]) -> Path:
    """Version "1" (the square test model) published and aliased."""
    path = onnx_models[SQUARE_IMGSZ]
    publish("1", path, SQUARE_IMGSZ)
    set_alias("1")
    return path


@pytest.fixture
def handler(settings: Settings):
    return Mangum(create_app(settings), lifespan="off")


def call(handler, event: dict) -> tuple[int, dict, dict]:
    """Invoke like Lambda does; return (status, JSON body, headers)."""
    response = handler(event, LambdaContext())
    assert not response["isBase64Encoded"]
    headers = {k.lower(): v for k, v in response["headers"].items()}
    return response["statusCode"], json.loads(response["body"]), headers


def post_image(data: bytes, content_type: str = "image/jpeg", query: dict | None = None) -> dict:
    return rest_event("POST", "/predict", data, content_type, query=query)


def post_multipart(fields: dict) -> dict:
    body, content_type = multipart_body(fields)
    return rest_event("POST", "/predict", body, content_type)


def assert_error(status: int, body: dict, headers: dict, expected: int, error: str) -> None:
    assert status == expected, body
    assert headers["content-type"] == "application/json"
    assert body["error"] == error
    assert isinstance(body["detail"], str) and body["detail"]


# --- predictions ---------------------------------------------------------------------------


def test_raw_base64_jpeg_body(handler, published: Path, bus_jpeg: bytes) -> None:
    status, body, _ = call(handler, post_image(bus_jpeg))
    assert status == 200, body
    assert body["model_name"] == MODEL_NAME
    assert body["model_version"] == "1"
    assert (body["image_width"], body["image_height"]) == (810, 1080)
    expected = Detector(published, CLASS_NAMES, SQUARE_IMGSZ).predict(decode_image(bus_jpeg))
    assert len(body["detections"]) == len(expected) > 0
    for got, want in zip(body["detections"], expected, strict=True):
        assert got["class_id"] == want.class_id
        assert got["class_name"] == want.class_name
        assert got["confidence"] == pytest.approx(want.confidence)
        np.testing.assert_allclose(got["box"], want.box, atol=1e-3)


def test_multipart_file_field(handler, published: Path, zidane_jpeg: bytes) -> None:
    event = post_multipart(
        {"note": (None, b"hello", None), "file": ("zidane.jpg", zidane_jpeg, "image/jpeg")}
    )
    status, body, _ = call(handler, event)
    assert status == 200, body
    assert (body["image_width"], body["image_height"]) == (1280, 720)
    assert body["detections"]
    for d in body["detections"]:
        x1, y1, x2, y2 = d["box"]
        assert 0 <= x1 <= x2 <= 1280 and 0 <= y1 <= y2 <= 720


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [
        ("PNG", "image/png"),
        ("WEBP", "image/webp"),
        ("BMP", "image/bmp"),
        ("JPEG", "application/octet-stream"),
        ("JPEG", "image/jpeg; charset=binary"),
    ],
)
def test_other_image_types(
    handler, published: Path, bus_rgb: np.ndarray, fmt: str, content_type: str
) -> None:
    image = np.ascontiguousarray(bus_rgb[::4, ::4])
    status, body, _ = call(handler, post_image(encode(image, fmt), content_type))
    assert status == 200, body
    assert (body["image_width"], body["image_height"]) == (image.shape[1], image.shape[0])


def test_query_parameters(handler, published: Path, bus_jpeg: bytes) -> None:
    _, everything, _ = call(handler, post_image(bus_jpeg, query={"conf": "0.1"}))
    _, few, _ = call(handler, post_image(bus_jpeg, query={"conf": "0.1", "max_det": "2"}))
    _, some, _ = call(handler, post_image(bus_jpeg, query={"conf": "0.1", "classes": ["0", "2"]}))
    _, strict, _ = call(handler, post_image(bus_jpeg, query={"conf": "0.9"}))
    assert len(everything["detections"]) > len(some["detections"]) > 0
    assert len(few["detections"]) == 2
    assert {d["class_id"] for d in some["detections"]} <= {0, 2}
    assert all(d["confidence"] > 0.9 for d in strict["detections"])


def test_text_event_body_is_accepted(handler, published: Path) -> None:
    """API Gateway sends a body it does not treat as binary as text (isBase64Encoded false)."""
    event = rest_event("POST", "/predict", b"plain text", "text/plain", base64_encoded=False)
    status, body, headers = call(handler, event)
    assert_error(status, body, headers, 415, "UnsupportedMediaTypeError")


# --- bad input: 4xx with a JSON body, never 500 ----------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type", "expected", "error"),
    [
        (b"this is not an image", "image/jpeg", 400, "ImageDecodeError"),
        (b"\x00\x01\x02" * 100, "application/octet-stream", 400, "ImageDecodeError"),
        (b"", "image/jpeg", 400, "EmptyImageError"),
        (b"", None, 400, "EmptyImageError"),
        (b'{"image": 1}', "application/json", 415, "UnsupportedMediaTypeError"),
        (b"GIF89a" + bytes(40), "image/gif", 415, "UnsupportedMediaTypeError"),
        (b"\xff\xd8\xff" + bytes(40), None, 415, "UnsupportedMediaTypeError"),
    ],
    ids=["text-as-jpeg", "bytes-as-octet", "empty-jpeg", "empty-untyped", "json", "gif", "untyped"],
)
def test_bad_raw_bodies(
    handler, published: Path, data: bytes, content_type, expected: int, error: str
) -> None:
    status, body, headers = call(handler, post_image(data, content_type))
    assert_error(status, body, headers, expected, error)


def test_truncated_jpeg(handler, published: Path, bus_jpeg: bytes) -> None:
    status, body, headers = call(handler, post_image(bus_jpeg[: len(bus_jpeg) // 3]))
    assert_error(status, body, headers, 400, "ImageDecodeError")
    assert "truncated" in body["detail"]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"image": ("bus.jpg", b"\xff\xd8\xff", "image/jpeg")}, "MissingFileFieldError"),
        ({"file": (None, b"just text", None)}, "MissingFileFieldError"),
        ({"file": ("empty.jpg", b"", "image/jpeg")}, "EmptyImageError"),
        ({"file": ("notes.txt", b"not an image", "text/plain")}, "ImageDecodeError"),
    ],
    ids=["wrong-field-name", "file-is-text-field", "empty-file", "non-image-file"],
)
def test_bad_multipart_bodies(handler, published: Path, fields: dict, error: str) -> None:
    status, body, headers = call(handler, post_multipart(fields))
    assert_error(status, body, headers, 400, error)


def test_malformed_multipart(handler, published: Path) -> None:
    event = rest_event("POST", "/predict", b"--x\r\nbroken", "multipart/form-data")  # no boundary
    status, body, headers = call(handler, event)
    assert_error(status, body, headers, 400, "HTTPException")


def test_body_over_the_limit(settings: Settings, published: Path, bus_jpeg: bytes) -> None:
    small = Mangum(create_app(settings.model_copy(update={"max_body_bytes": 1000})))
    status, body, headers = call(small, post_image(bus_jpeg))
    assert_error(status, body, headers, 413, "PayloadTooLargeError")


def test_decompression_bomb(settings: Settings, published: Path, bus_jpeg: bytes) -> None:
    strict = Mangum(create_app(settings.model_copy(update={"max_image_pixels": 10_000})))
    status, body, headers = call(strict, post_image(bus_jpeg))
    assert_error(status, body, headers, 413, "PayloadTooLargeError")


@pytest.mark.parametrize("query", [{"conf": "2"}, {"iou": "-1"}, {"max_det": "zero"}])
def test_invalid_query_parameters(handler, published: Path, small_jpeg: bytes, query) -> None:
    status, body, headers = call(handler, post_image(small_jpeg, query=query))
    assert_error(status, body, headers, 422, "RequestValidationError")


def test_unknown_route_and_method(handler) -> None:
    status, body, headers = call(handler, rest_event("GET", "/nope"))
    assert_error(status, body, headers, 404, "HTTPException")
    status, body, headers = call(handler, rest_event("GET", "/predict"))
    assert_error(status, body, headers, 405, "HTTPException")


# --- model availability -------------------------------------------------------------------


def test_missing_model_version_is_503(handler, aws: None, small_jpeg: bytes) -> None:
    set_alias("42")
    status, body, headers = call(handler, post_image(small_jpeg))
    assert_error(status, body, headers, 503, "ModelVersionNotFoundError")
    assert "'42'" in body["detail"] and "not found" in body["detail"]
    status, body, headers = call(handler, rest_event("GET", "/model/info"))
    assert_error(status, body, headers, 503, "ModelVersionNotFoundError")


def test_no_alias_is_503(handler, aws: None, small_jpeg: bytes) -> None:
    status, body, headers = call(handler, post_image(small_jpeg))
    assert_error(status, body, headers, 503, "AliasNotFoundError")
    set_alias("none")
    status, body, headers = call(handler, post_image(small_jpeg))
    assert_error(status, body, headers, 503, "AliasNotFoundError")


def test_bad_input_is_400_even_without_a_model(handler, aws: None) -> None:
    status, body, headers = call(handler, post_image(b"junk"))
    assert_error(status, body, headers, 400, "ImageDecodeError")


def test_warm_environment_keeps_serving_when_the_alias_breaks(
    settings: Settings, published: Path, small_jpeg: bytes
) -> None:
    handler = Mangum(create_app(settings.model_copy(update={"alias_ttl_seconds": 0})))
    assert call(handler, post_image(small_jpeg))[1]["model_version"] == "1"
    set_alias("42")
    status, body, _ = call(handler, post_image(small_jpeg))
    assert status == 200
    assert body["model_version"] == "1"


# --- health and model info ------------------------------------------------------------------


def test_health_does_not_load_the_model(handler, published: Path, small_jpeg: bytes) -> None:
    status, body, _ = call(handler, rest_event("GET", "/health"))
    assert (status, body) == (200, {"status": "ok", "model_loaded": False, "model_version": None})
    call(handler, post_image(small_jpeg))
    status, body, _ = call(handler, rest_event("GET", "/health"))
    assert (status, body) == (200, {"status": "ok", "model_loaded": True, "model_version": "1"})


def test_model_info(handler, published: Path) -> None:
    status, body, _ = call(handler, rest_event("GET", "/model/info"))
    assert status == 200, body
    assert body["model_name"] == MODEL_NAME
    assert body["version"] == "1"
    assert body["sha256"] == sha256_file(published)
    assert body["s3_uri"] == f"s3://{BUCKET}/models/{MODEL_NAME}/1/model.onnx"
    assert body["mlflow_run_id"] == "run-1"
    assert body["metrics"] == {"mAP50": 0.5, "mAP50-95": 0.3}
    assert body["class_names"] == {str(k): v for k, v in CLASS_NAMES.items()}
    assert body["imgsz"] == list(SQUARE_IMGSZ)
    assert body["created_at"]


# --- the deployed entry point ---------------------------------------------------------------


@pytest.fixture
def lambda_module(settings: Settings, published: Path, monkeypatch: pytest.MonkeyPatch):
    """``predict.handler`` imported afresh with the function's environment, as Lambda does."""
    monkeypatch.setenv("PREDICT_MODELS_BUCKET", BUCKET)
    monkeypatch.setenv("PREDICT_MODEL_NAME", MODEL_NAME)
    monkeypatch.setenv("PREDICT_ALIAS_PARAMETER", ALIAS_PARAMETER)
    monkeypatch.setenv("PREDICT_CACHE_DIR", str(settings.cache_dir))
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "predict")
    import predict.handler

    return importlib.reload(predict.handler)


def test_lambda_entry_point_logs_with_request_ids(
    lambda_module, small_jpeg: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Powertools configures the "predict" logger's stdout handler once per process.
    stream = io.StringIO()
    monkeypatch.setattr(lambda_module.logger.logger_handler, "stream", stream)
    event = post_image(small_jpeg)
    context = LambdaContext()
    response = lambda_module.handler(event, context)
    assert response["statusCode"] == 200, response["body"]
    assert json.loads(response["body"])["model_version"] == "1"

    logs = [json.loads(line) for line in stream.getvalue().splitlines() if line]
    loaded = [entry for entry in logs if entry["message"] == "model loaded"]
    assert loaded, logs
    assert loaded[0]["model_version"] == "1"
    assert loaded[0]["function_request_id"] == context.aws_request_id
    assert loaded[0]["correlation_id"] == event["requestContext"]["requestId"]
    assert lambda_module.app.state.settings.models_bucket == BUCKET


@pytest.mark.parametrize("name", ["predict_jpeg.json", "predict_multipart.json", "health.json"])
def test_sample_events(lambda_module, name: str) -> None:
    event = json.loads((EVENTS_DIR / name).read_text())
    response = lambda_module.handler(event, LambdaContext())
    assert response["statusCode"] == 200, response["body"]
    body = json.loads(response["body"])
    if event["path"] == "/predict":
        image = base64.b64decode(event["body"])
        assert body["model_version"] == "1"
        assert body["image_width"] > 0 and len(image) < 20_000
