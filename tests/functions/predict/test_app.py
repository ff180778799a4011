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
        (errors.AliasNotFoundError, 503),
        (errors.ModelVersionNotFoundError, 503),
        (errors.InvalidManifestError, 503),
        (errors.ChecksumMismatchError, 503),
        (errors.ModelLoadError, 503),
        (errors.PredictError, 500),
    ],
)
def test_each_error_type_has_one_status(error: type[errors.PredictError], status: int) -> None:
    assert status_for(error("x")) == status


def test_openapi_documents_both_request_bodies_and_errors(tmp_path) -> None:
    schema = create_app(Settings(cache_dir=tmp_path)).openapi()
    predict = schema["paths"]["/predict"]["post"]
    content = predict["requestBody"]["content"]
    assert content["multipart/form-data"]["schema"]["required"] == ["file"]
    assert {"image/jpeg", "image/png", "image/webp", "image/bmp"} <= set(content)
    assert {"200", "400", "413", "415", "503"} <= set(predict["responses"])
    assert {p["name"] for p in predict["parameters"]} == {"conf", "iou", "max_det", "classes"}
    assert set(schema["paths"]) == {"/predict", "/health", "/model/info"}
    detection = schema["components"]["schemas"]["Detection"]["properties"]
    assert set(detection) == {"class_id", "class_name", "confidence", "box"}


def test_settings_read_the_predict_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREDICT_MODELS_BUCKET", "elsewhere")
    monkeypatch.setenv("PREDICT_ALIAS_TTL_SECONDS", "5")
    monkeypatch.setenv("PREDICT_INTRA_OP_THREADS", "2")
    settings = Settings()
    assert (settings.models_bucket, settings.alias_ttl_seconds) == ("elsewhere", 5)
    assert settings.intra_op_threads == 2
    assert str(settings.cache_dir) == "/tmp/models"


def test_creating_the_app_calls_no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import boto3

    def refuse(*args, **kwargs):
        raise AssertionError("a boto3 client was created while building the app")

    monkeypatch.setattr(boto3.session.Session, "client", refuse)
    app = create_app(Settings(cache_dir=tmp_path))
    assert app.state.store.loaded is None
