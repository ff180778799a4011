"""Request and response bodies of the prediction API (they make up its OpenAPI schema)."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from predict.detector import Detection


class Base64ImageRequest(BaseModel):
    """``POST /predict`` with ``Content-Type: application/json`` (e.g. a direct Lambda invoke)."""

    image: str = Field(
        description="The JPEG, PNG, WebP or BMP file, base64-encoded (standard alphabet, "
        "padded); a `data:image/...;base64,` prefix is allowed.",
        json_schema_extra={"contentEncoding": "base64"},
    )


class TimingsMs(BaseModel):
    """Milliseconds spent on one image in each step (``time.perf_counter``)."""

    decode: float = Field(ge=0, description="Image bytes to an upright RGB array.")
    preprocess: float = Field(ge=0, description="Letterbox and input tensor.")
    inference: float = Field(ge=0, description="ONNX Runtime session run.")
    postprocess: float = Field(ge=0, description="Decode, NMS, scaling back to image pixels.")


class ImagePrediction(BaseModel):
    """The detections in one image."""

    image_width: int = Field(description="Width of the decoded, upright image in pixels.")
    image_height: int = Field(description="Height of the decoded, upright image in pixels.")
    detections: list[Detection] = Field(description="By descending confidence.")
    timings_ms: TimingsMs


class PredictionResponse(ImagePrediction):
    """``POST /predict``: the detections in one image."""

    model_name: str
    model_version: str = Field(description="Registered model version that answered.")


class BatchImagePrediction(ImagePrediction):
    """One image of ``POST /predict/batch``."""

    index: int = Field(ge=0, description="Position of the image's `files` part in the request.")
    filename: str | None = Field(description="The part's filename, if the client sent one.")


class BatchPredictionResponse(BaseModel):
    """``POST /predict/batch``: one result per image, in request order, all from one model."""

    model_name: str
    model_version: str = Field(description="Registered model version that answered.")
    results: list[BatchImagePrediction] = Field(description="In the order the files were sent.")


class HealthResponse(BaseModel):
    """``GET /health``: does not load a model or call AWS; reports what the store knows."""

    status: Literal["ok", "degraded"] = Field(
        description="`degraded` when the last attempt to serve what the alias names failed "
        "(no model promoted, alias unreadable, aliased version cannot load): then either an "
        "older version keeps serving or requests answer 503."
    )
    model_loaded: bool
    model_version: str | None = Field(None, description="The version serving now, if any.")
    reason: str | None = Field(None, description="Why `degraded`; null when `ok`.")
    error: str | None = Field(None, description="Error type behind `reason`.")
    since: datetime | None = Field(None, description="When the failure happened (UTC).")


class ModelInfoResponse(BaseModel):
    """``GET /model/info``: the version serving now and where it came from."""

    model_name: str
    version: str
    sha256: str
    s3_uri: str
    mlflow_run_id: str | None
    metrics: dict[str, float]
    class_names: dict[int, str]
    imgsz: tuple[int, int] = Field(description="Model input (height, width) in pixels.")
    created_at: datetime
    alias_parameter: str = Field(description="SSM parameter that names the serving version.")
    loaded_at: datetime = Field(description="When this execution environment loaded it (UTC).")


class ErrorResponse(BaseModel):
    """Body of every error answer."""

    error: str = Field(description="Error type, e.g. ImageDecodeError.")
    detail: str = Field(description="What went wrong, for a human.")
