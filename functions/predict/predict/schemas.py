"""Request and response bodies of the prediction API (they make up its OpenAPI schema)."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from predict.detector import Detection

MODEL_VERSION_HEADER = "X-Model-Version"
"""Response header of both predict routes: the registered model version that answered."""
MODEL_ALIAS_HEADER = "X-Model-Alias"
"""Response header of both predict routes: ``champion``, or ``candidate`` for the canary."""

ModelAlias = Literal["champion", "candidate"]
_ALIAS_DESCRIPTION = (
    "Which alias sent the request to that version: `champion` (the serving alias), or "
    "`candidate` while a canary takes a share of requests."
)


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
    model_alias: ModelAlias = Field(description=_ALIAS_DESCRIPTION)


class BatchImagePrediction(ImagePrediction):
    """One image of ``POST /predict/batch`` that was answered."""

    index: int = Field(ge=0, description="Position of the image's `files` part in the request.")
    filename: str | None = Field(description="The part's filename, if the client sent one.")
    status: Literal[200] = Field(200, description="200: this image was answered.")


class BatchImageError(BaseModel):
    """One image of ``POST /predict/batch`` that could not be read; the others are answered."""

    index: int = Field(ge=0, description="Position of the image's `files` part in the request.")
    filename: str | None = Field(description="The part's filename, if the client sent one.")
    status: Literal[400, 413] = Field(
        description="What `POST /predict` would answer for this image alone: 400 empty or "
        "undecodable, 413 over the pixel limit."
    )
    error: str = Field(description="Error type, e.g. ImageDecodeError.")
    detail: str = Field(description="What went wrong, for a human.")


class BatchPredictionResponse(BaseModel):
    """``POST /predict/batch``: one result per image, in request order, all from one model.

    A bad image does not fail the request: its result is a :class:`BatchImageError`
    (``status`` 400 or 413) and the other images are answered. Problems of the request
    itself (no ``files``, too many, body too large, bad query parameters, no model)
    answer an error status for the whole request.
    """

    model_name: str
    model_version: str = Field(description="Registered model version that answered.")
    model_alias: ModelAlias = Field(description=_ALIAS_DESCRIPTION)
    results: list[BatchImagePrediction | BatchImageError] = Field(
        description="In the order the files were sent; `status` tells answers (200) from "
        "images that could not be read."
    )
    failed: int = Field(ge=0, description="How many results are errors.")


class HealthResponse(BaseModel):
    """``GET /health``: does not load a model or call AWS; reports what the store knows."""

    status: Literal["ok", "degraded"] = Field(
        description="`degraded` when the last attempt to serve what the alias names failed "
        "(no model promoted, alias unreadable, aliased version cannot load): then either an "
        "older version keeps serving or requests answer 503."
    )
    model_loaded: bool
    model_version: str | None = Field(None, description="The champion serving now, if any.")
    candidate_version: str | None = Field(
        None, description="The canary's candidate serving now, if any."
    )
    canary_percent: float | None = Field(
        None, description="Share of requests the candidate answers, in percent."
    )
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
    candidate_parameter: str | None = Field(
        description="SSM parameter that names the canary's candidate; null: no canary configured."
    )
    candidate_version: str | None = Field(
        description="The candidate serving now in this environment, if any."
    )
    canary_percent: float | None = Field(
        description="Share of requests the candidate answers, in percent."
    )


class ErrorResponse(BaseModel):
    """Body of every error answer."""

    error: str = Field(description="Error type, e.g. ImageDecodeError.")
    detail: str = Field(description="What went wrong, for a human.")
