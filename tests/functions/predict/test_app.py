"""predict.app: the error mapping and the OpenAPI contract."""

import pytest

from predict import errors
from predict.app import create_app, status_for
from predict.settings import Settings


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.EmptyImageError, 400),
        (errors.MissingFileFieldError, 400),
        (errors.ImageDecodeError, 400),
        (errors.UnsupportedMediaTypeError, 415),
        (errors.PayloadTooLargeError, 413),
        (errors.InvalidJsonBodyError, 400),
        (errors.TooManyImagesError, 400),
        (errors.UnknownClassError, 422),
        (errors.InvalidRequestError, 400),
        (errors.AliasNotFoundError, 503),
        (errors.ModelVersionNotFoundError, 503),
        (errors.InvalidManifestError, 503),
        (errors.ChecksumMismatchError, 503),
        (errors.ModelLoadError, 503),
        (errors.ModelShapeError, 503),
        (errors.CacheBudgetError, 503),
        (errors.InvalidCandidateError, 503),
        (errors.PredictError, 500),
    ],
)
def test_each_error_type_has_one_status(error: type[errors.PredictError], status: int) -> None:
    assert status_for(error("x")) == status


def test_openapi_documents_both_request_bodies_and_errors(tmp_path) -> None:
    schema = create_app(Settings(cache_dir=tmp_path, max_batch_images=5)).openapi()
    assert set(schema["paths"]) == {
        "/predict",
        "/predict/batch",
        "/health",
        "/model/info",
        "/metrics",
    }
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}

    predict = schema["paths"]["/predict"]["post"]
    content = predict["requestBody"]["content"]
    assert content["multipart/form-data"]["schema"]["required"] == ["file"]
    assert content["application/json"]["schema"]["required"] == ["image"]
    assert {"image/jpeg", "image/png", "image/webp", "image/bmp"} <= set(content)
    assert {p["name"] for p in predict["parameters"]} == {"conf", "iou", "max_det", "classes"}
    ranges = {p["name"]: p["schema"]["anyOf"][0] for p in predict["parameters"]}
    assert (ranges["conf"]["minimum"], ranges["conf"]["maximum"]) == (0, 1)
    assert (ranges["iou"]["minimum"], ranges["iou"]["maximum"]) == (0, 1)
    assert (ranges["max_det"]["minimum"], ranges["max_det"]["maximum"]) == (1, 1000)
    assert ranges["classes"]["items"]["pattern"]

    batch = schema["paths"]["/predict/batch"]["post"]
    files = batch["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]["files"]
    assert (files["items"]["format"], files["maxItems"]) == ("binary", 5)
    assert {p["name"] for p in batch["parameters"]} == {"conf", "iou", "max_det", "classes"}

    for operation in (predict, batch):
        responses = operation["responses"]
        assert {"200", "400", "413", "415", "422", "503"} == set(responses)
        for status in ("400", "413", "415", "422", "503"):
            assert responses[status]["content"]["application/json"]["schema"] == error_ref
    assert "HTTPValidationError" not in schema["components"]["schemas"]

    metrics = schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert any(media_type.startswith("text/plain") for media_type in metrics)

    components = schema["components"]["schemas"]
    assert set(components["Detection"]["properties"]) == {
        "class_id",
        "class_name",
        "confidence",
        "box",
        "box_xywhn",
    }
    assert set(components["TimingsMs"]["properties"]) == {
        "decode",
        "preprocess",
        "inference",
        "postprocess",
    }
    assert "timings_ms" in components["PredictionResponse"]["properties"]
    assert {"index", "filename"} <= set(components["BatchImagePrediction"]["properties"])
    assert components["HealthResponse"]["properties"]["status"]["enum"] == ["ok", "degraded"]
    assert {"alias_parameter", "loaded_at"} <= set(components["ModelInfoResponse"]["properties"])


def test_openapi_says_who_answered_and_how_a_batch_reports_bad_images(tmp_path) -> None:
    schema = create_app(Settings(cache_dir=tmp_path)).openapi()
    components = schema["components"]["schemas"]
    for route in ("/predict", "/predict/batch"):
        ok = schema["paths"][route]["post"]["responses"]["200"]
        assert set(ok["headers"]) == {"X-Model-Version", "X-Model-Alias"}
        assert ok["headers"]["X-Model-Alias"]["schema"]["enum"] == ["champion", "candidate"]
    for response in ("PredictionResponse", "BatchPredictionResponse"):
        alias = components[response]["properties"]["model_alias"]
        assert alias["enum"] == ["champion", "candidate"]
    results = components["BatchPredictionResponse"]["properties"]["results"]["items"]
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in results["anyOf"]} == {
        "BatchImagePrediction",
        "BatchImageError",
    }
    error = components["BatchImageError"]
    assert set(error["required"]) == {"index", "filename", "status", "error", "detail"}
    assert error["properties"]["status"]["enum"] == [400, 413]
    assert components["BatchImagePrediction"]["properties"]["status"]["const"] == 200
    health = components["HealthResponse"]["properties"]
    assert {"candidate_version", "canary_percent"} <= set(health)
    info = components["ModelInfoResponse"]["properties"]
    assert {"candidate_parameter", "candidate_version", "canary_percent"} <= set(info)


def test_settings_read_the_predict_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREDICT_MODELS_BUCKET", "elsewhere")
    monkeypatch.setenv("PREDICT_ALIAS_TTL_SECONDS", "5")
    monkeypatch.setenv("PREDICT_INTRA_OP_THREADS", "2")
    monkeypatch.setenv("PREDICT_CACHE_BUDGET_BYTES", "1000000")
    settings = Settings()
    assert (settings.models_bucket, settings.alias_ttl_seconds) == ("elsewhere", 5)
    assert settings.intra_op_threads == 2
    assert str(settings.cache_dir) == "/tmp/models"
    assert settings.cache_budget_bytes == 1_000_000


def test_candidate_parameter_is_optional(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().candidate_parameter is None
    monkeypatch.setenv("PREDICT_CANDIDATE_PARAMETER", "")  # a template without a canary
    assert Settings().candidate_parameter is None
    monkeypatch.setenv("PREDICT_CANDIDATE_PARAMETER", "/detector/dev/model-candidate")
    assert Settings().candidate_parameter == "/detector/dev/model-candidate"


def test_empty_endpoint_means_the_aws_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREDICT_AWS_ENDPOINT_URL", "")  # as template.yaml declares it
    assert Settings().aws_endpoint_url is None
    monkeypatch.setenv("PREDICT_AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    assert Settings().aws_endpoint_url == "http://127.0.0.1:4566"


def test_creating_the_app_calls_no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import boto3

    def refuse(*args, **kwargs):
        raise AssertionError("a boto3 client was created while building the app")

    monkeypatch.setattr(boto3.session.Session, "client", refuse)
    app = create_app(Settings(cache_dir=tmp_path))
    assert app.state.store.loaded is None
