"""The predict function as ``sam build`` packages it for Lambda: function plus runtime layer.

Built once per module into a temporary folder, as ``make deploy`` builds it: the layer
(every third-party package, trimmed and compiled) by ``layers/runtime/Makefile``, the
function's own code (compiled) by ``functions/predict/Makefile``, both for python3.12. Then
the unzipped size is checked against the budget, and the built code runs under the
python3.12 runtime environment (``.venv-lambda-py312``: what the managed runtime ships) with
the function where Lambda puts it (``/var/task``) and the layer as ``/opt/python``, its
model published to a moto server: the handler answers ``GET /health``, a prediction for
every accepted image format exactly as in the development environment, and a 400 for what
is not an image; every module those requests loaded from the function or the layer came
with its bytecode.
"""

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto.server import ThreadedMotoServer

from predict.detector import Detector
from predict.images import decode_image
from tests.functions.predict import support
from tests.functions.predict.support import (
    ALIAS_PARAMETER,
    ASSETS,
    BUCKET,
    CLASS_NAMES,
    MODEL_NAME,
    REPO,
    RUNTIME_PYTHON,
    SQUARE_IMGSZ,
    encode,
    publish,
    rest_event,
    set_alias,
)

SIZE_BUDGET_MIB = 120
"""Function plus layer, unzipped (Lambda's own limit is 250 MiB)."""
FORMATS = {"JPEG": {"quality": 95}, "PNG": {}, "WEBP": {"lossless": True}, "BMP": {}}

RUNTIME_SCRIPT = """
import importlib.util, json, sys
from pathlib import Path
import predict.handler  # the Lambda entry point: FastAPI, Mangum, Powertools, boto3
import numpy, onnxruntime, PIL, fastapi

built, events = sys.argv[1], json.loads(Path(sys.argv[2]).read_text())
context = type("Context", (), {"aws_request_id": "test", "function_name": "PredictFunction",
    "memory_limit_in_mb": 1769, "invoked_function_arn": "arn:aws:lambda:::function:f",
    "get_remaining_time_in_millis": lambda self: 30000})()
out = {"python": sys.version.split()[0], "answers": {}}
for name, event in events.items():
    response = predict.handler.handler(event, context)
    out["answers"][name] = [response["statusCode"], json.loads(response["body"])]
modules = (numpy, onnxruntime, PIL, fastapi, predict.handler)
out["modules"] = {m.__name__: m.__file__ for m in modules}
loaded = [Path(m.__file__) for m in list(sys.modules.values()) if getattr(m, "__file__", None)]
from_build = [f for f in loaded if f.suffix == ".py" and f.is_relative_to(built)]
out["from_layer"] = sum(f.is_relative_to(Path(built, "RuntimeLayer")) for f in from_build)
out["without_bytecode"] = sorted(
    str(f) for f in from_build if not Path(importlib.util.cache_from_source(f)).is_file()
)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def sam_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sam build`` of template.yaml into a temporary folder (about 30 s on 2 cores)."""
    build_dir = tmp_path_factory.mktemp("sam_build")
    try:
        return support.sam_build(build_dir / "build", build_dir / "cache")
    except FileNotFoundError as missing:  # no SAM CLI or no python3.12
        pytest.skip(str(missing))


def _size_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


def test_function_and_layer_fit_the_size_budget(sam_build: Path) -> None:
    function = _size_bytes(sam_build / "PredictFunction")
    layer = _size_bytes(sam_build / "RuntimeLayer")
    print(f"unzipped: function {function / 2**20:.1f} MiB, layer {layer / 2**20:.1f} MiB")
    assert (sam_build / "RuntimeLayer" / "python" / "onnxruntime").is_dir()
    assert (function + layer) / 2**20 <= SIZE_BUDGET_MIB


@pytest.fixture
def published_to_moto(
    onnx_models, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[dict[str, str]]:
    """The square test model published and aliased on a moto server (S3 + SSM) on loopback;
    yields the function's environment variables that point it there."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        credentials = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
        credentials["AWS_DEFAULT_REGION"] = "us-east-1"
        for name, value in (credentials | {"AWS_ENDPOINT_URL": endpoint}).items():
            monkeypatch.setenv(name, value)
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        publish("1", onnx_models[SQUARE_IMGSZ], SQUARE_IMGSZ)
        set_alias("1")
        yield credentials | {
            "PREDICT_AWS_ENDPOINT_URL": endpoint,
            "PREDICT_MODELS_BUCKET": BUCKET,
            "PREDICT_MODEL_NAME": MODEL_NAME,
            "PREDICT_ALIAS_PARAMETER": ALIAS_PARAMETER,
            "PREDICT_CACHE_DIR": str(tmp_path / "models"),
        }
    finally:
        server.stop()


def test_built_package_serves_under_the_python312_runtime(
    sam_build: Path, onnx_models, published_to_moto: dict[str, str], tmp_path: Path
) -> None:
    if not RUNTIME_PYTHON.is_file():
        pytest.skip("needs .venv-lambda-py312 (make setup)")
    rgb = decode_image((ASSETS / "bus.jpg").read_bytes())
    images = {fmt: encode(rgb, fmt, **params) for fmt, params in FORMATS.items()}
    events = {
        fmt: rest_event("POST", "/predict", data, f"image/{fmt.lower()}")
        for fmt, data in images.items()
    }
    events["health"] = json.loads((REPO / "events" / "health.json").read_text())
    events["not an image"] = rest_event("POST", "/predict", b"not an image", "image/jpeg")
    events_file = tmp_path / "events.json"
    events_file.write_text(json.dumps(events))
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.pathsep.join(
            [str(sam_build / "PredictFunction"), str(sam_build / "RuntimeLayer" / "python")]
        ),
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",  # as read-only /var/task and /opt
    } | published_to_moto
    done = subprocess.run(
        [RUNTIME_PYTHON, "-c", RUNTIME_SCRIPT, sam_build, events_file],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["python"].startswith("3.12.")
    assert result["from_layer"] > 100
    # Lambda cannot write bytecode to /var/task or /opt: what the requests load must come
    # compiled (the layer's: add them to compile_imported.MODULES).
    assert result["without_bytecode"] == []
    for name, file in result["modules"].items():
        assert Path(file).is_relative_to(sam_build), f"{name} imported from {file}"
    answers = result["answers"]
    assert answers["health"][0] == 200
    status, body = answers["not an image"]
    assert status == 400 and "not a JPEG, PNG, WebP or BMP image" in body["detail"], body
    detector = Detector(onnx_models[SQUARE_IMGSZ], CLASS_NAMES, SQUARE_IMGSZ)
    for fmt, data in images.items():
        status, body = answers[fmt]
        assert status == 200, (fmt, body)
        expected = [
            [d.class_id, d.confidence, *d.box] for d in detector.predict(decode_image(data))
        ]
        served = [[d["class_id"], d["confidence"], *d["box"]] for d in body["detections"]]
        assert len(served) == len(expected) > 0, fmt
        np.testing.assert_allclose(served, expected, atol=1e-4, err_msg=fmt)
