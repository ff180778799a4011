"""Helpers for the predict function's tests: test model export, publishing, API events.

The ONNX models are YOLO11n built from ``yolo11n.yaml`` (no pretrained weights can be
downloaded here). An untrained YOLO11n answers the same constant score everywhere, which
would make a parity test meaningless, so :func:`calibrated_yolo11n` first recalibrates the
BatchNorm statistics on the two test photos, then rescales the class logits so that a small
share of anchors per class scores above 0.5: detections then depend on the image content.
The serving benchmark (``benchmarks/serving_latency.py``) builds its model the same way, and
runs the function as :func:`sam_build` packages it, under :data:`RUNTIME_PYTHON`.
"""

import base64
import importlib.util
import io
import json
import os
import shutil
import subprocess
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from PIL import Image

from predict.manifest import ModelManifest, manifest_key, onnx_key, sha256_file

CLASS_NAMES = {0: "circle", 1: "square", 2: "triangle"}
SQUARE_IMGSZ = (320, 320)
WIDE_IMGSZ = (256, 384)
"""Non-square export size, (height, width)."""
LARGE_IMGSZ = (640, 640)
MODEL_NAME = "detector-test"
BUCKET = "models-test"
ALIAS_PARAMETER = "/detector/test/model-alias"
CANDIDATE_PARAMETER = "/detector/test/model-candidate"
ASSETS = Path(importlib.util.find_spec("ultralytics").submodule_search_locations[0]) / "assets"
REPO = Path(__file__).resolve().parents[3]
SAM = REPO / ".tools" / "bin" / "sam"
RUNTIME_PYTHON = REPO / ".venv-lambda-py312" / "bin" / "python"
"""What the python3.12 Lambda runtime provides (boto3, the runtime interface client)."""


def python312() -> Path | None:
    """A python3.12 with pip, as ``scripts/lib.sh find_python`` finds it."""
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = sorted(versions.glob("3.12*/bin/python3.12"))
    which = shutil.which("python3.12")
    return found[-1] if found else Path(which) if which else None


def sam_build(build_dir: Path, cache_dir: Path) -> Path:
    """``sam build --cached`` of template.yaml, as ``make deploy`` builds it (function and
    layer by their makefiles, with python3.12): about 30 s on 2 cores, seconds when nothing
    changed. Returns the build folder (``PredictFunction/``: /var/task; ``RuntimeLayer/``).

    Raises:
        FileNotFoundError: no SAM CLI in ``.tools/`` or no python3.12 (``make setup``).
        RuntimeError: the build failed (its output in the message).
    """
    python = python312()
    if not SAM.is_file() or python is None:
        raise FileNotFoundError("needs the SAM CLI in .tools/ and a python3.12 (make setup)")
    env = os.environ | {
        "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}",
        "SAM_CLI_TELEMETRY": "0",
    }
    command = [str(SAM), "build", "--template-file", str(REPO / "template.yaml"), "--cached"]
    command += ["--build-dir", str(build_dir), "--cache-dir", str(cache_dir)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"sam build failed:\n{done.stdout}\n{done.stderr}")
    return build_dir


def calibrated_yolo11n(
    class_names: dict[int, str],
    workdir: Path,
    imgsz: tuple[int, int],
    auto: bool = False,
    quantile: float = 0.995,
    logit_scale: float = 1.0,
    logit_shift: float = 0.0,
) -> Any:
    """An untrained YOLO11n (``ultralytics.YOLO``, seeded) made to answer image-dependently.

    BatchNorm statistics are those of bus.jpg and zidane.jpg letterboxed to ``imgsz`` (with
    ``auto``, padded only to the stride, as a dynamic export sees them); then
    per class ``logit' = logit_scale * (logit - q) / std - logit_shift``, with ``q`` the
    ``quantile`` of that class's logits on the photos: about ``1 - quantile`` of anchors
    score above 0.5 before the shift. An untrained network is far from scale-invariant, so
    the detections are only of a sensible number near ``imgsz``.
    """
    import cv2
    import torch
    import yaml
    from ultralytics import YOLO
    from ultralytics.data.augment import LetterBox
    from ultralytics.nn.modules.head import Detect
    from ultralytics.nn.tasks import yaml_model_load

    cfg = yaml_model_load("yolo11n.yaml")  # from the wheel, with scale "n" guessed from the name
    cfg["nc"] = len(class_names)
    workdir.mkdir(parents=True, exist_ok=True)
    model_yaml = workdir / "yolo11n.yaml"
    model_yaml.write_text(yaml.safe_dump(cfg))

    torch.manual_seed(0)
    yolo = YOLO(str(model_yaml), task="detect")
    yolo.model.names = dict(class_names)
    net = yolo.model
    photos = [cv2.imread(str(ASSETS / name)) for name in ("bus.jpg", "zidane.jpg")]
    boxed = [LetterBox(imgsz, auto=auto)(image=p)[..., ::-1] for p in photos]
    same_shape = len({b.shape for b in boxed}) == 1
    batches = [
        torch.from_numpy(np.stack(group).transpose(0, 3, 1, 2).copy()).float() / 255
        for group in ([boxed] if same_shape else [[b] for b in boxed])
    ]

    for module in net.modules():  # BatchNorm statistics of real activations, not the init ones
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # a cumulative average when there is more than one batch
    net.train()
    with torch.no_grad():
        for x in batches:
            net(x)
    net.eval()

    head = next(m for m in net.modules() if isinstance(m, Detect))
    logits: list[torch.Tensor] = []
    hooks = [
        branch[-1].register_forward_hook(lambda _m, _i, out: logits.append(out.detach()))
        for branch in head.cv3
    ]
    with torch.no_grad():
        for x in batches:
            net(x)
    for hook in hooks:
        hook.remove()
    flat = torch.cat([t.permute(1, 0, 2, 3).reshape(head.nc, -1) for t in logits], dim=1)
    threshold = torch.quantile(flat, quantile, dim=1)
    slope = logit_scale / flat.std(dim=1)
    with torch.no_grad():
        for branch in head.cv3:
            conv = branch[-1]
            conv.weight.mul_(slope[:, None, None, None])
            conv.bias.copy_(slope * (conv.bias - threshold) - logit_shift)
    return yolo


def export_onnx(yolo: Any, imgsz: tuple[int, int], target: Path, dynamic: bool = False) -> Path:
    """Export ``yolo`` to ONNX (opset 17, simplified) at ``imgsz``; with ``dynamic`` the
    input height and width (and batch) are dynamic, ``imgsz`` is the traced size."""
    import torch

    with pytest.MonkeyPatch.context() as env, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch's legacy ONNX exporter
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # Detect's shape check
        target.parent.mkdir(parents=True, exist_ok=True)
        env.chdir(target.parent)  # the exporter writes next to the current directory
        exported = yolo.export(
            format="onnx", opset=17, imgsz=list(imgsz), simplify=True, dynamic=dynamic, batch=1
        )
        exported = Path(exported).resolve()
    shutil.move(exported, target)
    return target


def encode(rgb: np.ndarray, fmt: str, **params) -> bytes:
    """Encode an array with Pillow (``fmt`` a Pillow format name)."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=fmt, **params)
    return buffer.getvalue()


def publish(
    version: str,
    onnx_path: Path,
    imgsz: tuple[int, int],
    sha256: str | None = None,
    upload_onnx: bool = True,
    dynamic: bool = False,
) -> ModelManifest:
    """Publish a model version to the moto bucket as the training job does."""
    manifest = ModelManifest(
        model_name=MODEL_NAME,
        version=version,
        sha256=sha256 or sha256_file(onnx_path),
        size_bytes=onnx_path.stat().st_size,
        class_names=CLASS_NAMES,
        imgsz=imgsz,
        dynamic=dynamic,
        mlflow_run_id=f"run-{version}",
        metrics={"mAP50": 0.5, "mAP50-95": 0.3},
    )
    s3 = boto3.client("s3")
    if upload_onnx:
        s3.upload_file(str(onnx_path), BUCKET, onnx_key(MODEL_NAME, version))
    s3.put_object(
        Bucket=BUCKET,
        Key=manifest_key(MODEL_NAME, version),
        Body=manifest.model_dump_json().encode(),
        ContentType="application/json",
    )
    return manifest


def set_alias(version: str) -> None:
    """Point the SSM alias at ``version`` (creates or overwrites the parameter)."""
    boto3.client("ssm").put_parameter(
        Name=ALIAS_PARAMETER, Value=version, Type="String", Overwrite=True
    )


def set_candidate(version: str | None, percent: float = 50.0) -> None:
    """Write the candidate (canary) parameter: ``version`` at ``percent``, or ``none``."""
    value = "none" if version is None else json.dumps({"version": version, "percent": percent})
    boto3.client("ssm").put_parameter(
        Name=CANDIDATE_PARAMETER, Value=value, Type="String", Overwrite=True
    )


def multipart_body(
    fields: dict[str, tuple[str | None, bytes, str | None]], boundary: str | None = None
) -> tuple[bytes, str]:
    """``name -> (filename, content, content_type)`` -> (body, Content-Type header).

    A part without a filename is a plain form field, as a browser sends it.
    """
    boundary = boundary or f"----pytest{uuid.uuid4().hex}"
    parts = []
    for name, (filename, content, content_type) in fields.items():
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        parts.append(head.encode() + b"\r\n" + content + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def rest_event(
    method: str,
    path: str,
    body: bytes | None = None,
    content_type: str | None = None,
    query: dict[str, str | list[str]] | None = None,
    base64_encoded: bool = True,
    request_id: str | None = None,
) -> dict:
    """An API Gateway REST (v1) proxy event, as ``sam local generate-event apigateway
    aws-proxy`` shapes it; a binary body is base64-encoded (``isBase64Encoded: true``), as
    API Gateway sends bodies of its ``BinaryMediaTypes``.
    """
    headers = {
        "Accept": "*/*",
        "Host": "abcdef1234.execute-api.us-east-1.amazonaws.com",
        "User-Agent": "curl/8.5.0",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Port": "443",
    }
    if content_type:
        headers["Content-Type"] = content_type
    if body is not None:
        headers["Content-Length"] = str(len(body))
    request_id = request_id or str(uuid.uuid4())
    multi_query = {k: v if isinstance(v, list) else [v] for k, v in (query or {}).items()}
    if body is None:
        encoded = None
    elif base64_encoded:
        encoded = base64.b64encode(body).decode()
    else:
        encoded = body.decode()
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "resourceId": "123456",
            "stage": "dev",
            "requestId": request_id,
            "requestTime": "09/Apr/2015:12:34:56 +0000",
            "requestTimeEpoch": 1428582896000,
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "curl/8.5.0"},
            "path": f"/dev{path}",
            "resourcePath": path,
            "httpMethod": method,
            "apiId": "abcdef1234",
            "protocol": "HTTP/1.1",
        },
        "body": encoded,
        "isBase64Encoded": base64_encoded and body is not None,
    }


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that Powertools reads."""

    function_name: str = "PredictFunction"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:PredictFunction"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/PredictFunction"
    log_stream_name: str = "2026/01/01/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000
