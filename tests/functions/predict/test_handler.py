"""The Lambda handler end to end: API Gateway REST (v1) proxy events -> Mangum -> FastAPI,
with a real ONNX model published to a moto bucket and aliased in moto SSM."""

import base64
import importlib
import io
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from mangum import Mangum
from prometheus_client.parser import text_string_to_metric_families

from predict.app import create_app
from predict.detector import Detector
from predict.images import decode_image
from predict.manifest import sha256_file
from predict.model_store import ModelStore
from predict.settings import Settings
from tests.functions.predict.support import (
    ALIAS_PARAMETER,
    BUCKET,
    CANDIDATE_PARAMETER,
    CLASS_NAMES,
    MODEL_NAME,
    SQUARE_IMGSZ,
    WIDE_IMGSZ,
    LambdaContext,
    encode,
    multipart_body,
    publish,
    rest_event,
    set_alias,
    set_candidate,
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
    status, body, headers = call(handler, post_image(bus_jpeg))
    assert status == 200, body
    assert body["model_name"] == MODEL_NAME
    assert (body["model_version"], body["model_alias"]) == ("1", "champion")
    assert (headers["x-model-version"], headers["x-model-alias"]) == ("1", "champion")
    assert (body["image_width"], body["image_height"]) == (810, 1080)
    expected = Detector(published, CLASS_NAMES, SQUARE_IMGSZ).predict(decode_image(bus_jpeg))
    assert len(body["detections"]) == len(expected) > 0
    for got, want in zip(body["detections"], expected, strict=True):
        assert got["class_id"] == want.class_id
        assert got["class_name"] == want.class_name
        assert got["confidence"] == pytest.approx(want.confidence)
        np.testing.assert_allclose(got["box"], want.box, atol=1e-3)
        np.testing.assert_allclose(got["box_xywhn"], want.box_xywhn, atol=1e-6)
        x1, y1, x2, y2 = got["box"]
        cx, cy, w, h = got["box_xywhn"]
        assert (cx, w) == pytest.approx(((x1 + x2) / 2 / 810, (x2 - x1) / 810))
        assert (cy, h) == pytest.approx(((y1 + y2) / 2 / 1080, (y2 - y1) / 1080))
    timings = body["timings_ms"]
    assert set(timings) == {"decode", "preprocess", "inference", "postprocess"}
    assert all(value > 0 for value in timings.values())


def test_json_base64_body_as_a_direct_invoke_sends_it(
    handler, published: Path, bus_jpeg: bytes
) -> None:
    """A JSON body arrives as text (``isBase64Encoded: false``): API Gateway does not treat
    application/json as binary, and a direct invoke writes the event by hand."""
    payload = json.dumps({"image": base64.b64encode(bus_jpeg).decode()}).encode()
    event = rest_event("POST", "/predict", payload, "application/json", base64_encoded=False)
    status, body, _ = call(handler, event)
    assert status == 200, body
    _, raw, _ = call(handler, post_image(bus_jpeg))
    assert body["detections"] == raw["detections"]
    assert (body["image_width"], body["image_height"]) == (810, 1080)


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
    _, comma, _ = call(handler, post_image(bus_jpeg, query={"conf": "0.1", "classes": "2, 0"}))
    _, mixed, _ = call(
        handler, post_image(bus_jpeg, query={"conf": "0.1", "classes": ["0,2", "0"]})
    )
    assert comma["detections"] == mixed["detections"] == some["detections"]
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
        (b'{"image": 1}', "application/json", 400, "InvalidJsonBodyError"),
        (b'{"image": "not base64!"}', "application/json", 400, "InvalidJsonBodyError"),
        (b'{"image": "bm90IGFuIGltYWdl"}', "application/json", 400, "ImageDecodeError"),
        (b"{broken", "application/json", 400, "InvalidJsonBodyError"),
        (b"GIF89a" + bytes(40), "image/gif", 415, "UnsupportedMediaTypeError"),
        (b"\xff\xd8\xff" + bytes(40), None, 415, "UnsupportedMediaTypeError"),
    ],
    ids=[
        "text-as-jpeg",
        "bytes-as-octet",
        "empty-jpeg",
        "empty-untyped",
        "json-not-string",
        "json-bad-base64",
        "json-not-an-image",
        "json-broken",
        "gif",
        "untyped",
    ],
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


@pytest.mark.parametrize(
    "query",
    [
        {"conf": "2"},
        {"conf": "nan"},
        {"iou": "-1"},
        {"iou": "inf"},
        {"max_det": "zero"},
        {"max_det": "0"},
        {"max_det": "1001"},
        {"classes": "a"},
        {"classes": ""},
        {"classes": "-1"},
        {"classes": ["1", "1;2"]},
    ],
)
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
    assert handler.app.state.store.wait_for_loads(60)
    assert call(handler, post_image(small_jpeg))[1]["model_version"] == "1"


# --- health and model info ------------------------------------------------------------------


def test_health_does_not_load_the_model(handler, published: Path, small_jpeg: bytes) -> None:
    healthy = {
        "status": "ok",
        "reason": None,
        "error": None,
        "since": None,
        "candidate_version": None,
        "canary_percent": None,
    }
    status, body, _ = call(handler, rest_event("GET", "/health"))
    assert (status, body) == (200, {**healthy, "model_loaded": False, "model_version": None})
    call(handler, post_image(small_jpeg))
    status, body, _ = call(handler, rest_event("GET", "/health"))
    assert (status, body) == (200, {**healthy, "model_loaded": True, "model_version": "1"})


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
    assert body["alias_parameter"] == ALIAS_PARAMETER
    assert (body["candidate_parameter"], body["candidate_version"]) == (None, None)
    loaded_at = datetime.fromisoformat(body["loaded_at"])
    assert loaded_at.tzinfo is not None
    assert abs((datetime.now(UTC) - loaded_at).total_seconds()) < 60
    _, again, _ = call(handler, rest_event("GET", "/model/info"))
    assert again["loaded_at"] == body["loaded_at"], "loaded once, not per request"


def test_health_is_degraded_while_nothing_is_promoted(
    handler, aws: None, onnx_models, small_jpeg: bytes
) -> None:
    set_alias("none")
    assert call(handler, rest_event("GET", "/health"))[1]["status"] == "ok", "nothing tried yet"
    assert call(handler, post_image(small_jpeg))[0] == 503
    status, body, _ = call(handler, rest_event("GET", "/health"))
    assert status == 200
    assert (body["status"], body["model_loaded"], body["error"]) == (
        "degraded",
        False,
        "AliasNotFoundError",
    )
    assert "no model version is promoted" in body["reason"]
    assert datetime.fromisoformat(body["since"]).tzinfo is not None

    publish("1", onnx_models[SQUARE_IMGSZ], SQUARE_IMGSZ)
    set_alias("1")
    fresh = Mangum(create_app(handler.app.state.settings), lifespan="off")  # alias uncached
    assert call(fresh, post_image(small_jpeg))[0] == 200
    assert call(fresh, rest_event("GET", "/health"))[1]["status"] == "ok"


def test_health_is_degraded_while_an_older_version_keeps_serving(
    settings: Settings, published: Path, small_jpeg: bytes
) -> None:
    handler = Mangum(create_app(settings.model_copy(update={"alias_ttl_seconds": 0})))
    assert call(handler, post_image(small_jpeg))[0] == 200
    set_alias("42")
    status, body, _ = call(handler, post_image(small_jpeg))
    assert (status, body["model_version"]) == (200, "1")
    assert handler.app.state.store.wait_for_loads(60)  # the refused load of 42
    _, health, _ = call(handler, rest_event("GET", "/health"))
    assert (health["status"], health["model_version"]) == ("degraded", "1")
    assert health["error"] == "ModelVersionNotFoundError"
    assert "'42'" in health["reason"] and "version '1'" in health["reason"]
    set_alias("1")  # rolled back: /health sees it without a prediction in between
    assert call(handler, rest_event("GET", "/health"))[1]["status"] == "ok"


# --- canary --------------------------------------------------------------------------------


def test_canary_answers_its_share_and_says_so_then_abort_leaves_the_champion(
    settings: Settings, aws: None, onnx_models, small_jpeg: bytes
) -> None:
    publish("1", onnx_models[SQUARE_IMGSZ], SQUARE_IMGSZ)
    publish("2", onnx_models[WIDE_IMGSZ], WIDE_IMGSZ)
    set_alias("1")
    set_candidate("2", percent=50)
    canary = settings.model_copy(
        update={"alias_ttl_seconds": 0, "candidate_parameter": CANDIDATE_PARAMETER}
    )
    draws = itertools.cycle([0.2, 0.7])  # under 50 %, over
    store = ModelStore(canary, draw=lambda: next(draws))
    handler = Mangum(create_app(canary, store=store), lifespan="off")
    call(handler, rest_event("GET", "/model/info"))  # cold: the champion, then the candidate
    assert store.wait_for_loads(60)

    answers = [call(handler, post_image(small_jpeg)) for _ in range(4)]
    batch = call(handler, post_batch([("a.jpg", small_jpeg, None)] * 2))

    served = [(b["model_version"], b["model_alias"]) for _, b, _ in answers]
    assert served == [("2", "candidate"), ("1", "champion")] * 2
    assert [(h["x-model-version"], h["x-model-alias"]) for _, _, h in answers] == served
    assert (batch[1]["model_version"], batch[1]["model_alias"]) == ("2", "candidate")
    _, health, _ = call(handler, rest_event("GET", "/health"))
    assert (health["status"], health["model_version"]) == ("ok", "1")
    assert (health["candidate_version"], health["canary_percent"]) == ("2", 50)
    _, info, _ = call(handler, rest_event("GET", "/model/info"))
    assert (info["version"], info["candidate_version"]) == ("1", "2")
    assert (info["candidate_parameter"], info["canary_percent"]) == (CANDIDATE_PARAMETER, 50)
    samples = scrape(handler)
    count = "predict_requests_total"
    assert samples[count, labels("/predict", 200, "2")] == 2, "labelled by who answered"
    assert samples[count, labels("/predict", 200, "1")] == 2
    assert samples[count, labels("/predict/batch", 200, "2")] == 1

    set_candidate(None)  # abort
    after = {call(handler, post_image(small_jpeg))[1]["model_alias"] for _ in range(4)}
    assert after == {"champion"}
    assert call(handler, rest_event("GET", "/health"))[1]["candidate_version"] is None


# --- batch ---------------------------------------------------------------------------------


def post_batch(files: list[tuple[str | None, bytes, str | None]], query=None) -> dict:
    """A multipart body with one repeated ``files`` part per item."""
    boundary = "----pytestbatch"
    parts = []
    for filename, content, content_type in files:
        head = 'Content-Disposition: form-data; name="files"'
        if filename is not None:
            head += f'; filename="{filename}"'
        if content_type:
            head += f"\r\nContent-Type: {content_type}"
        parts.append(f"--{boundary}\r\n{head}\r\n\r\n".encode() + content + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    content_type = f"multipart/form-data; boundary={boundary}"
    return rest_event("POST", "/predict/batch", body, content_type, query=query)


def test_batch_answers_each_image_in_order(
    handler, published: Path, bus_jpeg: bytes, zidane_jpeg: bytes, bus_rgb: np.ndarray
) -> None:
    png = encode(np.ascontiguousarray(bus_rgb[::4, ::4]), "PNG")
    files = [
        ("zidane.jpg", zidane_jpeg, "image/jpeg"),
        ("bus.jpg", bus_jpeg, "image/jpeg"),
        ("small.png", png, "image/png"),
        ("again", bus_jpeg, None),
    ]
    status, body, _ = call(handler, post_batch(files, query={"conf": "0.1", "classes": "0,2"}))
    assert status == 200, body
    assert (body["model_name"], body["model_version"]) == (MODEL_NAME, "1")
    assert (body["model_alias"], body["failed"]) == ("champion", 0)
    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert {r["status"] for r in results} == {200}
    assert [r["filename"] for r in results] == ["zidane.jpg", "bus.jpg", "small.png", "again"]
    sizes = [(r["image_width"], r["image_height"]) for r in results]
    assert sizes == [(1280, 720), (810, 1080), (203, 270), (810, 1080)]
    for result, (_, data, _) in zip(results, files, strict=True):
        _, single, _ = call(handler, post_image(data, query={"conf": "0.1", "classes": "0,2"}))
        assert result["detections"] == single["detections"]
        assert {d["class_id"] for d in result["detections"]} <= {0, 2}
        assert set(result["timings_ms"]) == {"decode", "preprocess", "inference", "postprocess"}
    assert results[1]["detections"] == results[3]["detections"]


def test_batch_of_one(handler, published: Path, small_jpeg: bytes) -> None:
    status, body, headers = call(handler, post_batch([("a.jpg", small_jpeg, "image/jpeg")]))
    assert status == 200, body
    assert len(body["results"]) == 1
    assert (headers["x-model-version"], headers["x-model-alias"]) == ("1", "champion")


def test_batch_answers_the_good_images_and_names_each_bad_one(
    settings: Settings, published: Path, small_jpeg: bytes, bus_jpeg: bytes
) -> None:
    pixels = 102 * 135  # small_jpeg passes, bus.jpg is over the pixel limit
    handler = Mangum(create_app(settings.model_copy(update={"max_image_pixels": pixels})))
    files = [
        ("a.jpg", small_jpeg, "image/jpeg"),
        ("junk.jpg", b"not a jpeg", None),
        ("half.jpg", small_jpeg[: len(small_jpeg) // 2], None),
        ("empty.jpg", b"", None),
        ("bus.jpg", bus_jpeg, None),
        ("again.jpg", small_jpeg, None),
    ]
    status, body, _ = call(handler, post_batch(files))

    assert status == 200, body
    results = body["results"]
    assert [(r["index"], r["filename"], r["status"]) for r in results] == [
        (0, "a.jpg", 200),
        (1, "junk.jpg", 400),
        (2, "half.jpg", 400),
        (3, "empty.jpg", 400),
        (4, "bus.jpg", 413),
        (5, "again.jpg", 200),
    ]
    assert [r.get("error") for r in results] == [
        None,
        "ImageDecodeError",
        "ImageDecodeError",
        "EmptyImageError",
        "PayloadTooLargeError",
        None,
    ]
    assert "corrupt or truncated" in results[2]["detail"]
    assert "files[3] is empty" in results[3]["detail"]
    assert body["failed"] == 4
    _, single, _ = call(handler, post_image(small_jpeg))
    assert results[0]["detections"] == results[5]["detections"] == single["detections"]
    for bad in results[1:5]:
        assert set(bad) == {"index", "filename", "status", "error", "detail"}


def test_batch_of_only_bad_images_is_still_answered_per_image(handler, published: Path) -> None:
    status, body, _ = call(handler, post_batch([("a.jpg", b"x", None), ("b.jpg", b"", None)]))
    assert status == 200, body
    assert ([r["status"] for r in body["results"]], body["failed"]) == ([400, 400], 2)


# --- every bad input: 4xx JSON, and the next request is served ---------------------------

LIMITED = {"max_body_bytes": 60_000, "max_batch_images": 3}
"""Limits of the ``limited`` handler: small_jpeg (about 9 kB) fits, bus.jpg does not."""

BAD_REQUESTS = {
    # name: (event builder(small_jpeg, bus_jpeg), status, error, words in the detail)
    "json-bad-base64": (
        lambda small, _: rest_event(
            "POST", "/predict", b'{"image": "@@@"}', "application/json", base64_encoded=False
        ),
        400,
        "InvalidJsonBodyError",
        "base64",
    ),
    "json-no-image": (
        lambda small, _: rest_event(
            "POST", "/predict", b'{"file": "AAAA"}', "application/json", base64_encoded=False
        ),
        400,
        "InvalidJsonBodyError",
        "image",
    ),
    "json-too-large": (
        lambda _, bus: rest_event(
            "POST",
            "/predict",
            json.dumps({"image": base64.b64encode(bus).decode()}).encode(),
            "application/json",
            base64_encoded=False,
        ),
        413,
        "PayloadTooLargeError",
        "60000",
    ),
    "conf-above-1": (lambda small, _: post_image(small, query={"conf": "1.5"}), 422, None, "conf"),
    "iou-below-0": (lambda small, _: post_image(small, query={"iou": "-0.1"}), 422, None, "iou"),
    "max-det-too-big": (
        lambda small, _: post_image(small, query={"max_det": "100000"}),
        422,
        None,
        "max_det",
    ),
    "classes-not-ids": (
        lambda small, _: post_image(small, query={"classes": "person"}),
        422,
        None,
        "classes",
    ),
    "classes-unknown": (
        lambda small, _: post_image(small, query={"classes": ["0,7", "42"]}),
        422,
        "UnknownClassError",
        "[7, 42]",
    ),
    "batch-classes-unknown": (
        lambda small, _: post_batch([("a.jpg", small, "image/jpeg")], query={"classes": "3"}),
        422,
        "UnknownClassError",
        "[3]",
    ),
    "batch-max-det-0": (
        lambda small, _: post_batch([("a.jpg", small, "image/jpeg")], query={"max_det": "0"}),
        422,
        None,
        "max_det",
    ),
    "batch-too-many": (
        lambda small, _: post_batch([("a.jpg", small, "image/jpeg")] * 4),
        400,
        "TooManyImagesError",
        "4 images sent, at most 3",
    ),
    "batch-too-large": (
        lambda small, bus: post_batch([("a.jpg", small, "image/jpeg"), ("b.jpg", bus, None)]),
        413,
        "PayloadTooLargeError",
        "more than 60000",
    ),
    "batch-text-part": (
        lambda small, _: post_batch([(None, b"hello", None)]),
        400,
        "MissingFileFieldError",
        "files[0] is a text field",
    ),
    "batch-no-files-field": (
        lambda small, _: rest_event(
            "POST", "/predict/batch", *multipart_body({"file": ("a.jpg", small, "image/jpeg")})
        ),
        400,
        "MissingFileFieldError",
        "'files'",
    ),
    "batch-raw-image": (
        lambda small, _: rest_event("POST", "/predict/batch", small, "image/jpeg"),
        415,
        "UnsupportedMediaTypeError",
        "multipart/form-data",
    ),
    "batch-empty-body": (
        lambda small, _: rest_event("POST", "/predict/batch", b"", "multipart/form-data"),
        400,
        "EmptyImageError",
        "empty",
    ),
    "batch-get": (lambda small, _: rest_event("GET", "/predict/batch"), 405, "HTTPException", ""),
}


@pytest.fixture
def limited(settings: Settings):
    return Mangum(create_app(settings.model_copy(update=LIMITED)), lifespan="off")


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_bad_request_then_the_next_one_is_served(
    limited, published: Path, small_jpeg: bytes, bus_jpeg: bytes, name: str
) -> None:
    build, expected, error, words = BAD_REQUESTS[name]
    status, body, headers = call(limited, build(small_jpeg, bus_jpeg))
    assert_error(status, body, headers, expected, error or "RequestValidationError")
    assert words in body["detail"]
    status, body, _ = call(limited, post_image(small_jpeg, query={"classes": "0,1,2"}))
    assert status == 200, body
    status, body, _ = call(limited, post_batch([("a.jpg", small_jpeg, None)] * 3))
    assert status == 200 and len(body["results"]) == 3, body


# --- metrics ---------------------------------------------------------------------------------


def scrape(handler) -> dict[tuple[str, frozenset], float]:
    response = handler(rest_event("GET", "/metrics"), LambdaContext())
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response["body"])
        for sample in family.samples
    }


def labels(route: str, status: int, version: str) -> frozenset:
    return frozenset({"route": route, "status": str(status), "model_version": version}.items())


def test_prometheus_metrics_by_route_status_and_version(
    handler, published: Path, small_jpeg: bytes
) -> None:
    call(handler, post_image(b"junk"))  # before any model loads
    call(handler, post_image(small_jpeg))
    call(handler, post_image(small_jpeg))
    call(handler, post_batch([("a.jpg", small_jpeg, None)]))
    call(handler, rest_event("GET", "/nope"))
    call(handler, rest_event("GET", "/health"))
    samples = scrape(handler)
    count, seconds = "predict_requests_total", "predict_request_duration_seconds"
    assert samples[count, labels("/predict", 400, "none")] == 1
    assert samples[count, labels("/predict", 200, "1")] == 2
    assert samples[count, labels("/predict/batch", 200, "1")] == 1
    assert samples[count, labels("unmatched", 404, "1")] == 1
    assert samples[count, labels("/health", 200, "1")] == 1
    assert samples[f"{seconds}_count", labels("/predict", 200, "1")] == 2
    assert samples[f"{seconds}_sum", labels("/predict", 200, "1")] > 0
    assert scrape(handler)[count, labels("/metrics", 200, "1")] == 1, "the first scrape counts"

    other = Mangum(create_app(handler.app.state.settings), lifespan="off")
    assert (count, labels("/predict", 200, "1")) not in scrape(other), "one registry per app"


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


def emf_blobs(printed: str) -> list[dict]:
    """The Embedded Metric Format documents among the printed JSON lines."""
    lines = [json.loads(line) for line in printed.splitlines() if line.startswith("{")]
    return [line for line in lines if "_aws" in line]


def test_each_handled_event_prints_its_emf_metrics(
    lambda_module, small_jpeg: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    response = lambda_module.handler(post_image(small_jpeg), LambdaContext())
    assert response["statusCode"] == 200, response["body"]
    detections = len(json.loads(response["body"])["detections"])

    blobs = [b for b in emf_blobs(capsys.readouterr().out) if "PredictLatency" in b]
    assert len(blobs) == 1, "one flush per invocation"
    blob = blobs[0]
    directive = blob["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "ServerlessDetector"
    assert ["ModelVersion", "service"] in [sorted(d) for d in directive["Dimensions"]]
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units == {"PredictLatency": "Milliseconds", "Detections": "Count", "Images": "Count"}
    assert (blob["ModelVersion"], blob["service"]) == ("1", "predict")
    assert blob["Detections"] == [detections] and blob["Images"] == [1]
    assert blob["PredictLatency"][0] > 0

    for event in (post_image(b"junk"), rest_event("GET", "/health")):  # nothing to publish
        assert lambda_module.handler(event, LambdaContext())["statusCode"] in (200, 400)
        assert not [b for b in emf_blobs(capsys.readouterr().out) if "PredictLatency" in b]


def test_batch_emf_counts_images(
    lambda_module, small_jpeg: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    event = post_batch([("a.jpg", small_jpeg, None), ("b.jpg", small_jpeg, None)])
    response = lambda_module.handler(event, LambdaContext())
    assert response["statusCode"] == 200, response["body"]
    results = json.loads(response["body"])["results"]
    (blob,) = [b for b in emf_blobs(capsys.readouterr().out) if "PredictLatency" in b]
    assert blob["Images"] == [2]
    assert blob["Detections"] == [sum(len(r["detections"]) for r in results)]


@pytest.mark.parametrize(
    "name",
    [
        "predict_jpeg.json",
        "predict_multipart.json",
        "predict_json_base64.json",
        "predict_batch_multipart.json",
        "health.json",
    ],
)
def test_sample_events(lambda_module, name: str) -> None:
    event = json.loads((EVENTS_DIR / name).read_text())
    response = lambda_module.handler(event, LambdaContext())
    assert response["statusCode"] == 200, response["body"]
    body = json.loads(response["body"])
    if event["path"].startswith("/predict"):
        assert body["model_version"] == "1"
        assert len(event["body"]) < 40_000, "sample events stay small"
    if event["path"] == "/predict":
        assert body["image_width"] > 0
    if event["path"] == "/predict/batch":
        assert [r["index"] for r in body["results"]] == [0, 1]
