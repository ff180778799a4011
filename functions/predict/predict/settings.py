"""The prediction service's configuration: environment variables prefixed ``PREDICT_``.

Defaults are the names ``template.yaml`` deploys by default (the template sets them all).
Example: ``PREDICT_MODELS_BUCKET=my-models PREDICT_ALIAS_TTL_SECONDS=10``.
"""

from pathlib import Path

from pydantic import Field, field_validator
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
    candidate_parameter: str | None = Field(
        None,
        description="SSM parameter naming the canary's candidate version and traffic share "
        '(`none` or {"version": "3", "percent": 10}); None or empty: no canary.',
    )
    alias_ttl_seconds: int = Field(
        60,
        ge=0,
        description="Seconds the alias and candidate values are cached before SSM is asked "
        "again; also how long a refused version waits before it is tried again.",
    )
    cache_dir: Path = Field(Path("/tmp/models"), description="Local cache of downloaded models.")
    # Lambda's /tmp is 512 MB unless EphemeralStorage says more; yolo11n is about 11 MB.
    cache_budget_bytes: int = Field(
        384 * 1024 * 1024,
        ge=1,
        description="Most bytes of model files kept under cache_dir; least recently used "
        "versions are evicted first, never those serving; a larger version is refused.",
    )
    intra_op_threads: int = Field(1, ge=1, description="ONNX Runtime intra-op threads.")
    conf: float = Field(0.25, ge=0, le=1, description="Default confidence threshold.")
    iou: float = Field(0.7, ge=0, le=1, description="Default NMS IoU threshold.")
    max_det: int = Field(300, ge=1, description="Default maximum detections per image.")
    # Lambda's invoke payload is 6 MB and API Gateway base64-encodes binary bodies into it
    # (4/3 larger, plus the event's own JSON), so about 4.4 MB of image can arrive at all.
    max_body_bytes: int = Field(
        4 * 1024 * 1024, ge=1, description="Largest request body (or uploaded file) accepted."
    )
    max_image_pixels: int = Field(
        40_000_000, ge=1, description="Largest width x height decoded (decompression bombs)."
    )
    max_batch_images: int = Field(
        8, ge=1, description="Most images in one POST /predict/batch (repeated 'files' parts)."
    )
    metrics_namespace: str = Field(
        "ServerlessDetector", description="CloudWatch namespace of the EMF metrics."
    )
    aws_endpoint_url: str | None = Field(
        None,
        description="S3/SSM endpoint, e.g. http://127.0.0.1:4566 for LocalStack; None uses "
        "boto3's default (which also honours AWS_ENDPOINT_URL).",
    )

    @field_validator("aws_endpoint_url", "candidate_parameter")
    @classmethod
    def _empty_is_default(cls, value: str | None) -> str | None:
        # The template declares PREDICT_AWS_ENDPOINT_URL="" so `sam local invoke --env-vars`
        # can override it; empty means boto3's default (and, for the candidate, no canary).
        return value or None
