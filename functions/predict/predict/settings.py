"""The prediction service's configuration: environment variables prefixed ``PREDICT_``.

Defaults are the names ``template.yaml`` deploys by default (the template sets them all).
Example: ``PREDICT_MODELS_BUCKET=my-models PREDICT_ALIAS_TTL_SECONDS=10``.
"""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Typed settings of the predict function; each field reads ``PREDICT_<FIELD_NAME>``."""

    model_config = SettingsConfigDict(env_prefix="PREDICT_", extra="ignore")

    models_bucket: str = Field(
        "detector-models", description="S3 bucket holding models/<name>/<version>/."
    )
    model_name: str = Field("detector", description="Registered model name (S3 key segment).")
    alias_parameter: str = Field(
        "/detector/dev/model-alias",
        description="SSM parameter whose value is the model version that serves.",
    )
    alias_ttl_seconds: int = Field(
        60, ge=0, description="Seconds the alias value is cached before SSM is asked again."
    )
    cache_dir: Path = Field(Path("/tmp/models"), description="Local cache of downloaded models.")
    intra_op_threads: int = Field(1, ge=1, description="ONNX Runtime intra-op threads.")
    conf: float = Field(0.25, ge=0, le=1, description="Default confidence threshold.")
    iou: float = Field(0.7, ge=0, le=1, description="Default NMS IoU threshold.")
    max_det: int = Field(300, ge=1, description="Default maximum detections per image.")
    max_body_bytes: int = Field(
        6 * 1024 * 1024, ge=1, description="Largest request body (or uploaded file) accepted."
    )
    max_image_pixels: int = Field(
        40_000_000, ge=1, description="Largest width x height decoded (decompression bombs)."
    )
    aws_endpoint_url: str | None = Field(
        None,
        description="S3/SSM endpoint, e.g. http://127.0.0.1:4566 for LocalStack; None uses "
        "boto3's default (which also honours AWS_ENDPOINT_URL).",
    )
