"""Publish a registered model version to the models bucket for the Lambda to load.

Writes ``models/<name>/<version>/model.onnx`` then ``manifest.json`` (the manifest last, so
a reader that finds it can rely on the ONNX file being complete). Promotion (the SSM alias)
is ``release/``'s job, not this module's.
"""

from pathlib import Path

from predict.manifest import ModelManifest, manifest_key, onnx_key, sha256_file
from training.settings import TrainingSettings


def build_manifest(
    onnx_path: Path,
    model_name: str,
    version: str,
    class_names: dict[int, str],
    imgsz: tuple[int, int],
    run_id: str | None,
    metrics: dict[str, float],
    dynamic: bool = False,
    stride: int = 32,
) -> ModelManifest:
    return ModelManifest(
        model_name=model_name,
        version=version,
        sha256=sha256_file(onnx_path),
        size_bytes=onnx_path.stat().st_size,
        class_names=class_names,
        imgsz=imgsz,
        dynamic=dynamic,
        stride=stride,
        mlflow_run_id=run_id,
        metrics=metrics,
    )


def ensure_bucket(settings: TrainingSettings, s3=None) -> None:
    """Check the models bucket answers; create it on an emulated endpoint (on real AWS it
    must already exist).

    Raises:
        botocore.exceptions.ClientError: on AWS, the bucket is missing or not readable.
        botocore.exceptions.EndpointConnectionError: nothing answers at the endpoint.
    """
    from botocore.exceptions import ClientError

    s3 = s3 or settings.client("s3")
    try:
        s3.head_bucket(Bucket=settings.models_bucket)
    except ClientError:
        if settings.aws_endpoint_url is None:
            raise
        s3.create_bucket(Bucket=settings.models_bucket)


def publish_model(
    onnx_path: Path, manifest: ModelManifest, settings: TrainingSettings
) -> tuple[str, str]:
    """Upload the ONNX file and its manifest; return their S3 keys."""
    s3 = settings.client("s3")
    ensure_bucket(settings, s3)
    model_key = onnx_key(manifest.model_name, manifest.version)
    meta_key = manifest_key(manifest.model_name, manifest.version)
    s3.upload_file(
        str(onnx_path),
        settings.models_bucket,
        model_key,
        ExtraArgs={
            "ContentType": "application/octet-stream",
            "Metadata": {"sha256": manifest.sha256},
        },
    )
    s3.put_object(
        Bucket=settings.models_bucket,
        Key=meta_key,
        Body=manifest.model_dump_json(indent=2).encode(),
        ContentType="application/json",
    )
    return model_key, meta_key
