"""Response bodies of the prediction API (they make up its OpenAPI schema)."""

from datetime import datetime

from pydantic import BaseModel, Field

from predict.detector import Detection


class PredictionResponse(BaseModel):
    """``POST /predict``: the detections in one image."""

    model_name: str
    model_version: str = Field(description="Registered model version that answered.")
    image_width: int = Field(description="Width of the decoded, upright image in pixels.")
    image_height: int = Field(description="Height of the decoded, upright image in pixels.")
    detections: list[Detection] = Field(description="By descending confidence.")


class HealthResponse(BaseModel):
    """``GET /health``: liveness; does not load a model."""

    status: str = "ok"
    model_loaded: bool
    model_version: str | None = None


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


class ErrorResponse(BaseModel):
    """Body of every error answer."""

    error: str = Field(description="Error type, e.g. ImageDecodeError.")
    detail: str = Field(description="What went wrong, for a human.")
